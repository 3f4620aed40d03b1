"""Safe uploads: ``UploadGuard`` in front of Gradio's upload route, and the chat's library actions.

Gradio's ``/gradio_api/upload`` takes any file of any size from anyone who can reach the server
(even from another site's page, since a form POST needs no CORS preflight), and leaves the files
in its temporary folder. ``UploadGuard`` (an ASGI middleware) answers before Gradio sees a byte:

* **origin**: a request whose ``Origin`` is not this server's host is refused (403);
* **size**: a body over ``max_files`` x the per-file limit is refused from its Content-Length
  (413), a chunked body as soon as it passes the limit; each file over the per-file limit is 413;
* **streamed to disk**: the body is never held in memory: it is written to a spool file in the
  server's upload folder while a streaming multipart parser counts each file (each file's bytes
  go to an unlinked temporary file for the type check), then handed to Gradio from disk in
  64 KiB pieces. Every temporary file is removed on every exit path (refused, cut off, passed);
* **types**: each file is sniffed by content (``rag.readers.sniff``): anything but PDF, Word
  (.docx), HTML, markdown or UTF-8 text is refused (415) naming the file;
* **quota**: each user (the login name, or the client address without a login) may upload
  ``quota_bytes`` in all while the server runs, and all users together ``total_quota_bytes``
  (429 beyond either). The declared size is counted *before* the body is read, so concurrent
  uploads cannot all pass the check first; a refused upload gives its bytes back;
* **login**: under ``--auth`` Gradio's own check refuses an upload without a session (401).

Files that pass land in a private temporary folder for this server (``upload_dir``), are copied
into the corpus folder by ``add_uploads`` and deleted at once (with their folder); files never
added are deleted after 15 minutes, and the folder when the server stops, SIGTERM included. The library actions (``add_uploads``, ``remove``, ``document_rows``) are plain functions:
tests call them without Gradio.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rag.documents import CorpusError
from rag.library import Added, add_file, document_rows, remove_document
from rag.readers import ReadError, sniff
from ui.guard import reply_json

UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
ALLOWED_SUFFIXES = [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"]
MAX_FILES = 10  # files in one upload request


class UploadGuard:
    """ASGI middleware for the upload route (see the module docstring)."""

    def __init__(
        self,
        app,
        *,
        max_file_bytes: int,
        quota_bytes: int,
        max_files: int = MAX_FILES,
        total_quota_bytes: int | None = None,
        spool_dir: str | Path | None = None,
        closed: str | None = None,
    ):
        self.app = app
        self.closed = closed  # why this chat takes no documents (``ui.app.library_note``)
        self.max_file_bytes = max_file_bytes
        self.quota_bytes = quota_bytes
        self.total_quota_bytes = total_quota_bytes  # all users together; None: no limit
        self.max_files = max_files
        self.spool_dir = spool_dir  # where a body is spooled while it is checked (None: tmp)
        self.used: dict[str, int] = {}
        self.total = 0
        self.lock = threading.Lock()

    def _reserve(self, user: str, size: int) -> bool:
        """Count ``size`` bytes against the user's and the server's quota before they are read
        (so concurrent uploads cannot all pass the check first); False when over either."""
        with self.lock:
            if self.used.get(user, 0) + size > self.quota_bytes:
                return False
            if self.total_quota_bytes is not None and self.total + size > self.total_quota_bytes:
                return False
            self.used[user] = self.used.get(user, 0) + size
            self.total += size
            return True

    def _release(self, user: str, size: int) -> None:
        with self.lock:
            self.used[user] = max(0, self.used.get(user, 0) - size)
            self.total = max(0, self.total - size)

    def _over_quota(self, user: str) -> str:
        with self.lock:
            mine = self.used.get(user, 0)
        if self.total_quota_bytes is not None and mine < self.quota_bytes:
            return (
                f"upload quota reached: the server takes {self.total_quota_bytes / 2**20:g} MiB "
                "of uploads in all while it runs; ask the operator to raise "
                "RAG_UPLOAD_TOTAL_QUOTA_MB or to restart it"
            )
        return _over_quota(self.quota_bytes)

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
        if self.closed:
            return await reply_json(send, 403, self.closed)
        user = _user(scope, headers)
        limit = self.max_files * self.max_file_bytes + 2**16  # files plus multipart headers
        declared = headers.get(b"content-length")
        size = None
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return await reply_json(send, 400, "bad Content-Length header")
            if size > limit:
                return await reply_json(
                    send, 413, _too_large("the upload", size, self.max_file_bytes)
                )
        reserved = size if size is not None else limit
        if not self._reserve(user, reserved):
            return await reply_json(send, 429, self._over_quota(user))
        import tempfile

        spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in the finally below
            dir=self.spool_dir, prefix="body-", suffix=".part", delete=False
        )
        kept = False
        try:
            problem = await self._spool(receive, spool, headers, limit)
            got = spool.tell()
            if problem is None:
                kept = True
                self._release(user, reserved - got)  # what was reserved but not sent
                return await self.app(scope, _replay_file(spool, receive), send)
            return await reply_json(send, problem[0], problem[1])
        finally:
            if not kept:
                self._release(user, reserved)
            spool.close()
            Path(spool.name).unlink(missing_ok=True)

    async def _spool(self, receive, spool, headers, limit):
        """Read the body onto disk, parsing its parts as they stream (each file's size counted,
        its first bytes and, for a small file, the whole of it kept for the type check). Returns
        (status, message) of a refusal, or None when the body may go on to Gradio."""
        parser, files = _part_parser(headers.get(b"content-type", b""))
        if parser is None:
            return 400, "an upload must be multipart/form-data"
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return 400, "the upload was cut off"
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                return 413, _too_large("the upload", None, self.max_file_bytes)
            spool.write(chunk)
            try:
                parser.write(chunk)
            except Exception:  # noqa: BLE001 - python-multipart's parse errors
                return 400, "the upload body is not valid multipart/form-data"
            for f in files:
                if f.size > self.max_file_bytes:
                    return 413, _too_large(f.name, f.size, self.max_file_bytes)
            if len(files) > self.max_files:
                return 413, f"at most {self.max_files} files per upload"
            if not message.get("more_body"):
                break
        try:
            parser.finalize()
        except Exception:  # noqa: BLE001
            return 400, "the upload body is not valid multipart/form-data"
        spool.flush()
        for f in files:
            problem = check_type(f.name, f.read())
            f.close()
            if problem:
                return 415, problem
        return None


class _Part:
    """One file of a multipart body as it streams: its name, size, and its bytes on disk."""

    def __init__(self, name: str, spool_dir=None):
        import tempfile

        self.name = name
        self.size = 0
        self.file = tempfile.TemporaryFile(dir=spool_dir)  # gone when closed, whatever happens

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.file.write(data)

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()


def _part_parser(content_type: bytes):
    """A streaming multipart parser and the list of file parts it fills; (None, []) when the
    content type is not multipart/form-data with a boundary."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        return None, []
    files: list[_Part] = []
    state: dict = {"field": b"", "value": b"", "headers": {}, "part": None}

    def on_part_begin():
        state["headers"], state["part"] = {}, None

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        _, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = opts.get(b"filename")
        if name is not None:
            shown = Path(name.decode("utf-8", "replace").replace("\\", "/")).name or "upload"
            state["part"] = _Part(shown)
            files.append(state["part"])

    def on_part_data(data, start, end):
        if state["part"] is not None:
            state["part"].write(data[start:end])

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
    }
    return MultipartParser(boundary, callbacks), files


def _replay_file(spool, receive, chunk_size: int = 2**16):
    """A ``receive`` that hands the app the spooled body in chunks, then the connection's other
    messages: the body is never held in memory whole."""
    spool.flush()
    spool.seek(0)
    done = False

    async def replay():
        nonlocal done
        if not done:
            chunk = spool.read(chunk_size)
            more = len(chunk) == chunk_size
            if not more:
                done = True
            return {"type": "http.request", "body": chunk, "more_body": more}
        return await receive()

    return replay


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


def owners_path(settings) -> Path:
    """Who added each document through the chat under a login (``{name: user}``), per corpus."""
    index_dir = settings.index_dir()
    return index_dir.with_name(index_dir.name + ".owners.json")


def owners(settings) -> dict[str, str]:
    import json

    try:
        data = json.loads(owners_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _set_owners(settings, changes: dict[str, str | None]) -> None:
    import json

    from rag.atomic import write_atomic
    from rag.library import library_lock

    path = owners_path(settings)
    with library_lock(path.parent):
        current = owners(settings)
        for name, user in changes.items():
            if user:
                current[name] = user
            else:
                current.pop(name, None)
        write_atomic(path, json.dumps(current, indent=1, sort_keys=True))


def add_uploads(
    bot,
    paths: list[str],
    names: list[str] | None = None,
    user: str | None = None,
    on_progress=None,
) -> list[Added]:
    """Copy uploaded temporary files into the corpus folder (deleting each temporary file), then
    bring the index up to date. Other sessions keep answering from the current index meanwhile.
    ``user`` (the login name) is recorded as the owner of each document added;
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
            _remove_empty_parent(path)
    if user and any(r.status == "added" for r in results):
        _set_owners(s, {r.name: user for r in results if r.status == "added"})
    if any(r.status == "added" for r in results):
        bot.refresh(wait=True, on_progress=on_progress)
    return results


def remove(bot, name: str, user: str | None = None) -> str:
    """Move a document from the corpus folder into the trash and drop it from the index; returns
    a one-line message. Under a login, a document someone added can be removed only by them."""
    s = bot.settings
    if user:
        owner = owners(s).get(name)
        if owner and owner != user:
            raise CorpusError(f"{name}: was added by {owner}; only they can remove it")
    removed = remove_document(s.corpus_dir, name, s.trash_dir(), owner=user)
    if user:
        _set_owners(s, {removed: None})
    bot.refresh(wait=True)
    return f"removed {removed} (`rag restore {removed}` brings it back)"


def rows(bot) -> list[dict]:
    """The document list of the page, with who added each document under a login ("owner");
    empty for a bot without an index (a test double)."""
    index = getattr(bot, "index", None)
    if index is None:
        return []
    out = document_rows(index.manifest)
    settings = getattr(bot, "settings", None)
    added_by = owners(settings) if settings is not None else {}
    for row in out:
        row["owner"] = added_by.get(row["name"], "")
    return out


def _remove_empty_parent(path: Path) -> None:
    """Gradio puts each upload in a folder of its own: remove it once empty (inside a private
    upload folder only)."""
    parent = path.parent
    if parent.name and parent.parent.name.startswith("rag-uploads-"):
        try:
            parent.rmdir()
        except OSError:
            pass


def clean_on_sigterm(folder: Path) -> None:
    """On SIGTERM, remove ``folder`` and exit (143), chaining to a handler set before; a process
    killed by SIGTERM runs no ``atexit`` hook, so the upload folder would outlive it. Only the
    main thread can set a handler: elsewhere this does nothing."""
    import shutil
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        shutil.rmtree(folder, ignore_errors=True)
        if callable(previous) and previous not in (signal.SIG_IGN, signal.SIG_DFL):
            return previous(signum, frame)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)


def private_upload_dir() -> Path:
    """A temporary folder for this server's uploads, removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="rag-uploads-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder
