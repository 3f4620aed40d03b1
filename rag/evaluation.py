"""Batch evaluation: run a file of questions through the chatbot and score the answers, offline.

    from rag import evaluate
    summary = evaluate("eval/questions.jsonl", out_dir="eval/runs/today")   # -> dict
    summary["metrics"]["section_hit@1"]

Every metric is deterministic string and heading arithmetic on the ``Answer`` objects the engine
returns; no model judges anything. What each check means:

* **section hit** — a retrieved passage is *in* an expected section when one of the question's
  ``sections`` names an element of the passage's heading path (or a run of elements, written
  ``"Parent > Child"``). Names are compared after lower-casing, dropping everything but letters and
  digits, dropping a leading ordinal (``"1. Smart Business"`` = ``"Smart Business"``) and collapsing
  repeated letters, so spacing, punctuation and a letter lost or restored at a word boundary
  (``"Businessegments"`` / ``"Business Segments"``) do not matter. ``section_hit@n`` and ``mrr@5`` use
  the ranked retrieved passages; ``citation_precision`` uses the citations.
* **page hit** — for a question with gold ``pages`` (``{"document": "report.pdf", "page": 12}``,
  1-based; the document may be left out): a retrieved passage or a citation is *on* an expected
  page when its document is that document (the same path, or the same file name) and its page
  range covers the page. ``page_hit@1`` and ``page_hit@k`` use the ranked retrieved passages (all
  ``k`` of them), ``cited_page_precision`` the citations (share on an expected page),
  ``cited_page_hit`` the share of questions with a citation on an expected page, and
  ``answered_on_page`` the share answered with every ``must_include`` item *and* a citation on an
  expected page.
* **must_include** — each item must occur in the answer text (case-insensitive, whitespace and quote
  style normalised, ``*`` and backticks ignored); ``"Middle East|Middleast"`` is satisfied by either.
* **abstention** — the positive class is *unanswerable*: precision is the share of abstentions that
  were on unanswerable questions, recall the share of unanswerable questions the bot abstained on.

A metric that cannot be computed (nothing to average over) is ``None`` with a reason in
``summary["null_reasons"]``; no NaN is ever written. This module does not render reports (see
``rag.eval_report``) and does not tune the engine.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rag.atomic import write_atomic  # noqa: F401  (also used as rag.evaluation.write_atomic)
from rag.eval_report import write_reports
from rag.metrics import (  # noqa: F401  (re-exported: rag.evaluation.METRICS etc.)
    GATE_METRICS,
    GENERATION_METRICS,
    INFO_METRICS,
    LATENCY_METRICS,
    METRIC_DEPTH,
    METRICS,
    PAGE_METRICS,
    format_value,
    percentile,
)

FORMAT_VERSION = 1
QUESTION_FIELDS = (
    "id",
    "question",
    "reference",
    "must_include",
    "sections",
    "pages",
    "answerable",
    "history",
    "tags",
    "notes",
)
SUFFIXES = (".jsonl", ".csv")


class QuestionSetError(ValueError):
    """A question file cannot be used; the message names the file, the line and the problem."""


# ---- questions --------------------------------------------------------------------------------


@dataclass
class Question:
    id: str
    question: str
    reference: str | None = None
    must_include: list[str] = field(default_factory=list)  # each item may hold "a|b" alternatives
    sections: list[str] = field(default_factory=list)
    pages: list[dict] = field(default_factory=list)  # {"document", "page", "page_end"}, 1-based
    answerable: bool = True
    history: list = field(default_factory=list)  # earlier user turns: strings or role/content dicts
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    line: int | None = None  # where it was read from (1-based), for messages

    @property
    def alternatives(self) -> list[list[str]]:
        """``must_include`` split into its alternatives: ``"a|b"`` -> ``["a", "b"]``."""
        return [[alt.strip() for alt in item.split("|")] for item in self.must_include]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("line")
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "question") -> Question:
        """Validate one record (a parsed JSON object or CSV row); errors name ``where``."""
        return _parse_question(d, where)


def _fail(where: str, problem: str) -> QuestionSetError:
    return QuestionSetError(f"{where}: {problem}")


def _string_list(value, name: str, where: str) -> list[str]:
    """A list of non-empty strings; a single string counts as a list of one."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _fail(where, f"{name!r} must be a list of strings, not {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _fail(where, f"{name!r} item {i + 1} must be a non-empty string, got {item!r}")
        out.append(item.strip())
    return out


PAGE_RE = re.compile(
    r"^(?:(?P<doc>.*?)\s*#\s*)?(?:p{1,2}\.?\s*)?(?P<page>\d+)(?:\s*-\s*(?P<end>\d+))?$"
)


def _parse_pages(value, where: str) -> list[dict]:
    """Gold pages: ``{"document": "a.pdf", "page": 3, "page_end": 4}`` objects, or strings
    ``"a.pdf#3"`` / ``"a.pdf#3-4"`` / ``"3"`` (no document: any document's page 3)."""
    if value is None:
        return []
    if isinstance(value, (str, dict, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise _fail(where, f"'pages' must be a list of pages, not {type(value).__name__}")
    hint = 'write {"document": "report.pdf", "page": 12} or "report.pdf#12" (pages count from 1)'
    out = []
    for i, item in enumerate(value, 1):
        if isinstance(item, int) and not isinstance(item, bool):
            item = {"page": item}
        if isinstance(item, str):
            m = PAGE_RE.match(item.strip())
            if not m:
                raise _fail(where, f"'pages' item {i} ({item!r}) is not a page: {hint}")
            item = {"document": m["doc"] or None, "page": int(m["page"])}
            if m["end"]:
                item["page_end"] = int(m["end"])
        if not isinstance(item, dict) or set(item) - {"document", "page", "page_end"}:
            raise _fail(where, f"'pages' item {i} ({item!r}) is not a page: {hint}")
        doc, page, end = item.get("document"), item.get("page"), item.get("page_end", None)
        if doc is not None and (not isinstance(doc, str) or not doc.strip()):
            raise _fail(where, f"'pages' item {i}: 'document' must be a file name, got {doc!r}")
        for name, v in (("page", page), ("page_end", end)):
            if (v is not None or name == "page") and (
                isinstance(v, bool) or not isinstance(v, int) or v < 1
            ):
                raise _fail(where, f"'pages' item {i}: {name!r} must be a number from 1, got {v!r}")
        if end is not None and end < page:
            raise _fail(where, f"'pages' item {i}: 'page_end' {end} is before 'page' {page}")
        out.append(
            {"document": doc.strip() if doc else None, "page": page, "page_end": end or page}
        )
    return out


def _parse_history(value, where: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _fail(
            where, f"'history' must be a list of earlier questions, not {type(value).__name__}"
        )
    out: list = []
    for i, turn in enumerate(value, 1):
        if isinstance(turn, str) and turn.strip():
            out.append(turn.strip())
        elif isinstance(turn, dict):
            role, content = turn.get("role"), turn.get("content")
            if role not in ("user", "assistant", "system") or not isinstance(content, str):
                raise _fail(
                    where,
                    f"'history' turn {i} must be a string or "
                    f'{{"role": "user"|"assistant", "content": "..."}}, got {turn!r}',
                )
            out.append({"role": role, "content": content})
        else:
            raise _fail(
                where,
                f"'history' turn {i} must be a non-empty string or a role/content "
                f"message, got {turn!r}",
            )
    return out


def _check_encodable(d: dict, where: str) -> None:
    """Refuse lone surrogates (a JSON ``"\\ud800"`` escape): results.jsonl, the question hash and
    the reports are UTF-8, which cannot hold them, so the run would fail after asking every
    question."""
    try:
        json.dumps(d, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(
            where,
            "holds an invalid \\u escape (a lone surrogate such as \\ud800); write the character "
            "itself, or a complete surrogate pair",
        ) from None
    except (ValueError, RecursionError):
        pass  # not JSON-like at all: the field checks below say what is wrong


def _parse_question(d: dict, where: str) -> Question:
    if not isinstance(d, dict):
        raise _fail(
            where, f"expected a JSON object with 'id' and 'question', got {type(d).__name__}"
        )
    _check_encodable(d, where)
    unknown = sorted(set(d) - set(QUESTION_FIELDS))
    if unknown:
        raise _fail(
            where,
            f"unknown field(s) {', '.join(map(repr, unknown))}; "
            f"known fields: {', '.join(QUESTION_FIELDS)}",
        )
    for required in ("id", "question"):
        if required not in d or d[required] is None or d[required] == "":
            raise _fail(where, f"missing required field {required!r}")
    qid = d["id"]
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        raise _fail(where, f"'id' must be a string or an integer, got {qid!r}")
    qid = str(qid).strip()
    if not qid:
        raise _fail(where, "'id' is blank")
    question = d["question"]
    if not isinstance(question, str) or not question.strip():
        raise _fail(where, f"'question' must be non-empty text, got {question!r}")
    reference = d.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise _fail(where, f"'reference' must be text, got {reference!r}")
    answerable = d.get("answerable", True)
    if answerable is None:
        answerable = True
    if not isinstance(answerable, bool):
        raise _fail(where, f"'answerable' must be true or false, got {answerable!r}")
    must = _string_list(d.get("must_include"), "must_include", where)
    for item in must:
        if any(not alt.strip() for alt in item.split("|")):
            raise _fail(
                where,
                f"'must_include' item {item!r} has an empty alternative: "
                "separate alternatives with a single '|'",
            )
    notes = d.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise _fail(where, f"'notes' must be text, got {notes!r}")
    return Question(
        id=qid,
        question=question.strip(),
        reference=reference,
        must_include=must,
        sections=_string_list(d.get("sections"), "sections", where),
        pages=_parse_pages(d.get("pages"), where),
        answerable=answerable,
        history=_parse_history(d.get("history"), where),
        tags=_string_list(d.get("tags"), "tags", where),
        notes=notes,
    )


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise QuestionSetError(
            f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save the file as UTF-8"
        ) from None


_LINE_END_RE = re.compile(r"\r\n|\r|\n")


def _read_jsonl(path: Path, text: str) -> list[Question]:
    out = []
    # Lines end at \n, \r\n or \r only: str.splitlines also breaks at U+2028, U+2029 and U+0085,
    # which json.dumps(ensure_ascii=False) writes raw inside strings.
    for n, line in enumerate(_LINE_END_RE.split(text), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionSetError(
                f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "each line must be one JSON object"
            ) from None
        except (ValueError, RecursionError) as exc:  # a >4300-digit number; very deep nesting
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(":")[0]
            raise QuestionSetError(
                f"{path}:{n}: not valid JSON ({why}); each line must be one JSON object"
            ) from None
        q = _parse_question(obj, f"{path}:{n}")
        q.line = n
        out.append(q)
    return out


def _csv_cell_list(cell: str, name: str, where: str):
    """A list cell of a CSV: a JSON array, or items separated by ';'."""
    cell = cell.strip()
    if not cell:
        return None
    if cell.startswith("["):
        try:
            return json.loads(cell)
        except json.JSONDecodeError as exc:
            raise _fail(
                where, f"{name!r} looks like a JSON list but is not valid JSON ({exc.msg})"
            ) from None
        except (ValueError, RecursionError) as exc:  # a >4300-digit number; very deep nesting
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(":")[0]
            raise _fail(
                where, f"{name!r} looks like a JSON list but is not valid JSON ({why})"
            ) from None
    return [item.strip() for item in cell.split(";") if item.strip()]


def _read_csv(path: Path, text: str) -> list[Question]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise QuestionSetError(f"{path}:1: not valid CSV ({exc}); check the header line") from None
    unknown = [h for h in header if h not in QUESTION_FIELDS]
    if unknown:
        raise QuestionSetError(
            f"{path}:1: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"known columns: {', '.join(QUESTION_FIELDS)}"
        )
    for required in ("id", "question"):
        if header and required not in header:
            raise QuestionSetError(f"{path}:1: the header has no {required!r} column")
    out = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a cell longer than csv.field_size_limit()
            raise QuestionSetError(
                f"{path}:{reader.reader.line_num}: not valid CSV ({exc}); check the quotes, or "
                "shorten the cell"
            ) from None
        n = reader.line_num
        where = f"{path}:{n}"
        if None in row:
            raise _fail(
                where,
                f"{len(header) + len(row[None])} cells but the header has {len(header)} columns",
            )
        if not any((v or "").strip() for v in row.values()):
            continue
        d: dict = {k: v for k, v in row.items() if v is not None and v.strip() != ""}
        for name in ("must_include", "sections", "pages", "history", "tags"):
            if name in d:
                d[name] = _csv_cell_list(d[name], name, where)
        if "answerable" in d:
            word = d["answerable"].strip().lower()
            if word in ("true", "yes", "1"):
                d["answerable"] = True
            elif word in ("false", "no", "0"):
                d["answerable"] = False
            else:
                raise _fail(where, f"'answerable' must be true or false, got {d['answerable']!r}")
        q = _parse_question(d, where)
        q.line = n
        out.append(q)
    return out


def _check_ids(questions: list[Question], source: str) -> None:
    seen: dict[str, Question] = {}
    for q in questions:
        if q.id in seen:
            first = seen[q.id]
            at = f"{source}:{q.line}" if q.line else source
            was = f"line {first.line}" if first.line else "an earlier item"
            raise QuestionSetError(
                f"{at}: duplicate id {q.id!r} (already used on {was}); "
                "give every question its own id"
            )
        seen[q.id] = q


def load_questions(path: str | Path) -> list[Question]:
    """Read a ``.jsonl`` or ``.csv`` question file; raises ``QuestionSetError`` on any problem."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise QuestionSetError(
            f"{path}: unknown question file type {path.suffix or '(none)'!r}; "
            f"use {' or '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise QuestionSetError(f"{path}: no such file")
    text = _decode(path)
    questions = _read_csv(path, text) if path.suffix.lower() == ".csv" else _read_jsonl(path, text)
    if not questions:
        raise QuestionSetError(
            f"{path}: the file has no questions; add one per line, e.g. "
            '{"id": "q1", "question": "Who founded the company?"}'
        )
    _check_ids(questions, str(path))
    return questions


def coerce_questions(items: Iterable) -> list[Question]:
    """Questions from a list of ``Question`` objects and/or dicts (validated like file lines)."""
    out = []
    for i, item in enumerate(items, 1):
        if isinstance(item, Question):
            q = item
        else:
            q = _parse_question(item, f"question {i}")
        out.append(q)
    if not out:
        raise QuestionSetError("the question list is empty: pass at least one question")
    _check_ids(out, "questions")
    return out


# ---- matching -----------------------------------------------------------------------------------

_ORDINAL_RE = re.compile(r"^\s*\d+\s*[.)]\s*")
_REPEAT_RE = re.compile(r"(.)\1+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def heading_key(name: str) -> str:
    """The form headings are compared in (see the module docstring)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = _ORDINAL_RE.sub("", text)
    text = "".join(ch for ch in text if ch.isalnum())
    return _REPEAT_RE.sub(r"\1", text)


def in_sections(heading_path: Sequence[str], sections: Sequence[str]) -> bool:
    """Whether a heading path lies in one of ``sections`` (a name, or ``"Parent > Child"``)."""
    path = [heading_key(h) for h in heading_path]
    for section in sections:
        parts = [heading_key(p) for p in section.split(">")]
        parts = [p for p in parts if p]
        if not parts:
            continue
        for start in range(len(path) - len(parts) + 1):
            if path[start : start + len(parts)] == parts:
                return True
    return False


def on_pages(item: dict, pages: Sequence[dict]) -> bool:
    """Whether a passage or citation (``document``, ``page``, ``page_end``) lies on one of the gold
    ``pages``: the same document (path, or file name when the gold names no folder) and an
    overlapping page range."""
    first = item.get("page")
    if first is None:
        return False
    last = item.get("page_end") or first
    doc = str(item.get("document") or "")
    for gold in pages:
        want = gold.get("document")
        if want and doc != want and not ("/" not in want and Path(doc).name == want):
            continue
        if first <= gold["page_end"] and gold["page"] <= last:
            return True
    return False


def text_key(text: str) -> str:
    """The form answer text and must_include items are compared in."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = text.replace("*", "").replace("`", "")
    return " ".join(text.split())


def find_item(item: str, answer_text: str) -> str | None:
    """The first alternative of ``item`` (``"a|b"``) found in ``answer_text``, or None."""
    haystack = text_key(answer_text)
    for alt in item.split("|"):
        alt = alt.strip()
        if alt and text_key(alt) in haystack:
            return alt
    return None


# ---- scoring one answer ---------------------------------------------------------------------------


@dataclass
class Checks:
    """What was checked for one question; ``None`` where the check does not apply."""

    section_rank: int | None = None  # rank of the first retrieved passage in an expected section
    section_hit_at_1: bool | None = None
    section_hit_at_3: bool | None = None
    reciprocal_rank_at_5: float | None = None
    must_include: list[dict] = field(default_factory=list)  # {"item", "found", "matched"}
    must_include_recall: float | None = None
    exact_all: bool | None = None
    citations_in_section: int = 0
    citations_scored: int = 0  # citations counted toward citation_precision
    cited_section_hit: bool | None = None  # some citation lies in an expected section
    page_rank: int | None = None  # rank of the first retrieved passage on an expected page
    page_hit_at_1: bool | None = None
    page_hit_at_k: bool | None = None
    citations_on_page: int = 0
    citations_page_scored: int = 0  # citations counted toward cited_page_precision
    cited_page_hit: bool | None = None  # some citation lies on an expected page
    abstention_correct: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        d["section_hit@1"] = d.pop("section_hit_at_1")
        d["section_hit@3"] = d.pop("section_hit_at_3")
        d["reciprocal_rank@5"] = d.pop("reciprocal_rank_at_5")
        d["page_hit@1"] = d.pop("page_hit_at_1")
        d["page_hit@k"] = d.pop("page_hit_at_k")
        return d


def score_answer(q: Question, answer: dict) -> Checks:
    """Score one answer (an ``Answer.to_dict()``) against its question. Pure; no model."""
    checks = Checks()
    abstained = bool(answer.get("abstained"))
    checks.abstention_correct = abstained == (not q.answerable)
    if not q.answerable:
        return checks
    if q.sections:
        ranked = sorted(answer.get("passages") or [], key=lambda p: p.get("rank") or 0)
        for pos, p in enumerate(ranked, 1):
            if in_sections(p.get("heading_path") or [], q.sections):
                checks.section_rank = p.get("rank") or pos
                break
        r = checks.section_rank
        checks.section_hit_at_1 = r is not None and r <= 1
        checks.section_hit_at_3 = r is not None and r <= 3
        checks.reciprocal_rank_at_5 = 1.0 / r if r is not None and r <= 5 else 0.0
        for c in answer.get("citations") or []:
            checks.citations_scored += 1
            checks.citations_in_section += in_sections(c.get("heading_path") or [], q.sections)
        checks.cited_section_hit = checks.citations_in_section > 0
    if q.pages:
        ranked = sorted(answer.get("passages") or [], key=lambda p: p.get("rank") or 0)
        for pos, p in enumerate(ranked, 1):
            if on_pages(p, q.pages):
                checks.page_rank = p.get("rank") or pos
                break
        checks.page_hit_at_1 = checks.page_rank is not None and checks.page_rank <= 1
        checks.page_hit_at_k = checks.page_rank is not None
        for c in answer.get("citations") or []:
            checks.citations_page_scored += 1
            checks.citations_on_page += on_pages(c, q.pages)
        checks.cited_page_hit = checks.citations_on_page > 0
    if q.must_include:
        text = answer.get("text") or ""
        for item in q.must_include:
            matched = find_item(item, text)
            checks.must_include.append(
                {"item": item, "found": matched is not None, "matched": matched}
            )
        found = sum(m["found"] for m in checks.must_include)
        checks.must_include_recall = found / len(q.must_include)
        checks.exact_all = found == len(q.must_include)
    return checks


def failure_reasons(q: Question, answer: dict, checks: Checks, error: str | None) -> list[str]:
    """Why a question counts as failed (empty list: it passed)."""
    if error:
        return [f"error: {error}"]
    reasons = []
    abstained = bool(answer.get("abstained"))
    if not q.answerable:
        if not abstained:
            reasons.append("answered a question the documents cannot answer")
        return reasons
    if abstained:
        reasons.append("abstained on an answerable question")
    if checks.section_hit_at_3 is False and not checks.cited_section_hit:
        reasons.append(
            f"no expected section ({'; '.join(q.sections)}) in the top 3 passages or the citations"
        )
    missing = [m["item"] for m in checks.must_include if not m["found"]]
    if missing:
        reasons.append("answer lacks " + ", ".join(repr(m) for m in missing))
    return reasons


@dataclass
class QuestionResult:
    question: Question
    answer: dict  # Answer.to_dict(), or {} when the bot raised
    checks: Checks
    latency_ms: float | None
    error: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        """One line of results.jsonl: question, expectation, answer, sources, checks, latency."""
        q, a = self.question, self.answer

        def passage(p: dict) -> dict:
            d = dict(p)
            d["in_expected_section"] = in_sections(p.get("heading_path") or [], q.sections)
            if q.pages:
                d["on_expected_page"] = on_pages(p, q.pages)
            return d

        citations = []
        for c in a.get("citations") or []:
            citations.append(
                {
                    "number": c.get("number"),
                    "document": c.get("document"),
                    "heading_path": c.get("heading_path"),
                    "section_id": c.get("section_id"),
                    "line_start": c.get("line_start"),
                    "line_end": c.get("line_end"),
                    "quote": c.get("quote"),
                    "quotes": c.get("quotes", []),
                    "page": c.get("page"),
                    "page_end": c.get("page_end"),
                    "in_expected_section": in_sections(c.get("heading_path") or [], q.sections),
                    "on_expected_page": on_pages(c, q.pages) if q.pages else None,
                }
            )
        return {
            "id": q.id,
            "question": q.question,
            "history": q.history,
            "tags": q.tags,
            "expected": {
                "reference": q.reference,
                "must_include": q.must_include,
                "sections": q.sections,
                "answerable": q.answerable,
                **({"pages": q.pages} if q.pages else {}),
            },
            "rewritten_query": a.get("rewritten_query"),
            "answer": a.get("text"),
            "abstained": a.get("abstained"),
            "reason": a.get("reason"),
            "score": a.get("score"),
            "threshold": a.get("threshold"),
            "mode": a.get("mode"),
            "k": a.get("k"),
            "citations": citations,
            "passages": [passage(p) for p in a.get("passages") or []],
            "checks": self.checks.to_dict(),
            "passed": self.passed,
            "failures": self.failures,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "timings_ms": a.get("timings_ms", {}),
            "notices": a.get("notices", []),
            "error": self.error,
            **_generation_fields(a),
        }


def _generation_fields(a: dict) -> dict:
    """What the generation stage recorded, for a run that asked an LLM (nothing otherwise)."""
    if not (a.get("checked_sentences") or a.get("fallback_reason") or a.get("generator") == "llm"):
        return {}
    return {
        "generator": a.get("generator"),
        "fallback_reason": a.get("fallback_reason"),
        "checked_sentences": a.get("checked_sentences", []),
    }


def run_question(
    bot, q: Question, mode: str | None = None, k: int | None = None, generator: str | None = None
) -> QuestionResult:
    """Ask one question and score it; an exception from the bot is recorded, not raised."""
    t0 = time.perf_counter()
    extra = {} if generator is None else {"generator": generator}
    try:
        answer = bot.ask(q.question, history=q.history or None, k=k, mode=mode, **extra)
    except Exception as exc:  # one bad question must not lose the whole run
        error = f"{type(exc).__name__}: {exc}"
        return QuestionResult(
            q, {}, score_answer(q, {}), None, error, failure_reasons(q, {}, Checks(), error)
        )
    wall_ms = (time.perf_counter() - t0) * 1000
    a = answer.to_dict() if hasattr(answer, "to_dict") else dict(answer)
    latency = (a.get("timings_ms") or {}).get("total", wall_ms)
    checks = score_answer(q, a)
    return QuestionResult(q, a, checks, float(latency), None, failure_reasons(q, a, checks, None))


# ---- summary ------------------------------------------------------------------------------------------


def _ratio(num: float, den: int) -> float:
    return round(num / den, 6)


def summarize(results: Sequence[QuestionResult], k: int | None = None) -> dict:
    """The metrics of a run, with counts and a reason for every metric that is ``None``.

    ``k`` is the number of passages retrieved per question; a rank metric deeper than ``k``
    (``mrr@5`` with ``k=3``) is ``None`` rather than a silently truncated number.
    """
    metrics: dict[str, float | None] = dict.fromkeys(METRICS)
    reasons: dict[str, str] = {}
    counts: dict[str, dict] = {}
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]

    ranked = [r for r in answerable if r.question.sections]
    for name, attr in (
        ("section_hit@1", "section_hit_at_1"),
        ("section_hit@3", "section_hit_at_3"),
        ("mrr@5", "reciprocal_rank_at_5"),
    ):
        depth = METRIC_DEPTH[name]
        if not ranked:
            reasons[name] = "no answerable question lists expected sections"
        elif k is not None and k < depth:
            reasons[name] = f"k={k} retrieves fewer than {depth} passages"
        else:
            total = sum(float(getattr(r.checks, attr)) for r in ranked)
            metrics[name] = _ratio(total, len(ranked))
            counts[name] = {"num": round(total, 6), "den": len(ranked)}

    graded = [r for r in answerable if r.question.must_include]
    if graded:
        recall_sum = sum(r.checks.must_include_recall or 0.0 for r in graded)
        exact = sum(bool(r.checks.exact_all) for r in graded)
        metrics["must_include_recall"] = _ratio(recall_sum, len(graded))
        metrics["exact_all"] = _ratio(exact, len(graded))
        counts["must_include_recall"] = {"num": round(recall_sum, 6), "den": len(graded)}
        counts["exact_all"] = {"num": exact, "den": len(graded)}
    else:
        reasons["must_include_recall"] = reasons["exact_all"] = (
            "no answerable question lists must_include items"
        )

    cited = sum(r.checks.citations_scored for r in ranked)
    good = sum(r.checks.citations_in_section for r in ranked)
    if cited:
        metrics["citation_precision"] = _ratio(good, cited)
        counts["citation_precision"] = {"num": good, "den": cited}
    else:
        reasons["citation_precision"] = (
            "no citations on answerable questions that list expected sections"
        )

    _page_metrics(answerable, k, metrics, reasons, counts)

    tp = sum(bool(r.answer.get("abstained")) for r in unanswerable)
    fp = sum(bool(r.answer.get("abstained")) for r in answerable)
    fn = len(unanswerable) - tp
    counts["abstention"] = {"tp": tp, "fp": fp, "fn": fn, "tn": len(answerable) - fp}
    if tp + fp:
        metrics["abstention_precision"] = _ratio(tp, tp + fp)
    else:
        reasons["abstention_precision"] = "the bot abstained on no question"
    if unanswerable:
        metrics["abstention_recall"] = _ratio(tp, len(unanswerable))
    else:
        reasons["abstention_recall"] = "the question set has no unanswerable question"
    if tp + fp + fn:
        metrics["abstention_f1"] = _ratio(2 * tp, 2 * tp + fp + fn)
    else:
        reasons["abstention_f1"] = "no unanswerable question and no abstention"

    right = [_handled_right(r) for r in results if r.error is None]
    if right:
        metrics["accuracy"] = _ratio(sum(right), len(right))
        counts["accuracy"] = {"num": sum(right), "den": len(right)}
    else:
        reasons["accuracy"] = "every question raised an error"
    lengths = [
        len((r.answer.get("text") or "").split())
        for r in results
        if r.error is None and not r.answer.get("abstained")
    ]
    if lengths:
        metrics["answer_words_mean"] = round(sum(lengths) / len(lengths), 3)
    else:
        reasons["answer_words_mean"] = "the bot answered no question"
    probs = [
        (r.answer.get("p_answerable"), r.question.answerable)
        for r in results
        if r.error is None and r.answer.get("p_answerable") is not None
    ]
    metrics["answerable_auc"] = _auc(probs)
    if metrics["answerable_auc"] is None:
        reasons["answerable_auc"] = (
            "no P(answerable) on both kinds of question (no trained model, or one kind only)"
        )

    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    if latencies:
        metrics["latency_p50_ms"] = round(percentile(latencies, 50), 3)
        metrics["latency_p95_ms"] = round(percentile(latencies, 95), 3)
        metrics["latency_max_ms"] = round(max(latencies), 3)
    else:
        for name in LATENCY_METRICS:
            reasons[name] = "no question was answered without an error"
    _generation_metrics(results, metrics, reasons, counts)

    return {
        "n": len(results),
        "reliability": reliability(probs),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "n_errors": sum(r.error is not None for r in results),
        "n_passed": sum(r.passed for r in results),
        "metrics": metrics,
        "null_reasons": reasons,
        "counts": counts,
        "by_section": _by_section(answerable),
        "by_tag": _by_tag(results),
    }


def _page_metrics(answerable, k, metrics: dict, reasons: dict, counts: dict) -> None:
    """page_hit@1, page_hit@k, cited_page_precision, cited_page_hit, answered_on_page."""
    paged = [r for r in answerable if r.question.pages]
    if not paged:
        return  # not reported at all: the question file lists no gold pages
    hit1 = sum(bool(r.checks.page_hit_at_1) for r in paged)
    hitk = sum(bool(r.checks.page_hit_at_k) for r in paged)
    cited_hit = sum(bool(r.checks.cited_page_hit) for r in paged)
    on_page = sum(
        bool(r.checks.cited_page_hit)
        and not r.answer.get("abstained")
        and r.checks.exact_all is not False
        for r in paged
    )
    for name, num in (
        ("page_hit@1", hit1),
        ("page_hit@k", hitk),
        ("cited_page_hit", cited_hit),
        ("answered_on_page", on_page),
    ):
        metrics[name] = _ratio(num, len(paged))
        counts[name] = {"num": num, "den": len(paged)}
    if k is not None:
        counts["page_hit@k"]["k"] = k
    cited = sum(r.checks.citations_page_scored for r in paged)
    good = sum(r.checks.citations_on_page for r in paged)
    if cited:
        metrics["cited_page_precision"] = _ratio(good, cited)
        counts["cited_page_precision"] = {"num": good, "den": cited}
    else:
        reasons["cited_page_precision"] = "no citations on answerable questions that list pages"


def _handled_right(r: QuestionResult) -> bool:
    """An answerable question is handled right when the bot answered and every must-include item
    is in the answer (answering is enough when it lists none); an unanswerable one when it
    abstained."""
    abstained = bool(r.answer.get("abstained"))
    if not r.question.answerable:
        return abstained
    return not abstained and r.checks.exact_all is not False


def _auc(pairs: Sequence[tuple[float, bool]]) -> float | None:
    """Area under the ROC curve of P(answerable) against the truth (ties count half)."""
    pos = [p for p, y in pairs if y]
    neg = [p for p, y in pairs if not y]
    if not pos or not neg:
        return None
    ranked = sorted([(p, 1) for p in pos] + [(p, 0) for p in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # average 1-based rank of the tie group
        rank_sum += mid * sum(y for _, y in ranked[i:j])
        i = j
    return _ratio(rank_sum - len(pos) * (len(pos) + 1) / 2, len(pos) * len(neg))


def reliability(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> list[dict]:
    """Predicted against observed answerability: per bin of P(answerable), the questions in it,
    their mean prediction and the share that were answerable."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(p, y) for p, y in pairs if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if inside:
            out.append(
                {
                    "lo": lo,
                    "hi": hi,
                    "n": len(inside),
                    "predicted": round(sum(p for p, _ in inside) / len(inside), 6),
                    "observed": round(sum(y for _, y in inside) / len(inside), 6),
                }
            )
    return out


def _generation_metrics(results, metrics: dict, reasons: dict, counts: dict) -> None:
    """``GENERATION_METRICS``, added only when some answer went through the LLM generator."""
    asked = [
        r
        for r in results
        if "generate" in (r.answer.get("timings_ms") or {}) or r.answer.get("checked_sentences")
    ]
    if not asked:
        return
    checked = [c for r in asked for c in r.answer.get("checked_sentences") or []]
    supported = sum(bool(c.get("supported")) for c in checked)
    if checked:
        metrics["supported_sentence_rate"] = _ratio(supported, len(checked))
    else:
        metrics["supported_sentence_rate"] = None
        reasons["supported_sentence_rate"] = "the LLM wrote no sentence (every call failed)"
    times = [
        r.answer["timings_ms"]["generate"] for r in asked if "generate" in r.answer["timings_ms"]
    ]
    for name, p in (("generation_latency_p50_ms", 50), ("generation_latency_p95_ms", 95)):
        metrics[name] = round(percentile(times, p), 3) if times else None
        if not times:
            reasons[name] = "no answer was generated"
    counts["generation"] = {
        "asked": len(asked),
        "llm_answers": sum(r.answer.get("generator") == "llm" for r in asked),
        "fallbacks": sum(bool(r.answer.get("fallback_reason")) for r in asked),
        "sentences": len(checked),
        "supported": supported,
    }


def _by_section(answerable: Sequence[QuestionResult]) -> dict:
    """Hit rates per expected section name, as written in the question file."""
    table: dict[str, dict] = {}
    for r in answerable:
        for s in r.question.sections:
            row = table.setdefault(s, {"n": 0, "hit@1": 0, "hit@3": 0})
            row["n"] += 1
            row["hit@1"] += bool(r.checks.section_hit_at_1)
            row["hit@3"] += bool(r.checks.section_hit_at_3)
    for row in table.values():
        row["hit@1_rate"] = _ratio(row["hit@1"], row["n"])
        row["hit@3_rate"] = _ratio(row["hit@3"], row["n"])
    return dict(sorted(table.items()))


def _by_tag(results: Sequence[QuestionResult]) -> dict:
    table: dict[str, dict] = {}
    for r in results:
        for t in r.question.tags:
            row = table.setdefault(t, {"n": 0, "passed": 0})
            row["n"] += 1
            row["passed"] += r.passed
    for row in table.values():
        row["pass_rate"] = _ratio(row["passed"], row["n"])
    return dict(sorted(table.items()))


def corpus_hash(corpus: dict[str, str]) -> str:
    """One sha256 over the manifest's ``doc_id -> sha256`` map, independent of its order."""
    h = hashlib.sha256()
    for doc_id in sorted(corpus):
        h.update(f"{doc_id}\t{corpus[doc_id]}\n".encode())
    return h.hexdigest()


def _questions_hash(questions: Sequence[Question]) -> str:
    blob = "\n".join(json.dumps(q.to_dict(), sort_keys=True, ensure_ascii=False) for q in questions)
    return hashlib.sha256(blob.encode()).hexdigest()


def describe_bot(bot, mode: str | None, k: int | None) -> dict:
    """Settings, model and corpus fingerprint of the bot, as far as it exposes them."""
    settings_obj = getattr(bot, "settings", None)
    settings = settings_obj.describe() if hasattr(settings_obj, "describe") else {}
    if mode is not None:
        settings["mode"] = mode
    if k is not None:
        settings["k"] = k
    index = getattr(bot, "index", None)
    manifest = getattr(index, "manifest", None) or {}
    corpus = manifest.get("corpus") or {}
    return {
        "mode": settings.get("mode", mode),
        "k": settings.get("k", k),
        "model": manifest.get("model") or getattr(settings_obj, "model", None),
        "corpus_hash": corpus_hash(corpus) if corpus else None,
        "corpus": corpus,
        "settings": settings,
    }


# ---- running ---------------------------------------------------------------------------------------


@dataclass
class EvalRun:
    """One evaluation: the per-question results and the summary (``summary.json``)."""

    results: list[QuestionResult]
    summary: dict

    def to_dict(self) -> dict:
        return {"summary": self.summary, "results": [r.to_dict() for r in self.results]}


def run(
    questions: Sequence[Question],
    bot,
    mode: str | None = None,
    k: int | None = None,
    progress: bool = False,
    source: str | None = None,
    generator: str | None = None,
) -> EvalRun:
    """Warm the bot up, ask every question, and summarise. Writes nothing."""
    from tqdm import tqdm

    from rag import __version__

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    if hasattr(bot, "warm_up"):
        bot.warm_up()  # load model and index before the clock starts for question one
    warm_ms = (time.perf_counter() - t0) * 1000
    meta = describe_bot(bot, mode, k)
    results = []
    bar = tqdm(
        questions,
        desc=f"eval {meta['mode'] or ''}".strip(),
        unit="q",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    for q in bar:
        results.append(run_question(bot, q, mode=mode, k=k, generator=generator))
    summary = {
        "format_version": FORMAT_VERSION,
        "questions": source,
        "questions_sha256": _questions_hash(questions),
        **summarize(results, k=meta["k"]),
        **meta,
        "rag_version": __version__,
        "started_at": started.isoformat(timespec="seconds"),
        "warm_up_ms": round(warm_ms, 3),
        "duration_s": round(time.perf_counter() - t0, 3),
    }
    return EvalRun(results, summary)


def write_run(eval_run: EvalRun, out_dir: str | Path) -> dict[str, Path]:
    """Write results.jsonl, summary.json, report.md, report.html and the plots into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in eval_run.results)
    write_atomic(out / "results.jsonl", lines)
    write_atomic(
        out / "summary.json", json.dumps(eval_run.summary, indent=2, ensure_ascii=False) + "\n"
    )
    paths = {"results": out / "results.jsonl", "summary": out / "summary.json"}
    paths.update(write_reports(out, eval_run.summary, [r.to_dict() for r in eval_run.results]))
    return paths


def evaluate(
    questions,
    bot=None,
    out_dir: str | Path | None = None,
    mode: str | None = None,
    k: int | None = None,
    corpus: str | Path | None = None,
    progress: bool = False,
    tags: Sequence[str] = (),
    generator: str | None = None,
) -> dict:
    """Evaluate a question file (``.jsonl``/``.csv``) or a list of questions; returns the summary.
    With ``tags``, only the questions carrying one of them are asked.

    ``bot`` defaults to ``Chatbot.from_corpus(corpus, mode=mode, k=k)``; ``mode`` and ``k`` are also
    passed to every ``ask``. With ``out_dir`` the results, summary and reports are written there;
    without it nothing is written.
    """
    if isinstance(questions, (str, Path)):
        source = str(questions)
        qs = load_questions(questions)
    else:
        source = None
        qs = coerce_questions(questions)
    if tags:
        qs = [q for q in qs if set(q.tags) & set(tags)]
        if not qs:
            raise QuestionSetError(
                f"no question carries any of the tags {', '.join(tags)}: check the spelling"
            )
    if mode is not None:
        from rag.retrieval import check_mode

        check_mode(mode)
    if k is not None and k < 1:
        raise ValueError(f"k={k} must be at least 1")
    if bot is None:
        from rag.chatbot import Chatbot

        bot = Chatbot.from_corpus(corpus, mode=mode, k=k)
    elif corpus is not None:
        raise ValueError("pass either bot= or corpus=, not both: the bot already has a corpus")
    eval_run = run(qs, bot, mode=mode, k=k, progress=progress, source=source, generator=generator)
    if generator is not None:
        eval_run.summary["generator"] = generator
    if out_dir is not None:
        eval_run.summary["out_dir"] = str(out_dir)
        write_run(eval_run, out_dir)
    return eval_run.summary


# ---- gate and tables (used by the CLI) --------------------------------------------------------------


def parse_thresholds(specs: Iterable[str]) -> dict[str, float]:
    """``["section_hit@1=0.8", ...]`` -> ``{"section_hit@1": 0.8}``; errors name the bad spec."""
    out: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"--fail-under {spec!r} is not METRIC=VALUE, e.g. section_hit@1=0.8")
        if name not in GATE_METRICS and name != "supported_sentence_rate":
            hint = (
                " (latency is lower-is-better and cannot be gated here)"
                if name in LATENCY_METRICS
                else ""
            )
            raise ValueError(
                f"--fail-under {spec!r}: unknown metric {name!r}{hint}; "
                f"use one of {', '.join(GATE_METRICS)}"
            )
        try:
            threshold = float(value)
        except ValueError:
            raise ValueError(
                f"--fail-under {spec!r}: {value.strip()!r} is not a number; use a value from 0 to 1"
            ) from None
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(
                f"--fail-under {spec!r}: {threshold} is outside 0..1; metrics are fractions"
            )
        out[name] = threshold
    return out


def check_thresholds(summary: dict, thresholds: dict[str, float]) -> list[str]:
    """One message per metric below its threshold (a ``None`` metric fails too)."""
    failures = []
    for name, threshold in thresholds.items():
        if name in GENERATION_METRICS and name not in summary["metrics"]:
            continue  # a run that asked no LLM has no generated sentences to gate
        value = summary["metrics"].get(name)
        if value is None:
            why = summary.get("null_reasons", {}).get(name, "not computed")
            if name in PAGE_METRICS and name not in summary["metrics"]:
                why = "no answerable question lists gold pages"
            failures.append(f"{name} is null ({why}); the gate requires >= {threshold}")
        elif value < threshold:
            failures.append(f"{name} = {value:.4f} is below the threshold {threshold}")
    return failures


def format_table(summaries: dict[str, dict]) -> str:
    """A plain-text table: one row per metric, one column per run (e.g. per mode)."""
    names = list(summaries)
    rows = [["metric", *names]]
    rows.append(["questions", *(str(summaries[n]["n"]) for n in names)])
    extra = [
        m
        for m in (*PAGE_METRICS, *GENERATION_METRICS)
        if any(m in s["metrics"] for s in summaries.values())
    ]
    for metric in (*METRICS, *extra):
        rows.append(
            [metric, *(format_value(metric, summaries[n]["metrics"].get(metric)) for n in names)]
        )
    rows.append(["passed", *(f"{summaries[n]['n_passed']}/{summaries[n]['n']}" for n in names)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def default_out_dir(root: str | Path = "eval/runs") -> Path:
    """A new timestamped folder name under ``root`` (relative to the working directory)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path(root) / f"{stamp}-{n}"
    return path
