"""Documents and sections: read a corpus folder, split each markdown file into sections.

A section is the text under one heading, up to the next heading of any level. It knows its
document, its heading path (``SenseTime > Key Products & Foundation Models > Core Platforms``), the
1-based line range and the offsets of its body, and an ordinal that tells apart two sections with the
same heading path (the profile repeats one heading).

Offsets: ``char_start``/``char_end`` (here and in chunks, units and citations) index
``Document.text``, the file decoded as UTF-8 with a byte-order mark dropped and every line end
(CRLF, CR) made ``\n``; ``byte_start``/``byte_end`` index the file as stored, in bytes
(``Document.byte_offset`` converts). Lines end at ``\n`` only: a form feed or another Unicode line
separator inside a line does not start a new line (nor a heading).

One document may be at most ``MAX_FILE_BYTES`` (8 MiB, some 400 times the bundled profile): indexing
costs grow with document size (about a minute per MiB with the bundled model on two CPU cores), so a
larger file is refused with a message asking to split it. Links that leave the corpus folder, broken
or looping links and anything that is not a regular file (a pipe would block the read) are refused.

Files are read by ``rag.readers``, which picks a reader from the content (markdown, text, PDF,
Word, HTML). ``scan_corpus`` reads every document it can and names each one it cannot (one line,
with the fix) instead of giving up on the folder; two files with the same content (a copy, or a link
to a file in the folder) are one document, kept under the first name that is not a link.

This module reads files and finds structure; it does not chunk, clean or repair text.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from rag.readers import DOC_SUFFIXES as SUFFIXES
from rag.readers import SANDBOXED, ReadError, sniff

HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
MAX_FILE_BYTES = 8 * 1024 * 1024  # per document; see the module docstring


def split_lines(text: str) -> list[str]:
    """``text`` cut after each ``\n`` (ends kept); unlike ``str.splitlines``, a form feed, vertical
    tab or U+2028 stays inside its line."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


class CorpusError(ValueError):
    """The corpus cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class Document:
    doc_id: str  # path relative to the corpus folder, with forward slashes
    path: Path
    text: str
    sha256: str
    bom: bool = False  # the file starts with a UTF-8 byte-order mark (dropped from ``text``)
    crlf: tuple[int, ...] = ()  # offsets in ``text`` of each "\n" that is "\r\n" in the file
    kind: str = "markdown"  # the reader that produced ``text`` (see rag.readers.KINDS)
    pages: tuple[int, ...] = ()  # char offset in ``text`` where each page starts (PDF)
    size: int = 0  # bytes and modification time of the file when it was read
    mtime_ns: int = 0

    def page_of(self, offset: int) -> int | None:
        """1-based page of a character offset of ``text``; None for a document without pages."""
        return page_of(self.pages, offset)

    @property
    def lines(self) -> list[str]:
        return split_lines(self.text)

    @cached_property
    def _byte_marks(self) -> list[int]:
        """UTF-8 length of ``text[: i * 4096]`` for each i (for ``byte_offset``)."""
        if self.text.isascii():
            return []
        marks, total = [0], 0
        for i in range(0, len(self.text), 4096):
            total += len(self.text[i : i + 4096].encode("utf-8", "surrogatepass"))
            marks.append(total)
        return marks

    def byte_offset(self, offset: int) -> int:
        """The byte offset in the file as stored of character ``offset`` of ``text``."""
        if self._byte_marks:
            block = offset // 4096
            head = self._byte_marks[block] + len(
                self.text[block * 4096 : offset].encode("utf-8", "surrogatepass")
            )
        else:
            head = offset
        return head + 3 * self.bom + bisect.bisect_left(self.crlf, offset)

    @cached_property
    def _newlines(self) -> list[int]:
        return [m.start() for m in re.finditer("\n", self.text)]

    def line_of(self, offset: int) -> int:
        """1-based line number of a character offset (binary search, not a scan)."""
        return bisect.bisect_left(self._newlines, offset) + 1


@dataclass(frozen=True)
class Section:
    doc_id: str
    heading_path: tuple[str, ...]
    ordinal: (
        int  # 1 for the first section with this heading path in the document, 2 for the next...
    )
    level: int  # heading level, 0 for text before the first heading
    line_start: int  # 1-based, first line of the body (the line after the heading)
    line_end: int  # 1-based, inclusive; line_end < line_start for an empty body
    char_start: int  # offsets of the body in Document.text (normalised: see the module docstring)
    char_end: int
    text: str  # Document.text[char_start:char_end]
    byte_start: int = -1  # offsets of the body in the file as stored, in bytes
    byte_end: int = -1

    @property
    def section_id(self) -> str:
        suffix = f"#{self.ordinal}" if self.ordinal > 1 else ""
        return f"{self.doc_id}::{' > '.join(self.heading_path)}{suffix}"

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        d["section_id"] = self.section_id
        return d


def clean_heading(raw: str) -> str:
    """Heading text without markdown emphasis or links."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    text = re.sub(r"(\*\*|__|`)", "", text)
    return text.strip()


def page_of(pages, offset: int) -> int | None:
    """1-based page holding ``offset`` given the pages' start offsets; None without pages."""
    if not pages:
        return None
    return max(1, bisect.bisect_right(list(pages), offset))


def _check_entry(path: Path, root: Path) -> Path:
    """The real path of a corpus entry; CorpusError for links that break, loop or leave the folder
    and for anything that is not a regular file (reading a pipe would block)."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        if path.is_symlink():
            raise CorpusError(
                f"{path}: is a broken link (to {os.readlink(path)}); remove it or point it "
                "at a file in the corpus folder"
            ) from None
        raise CorpusError(
            f"{path}: the file disappeared while the corpus was read; run again"
        ) from None
    except (RuntimeError, OSError) as exc:  # a link loop: RuntimeError in Python 3.11
        raise CorpusError(f"{path}: is a link that cannot be followed ({exc}); remove it") from None
    if not real.is_relative_to(root.resolve()):
        raise CorpusError(
            f"{path}: is a link to {real}, outside the corpus folder {root.resolve()}; "
            "copy the file into the folder instead of linking to it"
        )
    if not real.is_file():
        raise CorpusError(
            f"{path}: is not a regular file (a pipe, socket or device); remove it from "
            "the corpus folder"
        )
    return real


def load_document(
    path: Path,
    root: Path | None = None,
    cache_dir: Path | None = None,
    time_limit: float | None = None,
    per_page: float | None = None,
) -> Document:
    """Read one document of any supported type. Raises CorpusError naming the file when it cannot.

    PDF, Word and HTML are parsed in a child process with a time limit (``rag.readers.sandbox``:
    ``time_limit`` seconds plus ``per_page`` for each page of a PDF; None: the defaults);
    with ``cache_dir`` their extracted text is kept by content hash, so an unchanged file is
    parsed once."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    if path.is_symlink() or root != path.parent:
        _check_entry(path, root)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CorpusError(
            f"{path}: the file disappeared while the corpus was read; run again"
        ) from None
    if not os.path.isfile(path):
        raise CorpusError(
            f"{path}: is not a regular file (a pipe, socket or device); remove it from the corpus folder"
        )
    size = st.st_size
    if size > MAX_FILE_BYTES:
        raise CorpusError(
            f"{path}: {size / 2**20:.1f} MiB is larger than the {MAX_FILE_BYTES / 2**20:g} MiB "
            "limit for one document; split it into smaller files (e.g. one per chapter or "
            "top-level heading) in the corpus folder"
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(
            f"{path}: the file disappeared while the corpus was read; run again"
        ) from None
    except OSError as exc:
        raise CorpusError(
            f"{path}: cannot be read ({exc.strerror}); check its permissions"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    try:
        extracted = _extract_cached(data, digest, path.name, cache_dir, time_limit, per_page)
    except ReadError as exc:
        raise CorpusError(f"{path}: {exc}") from None
    doc_id = path.absolute().relative_to(root.absolute()).as_posix()
    bom, crlf = False, ()
    if extracted.kind in ("markdown", "text"):  # offsets in the file as stored (byte_offset)
        bom, crlf = data.startswith(b"\xef\xbb\xbf"), _crlf_offsets(data)
    return Document(
        doc_id=doc_id,
        path=path,
        text=extracted.text,
        sha256=digest,
        bom=bom,
        crlf=crlf,
        kind=extracted.kind,
        pages=tuple(extracted.pages),
        size=size,
        mtime_ns=st.st_mtime_ns,
    )


def _extract_cached(
    data: bytes, digest: str, name: str, cache_dir: Path | None, time_limit, per_page=None
):
    from rag.readers import Extracted, extract

    kind = sniff(data, name)
    if kind not in SANDBOXED:
        return extract(data, kind)
    from rag.readers.sandbox import PER_PAGE, TIME_LIMIT, extract_isolated, readers_version

    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"{digest}-{readers_version()}.json"
        try:
            return Extracted(**json.loads(cached.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            pass
    extracted = extract_isolated(
        data,
        kind,
        TIME_LIMIT if time_limit is None else time_limit,
        per_page=PER_PAGE if per_page is None else per_page,
    )
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(extracted.to_dict(), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, cached)
        except OSError:
            pass  # a cache that cannot be written only costs a re-read
    return extracted


def _crlf_offsets(data: bytes) -> tuple[int, ...]:
    """Offsets in the normalised text of each "\n" that is "\r\n" in the file."""
    text = data.decode("utf-8-sig", "replace")
    crlf, removed = [], 0
    for m in re.finditer("\r\n", text):
        crlf.append(m.start() - removed)
        removed += 1
    return tuple(crlf)


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The document files of a corpus folder (by name: see ``SUFFIXES``), sorted. Links are listed
    as they are; ``load_document`` refuses those that break, loop or leave the folder."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.exists():
        raise CorpusError(
            f"{corpus_dir}: no such corpus folder; pass an existing folder with --corpus"
        )
    if corpus_dir.is_file():
        raise CorpusError(f"{corpus_dir}: is a file; pass the folder that holds it with --corpus")
    return document_paths(corpus_dir)


def document_paths(corpus_dir: Path) -> list[Path]:
    """The walk behind ``corpus_files``, without its checks of the folder (for cheap polling)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(corpus_dir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            found.append(Path(dirpath) / name)
    return found


@dataclass
class CorpusScan:
    """What a corpus folder holds: the documents read, and why each other file was not."""

    docs: list[Document]
    problems: dict[str, str]  # file (relative to the folder) -> one-line message with the fix
    duplicates: dict[str, str]  # file -> the document with the same content that was kept

    def to_dict(self) -> dict:
        return {
            "documents": [d.doc_id for d in self.docs],
            "problems": dict(self.problems),
            "duplicates": dict(self.duplicates),
        }


def scan_corpus(
    corpus_dir: Path,
    cache_dir: Path | None = None,
    time_limit: float | None = None,
    per_page: float | None = None,
) -> CorpusScan:
    """Read every document of ``corpus_dir`` that can be read; empty files are skipped silently,
    unreadable ones are named in ``problems`` and the rest still index. Content identity is the
    sha256: a second file with the same bytes (a copy, a link) is recorded in ``duplicates``."""
    corpus_dir = Path(corpus_dir)
    files = corpus_files(corpus_dir)
    docs: list[Document] = []
    problems: dict[str, str] = {}
    by_hash: dict[str, int] = {}
    duplicates: dict[str, str] = {}
    # files first, links after: a link and its target are one document, named after the file
    for path in sorted(files, key=lambda p: (p.is_symlink(), str(p))):
        rel = path.relative_to(corpus_dir).as_posix()
        try:
            doc = load_document(path, corpus_dir, cache_dir, time_limit, per_page)
        except CorpusError as exc:
            problems[rel] = str(exc)
            continue
        if not doc.text.strip():
            continue
        if doc.sha256 in by_hash:
            duplicates[rel] = docs[by_hash[doc.sha256]].doc_id
            continue
        by_hash[doc.sha256] = len(docs)
        docs.append(doc)
    docs.sort(key=lambda d: d.doc_id)
    return CorpusScan(docs=docs, problems=problems, duplicates=duplicates)


class EmptyCorpusError(CorpusError):
    """The corpus folder holds no readable, non-empty document. Not an error for the chat (it
    starts, and says there are no documents) or ``rag remove`` (removing the last document)."""


def empty_corpus_error(corpus_dir: Path, problems: dict[str, str]) -> CorpusError:
    if problems:
        return EmptyCorpusError("; ".join(problems.values()))
    return EmptyCorpusError(
        f"{corpus_dir}: holds no non-empty document ({'/'.join(SUFFIXES)}); add a document or pass "
        "another folder with --corpus"
    )


def load_corpus(corpus_dir: Path, cache_dir: Path | None = None) -> list[Document]:
    """Every document of ``corpus_dir``, strictly: the first file that cannot be read is an error
    (``scan_corpus`` reads the rest instead), and so is a corpus with no non-empty document."""
    corpus_dir = Path(corpus_dir)
    scan = scan_corpus(corpus_dir, cache_dir)
    if scan.problems:
        raise CorpusError(next(iter(scan.problems.values())))
    if not scan.docs:
        raise empty_corpus_error(corpus_dir, {})
    return scan.docs


def parse_sections(doc: Document) -> list[Section]:
    """Split a markdown document into sections; text before the first heading is its own section."""
    sections: list[Section] = []
    seen: dict[tuple[str, ...], int] = {}
    stack: list[tuple[int, str]] = []  # (level, title)
    lines = doc.lines
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def close(path: tuple[str, ...], level: int, first: int, last: int) -> None:
        # first/last: 0-based line indexes of the body, last exclusive
        start, end = offsets[first], offsets[last]
        body = doc.text[start:end]
        if not body.strip() and level == 0:
            return
        ordinal = seen.get(path, 0) + 1
        seen[path] = ordinal
        sections.append(
            Section(
                doc_id=doc.doc_id,
                heading_path=path,
                ordinal=ordinal,
                level=level,
                line_start=first + 1,
                line_end=last,
                char_start=start,
                char_end=end,
                text=body,
                byte_start=doc.byte_offset(start),
                byte_end=doc.byte_offset(end),
            )
        )

    current_path: tuple[str, ...] = (Path(doc.doc_id).stem,)
    current_level = 0
    body_first = 0
    in_fence = False
    for i, line in enumerate(lines):
        if FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else HEADING_RE.match(line.rstrip("\n"))
        if not m:
            continue
        close(current_path, current_level, body_first, i)
        level = len(m.group(1))
        title = clean_heading(m.group(2)) or "(untitled)"
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        current_path = tuple(t for _, t in stack)
        current_level = level
        body_first = i + 1
    close(current_path, current_level, body_first, len(lines))
    return sections
