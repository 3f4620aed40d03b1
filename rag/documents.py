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

This module reads files and finds structure; it does not chunk, clean or repair text.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

SUFFIXES = (".md", ".markdown", ".txt")
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


def load_document(path: Path, root: Path | None = None) -> Document:
    """Read one UTF-8 text file. Raises CorpusError naming the file when it cannot."""
    path = Path(path)
    root = root or path.parent
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorpusError(
            f"{path}: the file disappeared while the corpus was read; run again"
        ) from None
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
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: is not UTF-8 text (bad byte at offset {exc.start}); convert it to UTF-8, "
            "e.g. `iconv -f latin1 -t utf-8`, or move it out of the corpus folder"
        ) from None
    if "\x00" in text:
        raise CorpusError(
            f"{path}: contains NUL bytes, so it is not a text file; remove it from the corpus"
        )
    crlf: list[int] = []
    if "\r" in text:
        removed = 0
        for m in re.finditer("\r\n", text):
            crlf.append(m.start() - removed)
            removed += 1
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    real, real_root = path.resolve(), root.resolve()
    if not real.is_relative_to(real_root):
        raise CorpusError(
            f"{path}: is a link to {real}, outside the folder {real_root}; copy the file into the "
            "folder instead of linking to it"
        )
    return Document(
        doc_id=real.relative_to(real_root).as_posix(),
        path=path,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        bom=data.startswith(b"\xef\xbb\xbf"),
        crlf=tuple(crlf),
    )


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The text files of a corpus folder, sorted. Symlinks that leave the folder are refused."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.exists():
        raise CorpusError(
            f"{corpus_dir}: no such corpus folder; pass an existing folder with --corpus"
        )
    if corpus_dir.is_file():
        raise CorpusError(f"{corpus_dir}: is a file; pass the folder that holds it with --corpus")
    root = corpus_dir.resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(corpus_dir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            path = Path(dirpath) / name
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
                raise CorpusError(
                    f"{path}: is a link that cannot be followed ({exc}); remove it"
                ) from None
            if not real.is_relative_to(root):
                raise CorpusError(
                    f"{path}: is a link to {real}, outside the corpus folder {root}; "
                    "copy the file into the folder instead of linking to it"
                )
            if not real.is_file():
                raise CorpusError(
                    f"{path}: is not a regular file (a pipe, socket or device); remove it from "
                    "the corpus folder"
                )
            found.append(path)
    return found


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Every .md/.txt file under ``corpus_dir``; empty files are skipped, an empty corpus is an error."""
    corpus_dir = Path(corpus_dir)
    files = corpus_files(corpus_dir)
    docs = [load_document(p, corpus_dir) for p in files]
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise CorpusError(
            f"{corpus_dir}: holds no non-empty {'/'.join(SUFFIXES)} file; add a document or pass "
            "another folder with --corpus"
        )
    return docs


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
