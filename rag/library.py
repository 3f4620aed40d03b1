"""The document library: add files to a corpus folder, remove them, and list what is indexed.

The corpus folder is the one source of truth: adding copies a file into it (its content checked
first: type sniffed, size limit, readable), removing deletes it, and the index follows the folder
(``Chatbot.refresh``, ``rag index``). Identity is the content hash: adding bytes the folder already
holds is reported as a duplicate and copies nothing, whatever the file is called.

Removing never deletes: the file moves into the trash folder of the data folder
(``DATA_DIR/trash/<time>-<id>/``, with an ``entry.json`` naming the corpus folder and the file's
path in it), and ``restore_document`` (``rag restore NAME``) moves the latest removal of that name
back. One lock per corpus folder (``library_lock``) is held around the check and the move, so two
sessions removing at once cannot both act on a state that one of them has just changed. Removing
the last document is allowed: an empty corpus is a valid state.

Used by the CLI (``rag add``, ``rag remove``, ``rag restore``, ``rag docs``) and by the chat's
upload and remove controls; it does not index (see ``rag.index``) and does not serve.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.documents import CorpusError, corpus_files, load_document

SAFE_NAME_RE = re.compile(r"[^\w.\- ]+")
EXTENSION = {"pdf": ".pdf", "docx": ".docx", "html": ".html", "markdown": ".md", "text": ".txt"}


@dataclass
class Added:
    name: str  # the file's name in the corpus folder (or the one it duplicates)
    status: str  # "added", "duplicate" or "error"
    message: str
    kind: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def safe_name(name: str, kind: str) -> str:
    """A plain file name for the corpus folder: no folders, no hidden files, the type's suffix."""
    base = Path(name.replace("\\", "/")).name
    base = SAFE_NAME_RE.sub("_", base).strip(" .") or "document"
    stem, suffix = os.path.splitext(base)
    want = EXTENSION.get(kind, suffix)
    if suffix.lower() not in (want, ".htm", ".xhtml", ".markdown") or (
        kind == "html" and suffix.lower() not in (".html", ".htm", ".xhtml")
    ):
        suffix = want
    return f"{stem[:120] or 'document'}{suffix}"


def _hashes(corpus_dir: Path) -> dict[str, str]:
    """sha256 -> name of every document file in the folder (links resolved)."""
    out = {}
    for path in corpus_files(corpus_dir):
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
        out.setdefault(digest, path.relative_to(corpus_dir).as_posix())
    return out


def check_writable(corpus_dir: Path) -> None:
    """The bundled profile (package data) is never changed: adding or removing needs a folder of
    the user's own."""
    from rag.settings import BUNDLED_CORPUS

    if Path(corpus_dir).resolve() == BUNDLED_CORPUS.resolve():
        raise CorpusError(
            "the bundled profile is read-only: pass --corpus FOLDER (your own documents, or a copy "
            "of the profile) to add or remove documents"
        )


def add_file(
    corpus_dir: Path,
    source: Path,
    name: str | None = None,
    max_bytes: int | None = None,
    cache_dir: Path | None = None,
) -> Added:
    """Check ``source`` and copy it into ``corpus_dir`` (as ``name``); never raises for a bad file.
    With ``cache_dir`` (the index's extraction cache) the text read for the check is kept, so the
    build that follows does not parse the file again."""
    corpus_dir, source = Path(corpus_dir), Path(source)
    shown = name or source.name
    try:
        check_writable(corpus_dir)
        if not source.is_file():
            raise CorpusError(
                f"{source}: no such file; pass a PDF, Word, HTML, markdown or text file"
            )
        size = source.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise CorpusError(
                f"{shown}: {size / 2**20:.1f} MiB is over the {max_bytes / 2**20:g} MiB limit "
                "for one file; split it, or compress its images"
            )
        with tempfile.TemporaryDirectory() as tmp:
            # read it as the corpus would, under its final kind of name, before it goes in
            probe = Path(tmp) / Path(shown).name
            shutil.copyfile(source, probe)
            doc = load_document(probe, Path(tmp), cache_dir)
        if not doc.text.strip():
            raise CorpusError(f"{shown}: holds no text; nothing to index")
    except CorpusError as exc:
        message = str(exc).replace(str(Path(tempfile.gettempdir())), "").lstrip("/")
        if message.startswith("the bundled profile"):
            return Added(shown, "error", f"{shown}: {message}")
        return Added(shown, "error", _named(message, shown))
    corpus_dir.mkdir(parents=True, exist_ok=True)
    existing = _hashes(corpus_dir)
    if doc.sha256 in existing:
        return Added(
            existing[doc.sha256],
            "duplicate",
            f"{shown}: the same content is already in the library as {existing[doc.sha256]}",
            doc.kind,
        )
    target = corpus_dir / safe_name(shown, doc.kind)
    n = 2
    while target.exists() or target.is_symlink():
        stem, suffix = os.path.splitext(safe_name(shown, doc.kind))
        target = corpus_dir / f"{stem}-{n}{suffix}"
        n += 1
    tmp_target = corpus_dir / f".{target.name}.{os.getpid()}.part"
    shutil.copyfile(source, tmp_target)
    os.replace(tmp_target, target)  # appears whole, never half-written
    n = len(doc.pages or [])
    pages = f", {n} page{'' if n == 1 else 's'}" if n else ""
    return Added(target.name, "added", f"{target.name}: added ({doc.kind}{pages})", doc.kind)


def _named(message: str, shown: str) -> str:
    """One line that starts with the name the user knows (not a temporary path)."""
    _, sep, rest = message.partition(": ")
    return f"{shown}: {rest}" if sep else f"{shown}: {message}"


def resolve_name(corpus_dir: Path, name: str) -> Path:
    """The corpus file called ``name`` (its path in the folder, or its bare file name)."""
    corpus_dir = Path(corpus_dir)
    files = corpus_files(corpus_dir)
    rel = {p.relative_to(corpus_dir).as_posix(): p for p in files}
    if name in rel:
        return rel[name]
    by_name = [p for p in files if p.name == name]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        raise CorpusError(
            f"{name}: more than one document has this name ({', '.join(sorted(str(p.relative_to(corpus_dir)) for p in by_name))}); "
            "give its path in the corpus folder"
        )
    known = ", ".join(sorted(rel)[:10]) or "none"
    raise CorpusError(
        f"{name}: no such document in {corpus_dir} (documents: {known}); see `rag docs`"
    )


def library_lock(lock_dir: Path):
    """The lock around a check and a change of one corpus folder (removal, restore)."""
    from filelock import FileLock

    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_dir / ".library.lock"))


def remove_document(
    corpus_dir: Path, name: str, trash_dir: Path | None = None, owner: str | None = None
) -> str:
    """Move the document ``name`` from the corpus folder into ``trash_dir`` (deleted outright only
    when no trash folder is given); returns its path in the folder. Under ``library_lock``."""
    check_writable(corpus_dir)
    corpus_dir = Path(corpus_dir)
    lock_dir = trash_dir if trash_dir is not None else corpus_dir
    with library_lock(lock_dir):
        path = resolve_name(corpus_dir, name)
        rel = path.relative_to(corpus_dir).as_posix()
        if trash_dir is None:
            path.unlink()
            return rel
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        entry = Path(trash_dir) / f"{stamp}-{uuid.uuid4().hex[:8]}"
        (entry / rel).parent.mkdir(parents=True, exist_ok=True)
        info = {"corpus": str(corpus_dir.resolve()), "path": rel, "removed": stamp}
        if owner:
            info["removed_by"] = owner
        (entry / "entry.json").write_text(json.dumps(info))
        shutil.move(path, entry / rel)  # a rename, or a copy when on another file system
    return rel


def trash_entries(trash_dir: Path, corpus_dir: Path) -> list[dict]:
    """The removals of ``corpus_dir`` still in the trash, newest first: path, removed, folder."""
    corpus = str(Path(corpus_dir).resolve())
    out = []
    for entry in sorted(Path(trash_dir).glob("*/entry.json"), reverse=True):
        try:
            info = json.loads(entry.read_text())
        except (OSError, ValueError):
            continue
        if info.get("corpus") == corpus and (entry.parent / info.get("path", "?")).is_file():
            out.append({**info, "folder": str(entry.parent)})
    return out


def restore_document(trash_dir: Path, corpus_dir: Path, name: str) -> str:
    """Move the latest removal of ``name`` (its path or file name) back into the corpus folder;
    returns its path there. Refuses when a file of that name is back in the folder already."""
    check_writable(corpus_dir)
    corpus_dir = Path(corpus_dir)
    with library_lock(trash_dir):
        entries = trash_entries(trash_dir, corpus_dir)
        match = [e for e in entries if e["path"] == name or Path(e["path"]).name == name]
        if not match:
            known = ", ".join(sorted({e["path"] for e in entries})[:10]) or "none"
            raise CorpusError(
                f"{name}: not in the trash of {corpus_dir} (removed documents: {known})"
            )
        entry = match[0]
        target = corpus_dir / entry["path"]
        if target.exists():
            raise CorpusError(
                f"{entry['path']}: a file of this name is in the corpus folder again; rename or "
                "remove it first"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(Path(entry["folder"]) / entry["path"], target)
        shutil.rmtree(entry["folder"], ignore_errors=True)
    return entry["path"]


def document_rows(manifest: dict, scan=None) -> list[dict]:
    """One row per document the index holds (and per file it could not read): name, type (the
    record's, else the reader's), reader, title, entity, aliases, period, pages, sections,
    chunks, when indexed, and a status."""
    rows = []
    for name, info in sorted(manifest.get("documents", {}).items()):
        rows.append(
            {
                "name": name,
                "type": info.get("type") or info.get("kind", ""),
                "reader": info.get("kind", ""),
                "title": info.get("title", ""),
                "entity": info.get("entity", ""),
                "aliases": list(info.get("aliases") or []),
                "period": info.get("period", ""),
                "pages": info.get("n_pages") or None,
                "sections": info.get("n_sections", 0),
                "chunks": info.get("n_chunks", 0),
                "indexed": info.get("indexed", manifest.get("created", "")),
                "status": "indexed",
            }
        )
    for name, message in sorted(manifest.get("problems", {}).items()):
        rows.append({"name": name, "type": "", "pages": None, "sections": 0, "chunks": 0,
                     "indexed": "", "status": "error: " + message.split(": ", 1)[-1]})  # fmt: skip
    for name, kept in sorted(manifest.get("duplicates", {}).items()):
        rows.append({"name": name, "type": "", "pages": None, "sections": 0, "chunks": 0,
                     "indexed": "", "status": f"same content as {kept}"})  # fmt: skip
    return rows
