"""Safe uploads: ``UploadGuard`` in front of Gradio's upload route, and the chat's library actions.

Gradio's ``/gradio_api/upload`` takes any file of any size from anyone who can reach the server
(even from another site's page, since a form POST needs no CORS preflight), and leaves the files
in its temporary folder. ``UploadGuard`` (an ASGI middleware) answers before Gradio sees a byte:

* **origin**: a request whose ``Origin`` is not this server's host is refused (403);
* **size**: a body over ``max_files`` x the per-file limit is refused from its Content-Length
  (413), a chunked body as soon as it passes the limit; each file over the per-file limit is 413;
* **types**: each file is sniffed by content (``rag.readers.sniff``): anything but PDF, Word
  (.docx), HTML, markdown or UTF-8 text is refused (415) naming the file;
* **quota**: each user (the login name, or the client address without a login) may upload
  ``quota_bytes`` in all while the server runs (429 beyond);
* **login**: under ``--auth`` Gradio's own check refuses an upload without a session (401).

Files that pass land in a private temporary folder for this server (``upload_dir``), are copied
into the corpus folder by ``add_uploads`` and deleted at once; the folder is removed when the server
stops. The library actions (``add_uploads``, ``remove``, ``document_rows``) are plain functions:
tests call them without Gradio.
"""

from __future__ import annotations

import threading
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

from rag.documents import CorpusError
from rag.library import Added, add_file, document_rows, remove_document
from rag.readers import ReadError, sniff
from ui.guard import read_body, replay_body, reply_json

UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
ALLOWED_SUFFIXES = [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"]
MAX_FILES = 10  # files in one upload request


class UploadGuard:
    """ASGI middleware for the upload route (see the module docstring)."""

    def __init__(self, app, *, max_file_bytes: int, quota_bytes: int, max_files: int = MAX_FILES):
        self.app = app
        self.max_file_bytes = max_file_bytes
        self.quota_bytes = quota_bytes
        self.max_files = max_files
        self.used: dict[str, int] = {}
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        path = scope.get("path") or ""
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope["type"] != "http" or not path.rstrip("/").endswith(UPLOAD_PATHS):
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers") or []}
        origin = headers.get(b"origin")
        host = headers.get(b"host", b"")
        if origin is not None and origin.split(b"://", 1)[-1].rstrip(b"/") != host:
            return await reply_json(
                send, 403, "uploads are accepted only from this chat's own page"
            )
        user = _user(scope, headers)
        limit = self.max_files * self.max_file_bytes
        with self.lock:
            left = self.quota_bytes - self.used.get(user, 0)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return await reply_json(send, 400, "bad Content-Length header")
            if size > limit:
                return await reply_json(
                    send, 413, _too_large("the upload", size, self.max_file_bytes)
                )
            if size > left:
                return await reply_json(send, 429, _over_quota(self.quota_bytes))
        body, too_large = await read_body(receive, min(limit, max(left, 0)) + 1)
        if too_large:
            if len(body) > left:
                return await reply_json(send, 429, _over_quota(self.quota_bytes))
            return await reply_json(send, 413, _too_large("the upload", None, self.max_file_bytes))
        try:
            files = _files(headers.get(b"content-type", b""), body)
        except ValueError as exc:
            return await reply_json(send, 400, str(exc))
        if len(files) > self.max_files:
            return await reply_json(send, 413, f"at most {self.max_files} files per upload")
        for name, data in files:
            if len(data) > self.max_file_bytes:
                return await reply_json(send, 413, _too_large(name, len(data), self.max_file_bytes))
            problem = check_type(name, data)
            if problem:
                return await reply_json(send, 415, problem)
        with self.lock:
            if self.used.get(user, 0) + len(body) > self.quota_bytes:
                return await reply_json(send, 429, _over_quota(self.quota_bytes))
            self.used[user] = self.used.get(user, 0) + len(body)
        return await self.app(scope, replay_body(body, receive), send)


def check_type(name: str, data: bytes) -> str | None:
    """Why ``data`` may not be uploaded (one line), or None when it is an allowed type."""
    try:
        kind = sniff(data, name)
    except ReadError as exc:
        return f"{name}: {exc}"
    if kind in ("markdown", "text"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return (
                f"{name}: is an unsupported type (not PDF, Word, HTML or UTF-8 text); "
                "add a PDF, .docx, HTML, markdown or text file"
            )
        if "\x00" in text:
            return f"{name}: is binary data of an unsupported type; add a PDF, .docx, HTML, markdown or text file"
    return None


def _files(content_type: bytes, body: bytes) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each file part of a multipart/form-data body."""
    if not content_type.lower().startswith(b"multipart/form-data"):
        raise ValueError("an upload must be multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ValueError("the upload body is not valid multipart/form-data")
    out = []
    for part in message.iter_parts():
        name = part.get_filename()
        if name is None:
            continue
        out.append(
            (Path(name.replace("\\", "/")).name or "upload", part.get_payload(decode=True) or b"")
        )
    return out


def _user(scope, headers: dict) -> str:
    """The login name behind the request's session cookie, else the client address."""
    app = scope.get("app")
    tokens = getattr(app, "tokens", None) or {}
    cookies = {}
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        cookies[key] = value
    for key, value in cookies.items():
        if key.startswith("access-token") and value in tokens:
            return f"user:{tokens[value]}"
    return f"addr:{(scope.get('client') or ('?', 0))[0]}"


def _too_large(what: str, size: int | None, limit: int) -> str:
    got = f" ({size / 2**20:.1f} MiB)" if size is not None else ""
    return (
        f"{what}{got} is over the {limit / 2**20:g} MiB limit per file; split it into smaller files"
    )


def _over_quota(quota: int) -> str:
    return (
        f"upload quota reached: each user may upload {quota / 2**20:g} MiB while the server runs; "
        "remove documents you no longer need or ask the operator to raise RAG_UPLOAD_QUOTA_MB"
    )


# ---- library actions (called by the page) ---------------------------------------------------------


def add_uploads(
    bot, paths: list[str], names: list[str] | None = None, on_progress=None
) -> list[Added]:
    """Copy uploaded temporary files into the corpus folder (deleting each temporary file), then
    bring the index up to date. Other sessions keep answering from the current index meanwhile.
    ``on_progress(done, total)`` hears the build's progress in texts embedded."""
    s = bot.settings
    cache = bot.store().cache_dir
    results = []
    for i, p in enumerate(paths or []):
        path = Path(p)
        name = names[i] if names and i < len(names) else path.name
        try:
            results.append(
                add_file(
                    s.corpus_dir,
                    path,
                    name=name,
                    max_bytes=int(s.upload_max_mb * 2**20),
                    cache_dir=cache,
                )
            )
        finally:
            path.unlink(missing_ok=True)
    if any(r.status == "added" for r in results):
        bot.refresh(wait=True, on_progress=on_progress)
    return results


def remove(bot, name: str) -> str:
    """Delete a document from the corpus folder and the index; returns a one-line message."""
    rows = [r for r in document_rows(bot.index.manifest) if r["status"] == "indexed"]
    if len(rows) <= 1 and any(r["name"] == name for r in rows):
        raise CorpusError(f"{name}: is the only document; add another before removing it")
    removed = remove_document(bot.settings.corpus_dir, name)
    bot.refresh(wait=True)
    return f"removed {removed}"


def rows(bot) -> list[dict]:
    """The document list of the page; empty for a bot without an index (a test double)."""
    index = getattr(bot, "index", None)
    return document_rows(index.manifest) if index is not None else []


def private_upload_dir() -> Path:
    """A temporary folder for this server's uploads, removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="rag-uploads-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder
