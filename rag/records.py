"""Document records: what each document is, read once at index time from its own first pages.

``describe`` gives a ``DocumentRecord``: a title, the entity the document is about (the filer, the
company, the organisation) with the short names and aliases it defines for itself (``X Company ("X"
or "XCo")``, a ticker symbol, the short form of its legal name, the words of the file's name), its
period (fiscal year or quarter, ``rag.periods`` labels), its type ("10-K", "10-Q", "8-K",
"earnings release", "annual report", or the reader's kind) and the abbreviations it defines
(``rag.abbreviations.defined``). The index keeps it in the manifest (``manifest["documents"]``),
``rag docs`` shows it, and ``match_documents`` finds the documents a question names.

Every rule here reads the conventions of filings and reports in general (a cover page's "Exact
name of registrant", a "Form 10-K" line, a definition in parentheses), not any one document.
What it cannot find it leaves empty: a record never guesses a company from prose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

from rag.abbreviations import defined
from rag.periods import find_periods, periods_of

HEAD_CHARS = 30_000  # the part of a document its record is read from: cover, contents, first pages
LEGAL_SUFFIX_RE = re.compile(
    r"[,\s]+(?:inc|incorporated|corp|corporation|co|company|companies|ltd|limited|plc|llc|lp|l\.p|"
    r"n\.v|s\.a|ag|se|holdings?|group|and subsidiaries|& co)\.?$",
    re.IGNORECASE,
)
NAME_WORD = r"[A-Z][\w&'’.-]*"
COMPANY_RE = re.compile(
    rf"\b(?:The[ \t]+)?{NAME_WORD}(?:[ \t,]+(?:&[ \t]+)?{NAME_WORD}){{0,5}}[, \t]+"
    r"(?:Inc\.?|Incorporated|Corporation|Corp\.|Company|Co\.|Ltd\.?|Limited|plc|PLC|LLC|N\.V\.|"
    r"S\.A\.|AG|SE|INC\.?|CORPORATION|COMPANY|CO\.)(?![\w])"
)
SELF_DEFINED_RE = re.compile(
    r"\s*\(\s*(?:(?:NYSE|NASDAQ|Nasdaq|NYSE American)\s*:|(?:together with [^)]*?)?(?:the\s+)?[\"“])"
)
REGISTRANT_RE = re.compile(r"\(\s*exact\s+name\s+of\s+(?:the\s+)?registrant", re.IGNORECASE)
TICKER_RE = re.compile(r"\((?:NYSE|NASDAQ|Nasdaq|NYSE American|LSE|TSX|HKEX)\s*:\s*([A-Z.]{1,6})\)")
# a defined short name: Name ("Short"), Name (together "Short" or "Other"), Name (the "Company")
DEFINITION_RE = re.compile(
    r"\(\s*(?:[^()“”\"]{0,40}?)[\"“](?P<first>[^\"”]{1,40})[\"”](?P<rest>[^()]{0,80})\)"
)
QUOTED_RE = re.compile(r"[\"“]([^\"”]{1,40})[\"”]")
GENERIC_ALIASES = frozenset(
    "company the company we us our registrant corporation group the group issuer the issuer "
    "subsidiaries the corporation firm the firm management board".split(" ")
) | {"the company", "the group", "the corporation", "the registrant", "the issuer", "the firm"}
FORM_RE = re.compile(
    r"^\s*FORM\s+(10-K|10-Q|8-K|20-F|40-F|6-K|S-1|10-KT)\s*$", re.IGNORECASE | re.MULTILINE
)
EARNINGS_RE = re.compile(
    r"\b(?:reports?|announces?|reported|delivers?)\b[^.\n]{0,80}\b(?:results|earnings)\b"
    r"|\bearnings release\b|\bpress release\b",
    re.IGNORECASE,
)
ANNUAL_RE = re.compile(r"\bannual report\b", re.IGNORECASE)
REPORT_TYPES = frozenset(
    "10-K 10-Q 8-K 20-F 40-F 6-K S-1 10-KT".split() + ["earnings release", "annual report"]
)
FILE_TYPES = {
    "10k": "10-K",
    "10q": "10-Q",
    "8k": "8-K",
    "20f": "20-F",
    "earnings": "earnings release",
    "annual": "annual report",
}


@dataclass
class DocumentRecord:
    """What a document is about; empty fields are what its first pages do not say."""

    title: str = ""
    entity: str = ""
    aliases: list[str] = field(default_factory=list)
    period: str = ""  # its own period: "FY2022", "Q2 FY2023"
    periods: list[str] = field(default_factory=list)  # the period and the year it belongs to
    type: str = ""
    abbreviations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> DocumentRecord:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def key(name: str) -> str:
    """A name as it is compared: letters and digits only, lower case ("Coca-Cola" = "COCACOLA")."""
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


def short_name(name: str) -> str:
    """A legal name without its legal form and a leading "The": "The Acme Widget Company" ->
    "Acme Widget"."""
    out = name.strip(" ,.")
    for _ in range(3):
        cut = LEGAL_SUFFIX_RE.sub("", out).strip(" ,.")
        if cut == out:
            break
        out = cut
    out = re.sub(r"^the\s+", "", out, flags=re.IGNORECASE)
    return out or name


JUNK_RE = re.compile(
    r"transition|pursuant|commission|file n|act of 19|ended|^\W*$",
    re.IGNORECASE,
)


def _strip_lead(name: str) -> str:
    """A name without a page's furniture before it ("Index PART I Acme Corporation")."""
    return re.sub(r"^.*\b(?:PART\s+[IVX]+|index|contents)\b\s*", "", name, flags=re.IGNORECASE)


def _registrant(head: str) -> str:
    """The name before a cover page's "(Exact name of registrant as specified in its charter)"."""
    m = REGISTRANT_RE.search(head)
    if not m:
        return ""
    before = head[max(0, m.start() - 300) : m.start()]
    segs = re.split(r"\n|_{3,}|☐|☒|\s{3,}", before)
    for i in range(len(segs) - 1, -1, -1):
        seg = " ".join(segs[i].split()).strip(" |,")
        if i and re.fullmatch(r"(?i)(?:inc|corp|co|ltd|llc|plc)\.?", seg):
            seg = f"{' '.join(segs[i - 1].split()).strip(' |,')}, {seg}"  # "ACME,   INC."
        seg = _strip_lead(seg)
        if (
            len(re.findall(r"[A-Za-z]", seg)) > 2
            and re.search(r"[A-Za-z]{2}", seg)
            and not JUNK_RE.search(seg)
        ):
            return seg[:120]
    return ""


def _title_case(name: str) -> str:
    """An all-capitals name in title case, short words (initialisms) kept: "CVS HEALTH" -> "CVS
    Health"."""
    if not name.isupper():
        return name
    return " ".join(
        w if len(w) <= 4 and not re.search(r"[AEIOU]", w) else w.title() for w in name.split()
    )


def _entity(head: str) -> str:
    name = _registrant(head)
    if name:
        return _title_case(name)
    # a company's name as a line of its own (a cover, a running title) or opening the document's
    # first line (a release's headline), never a name inside prose
    lines = [x.strip(" |\t#") for x in head[:5000].splitlines()]
    lines = [x for x in lines if x]
    if lines and COMPANY_RE.match(lines[0]):
        return _title_case(" ".join(COMPANY_RE.match(lines[0]).group(0).split()).strip(" .,;:"))
    for line in lines:
        first = COMPANY_RE.match(line)
        if first and re.fullmatch(
            r"(?i)(?:\s*(?:and|&)\s+subsidiaries)?[\s.,]*", line[first.end() :]
        ):
            return _title_case(_strip_lead(" ".join(first.group(0).split())).strip(" .,;:"))
    # or a name the document defines: followed by its ticker or its short name in parentheses
    for m in COMPANY_RE.finditer(head):
        if SELF_DEFINED_RE.match(head, m.end()):
            return _title_case(_strip_lead(" ".join(m.group(0).split())).strip(" .,;:"))
    return ""


def _aliases(entity: str, head: str, doc_id: str) -> list[str]:
    """The short names the document gives ``entity``, its ticker, its name without the legal form,
    and the words of the file's name that are not a period or a type."""
    out: list[str] = []
    if entity:
        out += [entity, short_name(entity)]
        words_of = {key(w) for w in re.findall(r"[\w&'’-]+", short_name(entity)) if len(w) > 2}
        for m in DEFINITION_RE.finditer(head):
            # a definition of the entity follows its name: Acme Widget Company ("Acme")
            before = re.findall(r"[\w&'’-]+", head[max(0, m.start() - 60) : m.start()])[-3:]
            if not words_of or not before or key(before[-1]) not in words_of | {key(w) for w in
                    re.findall(r"[\w&'’-]+", entity)}:  # fmt: skip
                continue
            quoted = [m.group("first"), *QUOTED_RE.findall(m.group("rest"))]
            out += [q.strip() for q in quoted if q.strip()[:1].isupper() and len(q.split()) <= 4]
    out += TICKER_RE.findall(head)
    m = re.search(r"trading\s+symbol", head, re.IGNORECASE)
    if m:
        tick = re.search(
            r"\b([A-Z]{1,5})\b(?=\s+(?:The\s+)?(?:New York|NASDAQ|Nasdaq|NYSE))",
            head[m.end() : m.end() + 600],
        )
        if tick:
            out.append(tick.group(1))
    stem = PurePosixPath(doc_id).stem
    parts = [p for p in re.split(r"[\W_]+", stem) if p]
    name_parts = []
    for p in parts:
        if p.lower() in FILE_TYPES or re.fullmatch(
            r"\d{4}(?:q[1-4])?|q[1-4]|fy\d{2,4}|dated|\d+", p, re.I
        ):
            break
        name_parts.append(p)
    if name_parts:
        out.append(" ".join(name_parts))
    seen, kept = set(), []
    for a in out:
        a = " ".join(a.split()).strip(" ,.")
        k = key(a)
        if len(k) < 2 or a.casefold() in GENERIC_ALIASES or k in seen:
            continue
        seen.add(k)
        kept.append(a)
    return kept


def _type(head: str, doc_id: str, kind: str) -> str:
    m = FORM_RE.search(head[:3000])
    if m:
        return m.group(1).upper()
    for part in re.split(r"[\W_]+", PurePosixPath(doc_id).stem.lower()):
        if part in FILE_TYPES:
            return FILE_TYPES[part]
    if EARNINGS_RE.search(head[:2000]):
        return "earnings release"
    if ANNUAL_RE.search(head[:2000]):
        return "annual report"
    return kind


YEAR_ENDED_RE = re.compile(
    r"\b(?:fiscal\s+)?year\s+ended\s+(?P<m>[A-Za-z]+)\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>(?:19|20)\d{2})",
    re.IGNORECASE,
)


def _period(head: str, doc_id: str) -> str:
    """The document's own period: a quarter its file name names ("..._2023Q2_..."), else the
    fiscal year its cover says it ended (a 52/53-week year ending in the first days of January
    belongs to the year before), else a year of its file name, else the first period of its
    first page."""
    stem = PurePosixPath(doc_id).stem.replace("_", " ")
    found = find_periods(stem, plain_years=True)
    quarters = [m.period for m in found if m.period.quarter]
    if quarters:
        return quarters[0].label
    page = head[:3000]
    ended = YEAR_ENDED_RE.search(page)
    if ended:
        year = int(ended.group("y"))
        if ended.group("m").lower().startswith("jan") and int(ended.group("d")) <= 7:
            year -= 1
        return f"FY{year}"
    if found:
        return found[0].period.label
    mentions = find_periods(page)
    return mentions[0].period.label if mentions else ""


def _title(text: str, kind: str, entity: str, type_: str, period: str) -> str:
    if kind in ("markdown", "html", "docx"):
        for line in text[:5000].splitlines():
            m = re.match(r"\s*#{1,3}\s+(.+)", line)
            if m:
                return m.group(1).strip()
    if entity and type_ and type_ != kind:
        return " ".join(x for x in (short_name(entity), type_, period) if x)
    for line in text[:2000].splitlines():
        line = line.strip(" #|\t")
        if len(line) > 3 and re.search(r"[A-Za-z]{3}", line):
            return line[:100]
    return ""


def describe(doc_id: str, text: str, kind: str = "markdown") -> DocumentRecord:
    """The record of the document ``doc_id`` whose text is ``text``, read by the ``kind`` reader."""
    head = text[:HEAD_CHARS]
    entity = _entity(head)
    type_ = _type(head, doc_id, kind)
    period = _period(head, doc_id)
    periods = [period] if period else []
    if period.startswith("Q"):
        periods.append(period.split(" ", 1)[1])
    return DocumentRecord(
        title=_title(text, kind, entity, type_, period),
        entity=entity,
        aliases=_aliases(entity, head, doc_id),
        period=period,
        periods=periods,
        type=type_,
        abbreviations=defined(head),
    )


# ---- which documents a question names -----------------------------------------------------------


def _ngrams(text: str, n_max: int = 6) -> set[str]:
    ws = [key(w) for w in re.findall(r"[\w&'’-]+", re.sub(r"['’]s\b", "", text))]
    ws = [w for w in ws if w]
    return {"".join(ws[i : i + n]) for n in range(1, n_max + 1) for i in range(len(ws) - n + 1)}


def named_entities(question: str, records: Mapping[str, Mapping]) -> list[str]:
    """The documents whose entity (by any of its aliases) the question names; empty when it names
    none, or every document's (then naming tells nothing apart). Only documents about an entity
    (a record with one, or a filing or report whose entity the cover did not give) are named
    this way, and an alias of one word only where the question
    writes it with a capital ("Force" names nothing in "the moving force")."""
    grams = _ngrams(question)
    capitals = _ngrams(" ".join(re.findall(r"\b[A-Z0-9][\w&'’-]*", question)))
    hits = []
    for doc, rec in records.items():
        if not rec.get("entity") and rec.get("type") not in REPORT_TYPES:
            continue
        for a in rec.get("aliases") or []:
            k = key(a)
            if len(k) >= 2 and k in (grams if len(a.split()) > 1 else capitals):
                hits.append(doc)
                break
    return [] if len(hits) == len(records) else hits


def named_periods(question: str) -> list[str]:
    """The periods a question names, plain years included ("in 2022"), as labels."""
    return [p.label for p in periods_of(question, plain_years=True)]


def match_documents(question: str, records: Mapping[str, Mapping]) -> tuple[list[str], str]:
    """The documents a question should be answered from, and why ("" and [] when it names none).

    A question naming an entity is answered from that entity's documents; among them (or among
    all documents, when it names no entity), one naming a period prefers the documents of that
    period (their own period, or its fiscal year), and keeps them all when none is of that period
    (a filing reports the years before its own beside it)."""
    docs = named_entities(question, records)
    why = f"the question names {records[docs[0]].get('entity') or docs[0]}" if docs else ""
    pool = docs or list(records)
    wanted = set(named_periods(question))
    if wanted:
        fiscal = {w.split(" ", 1)[-1] for w in wanted}
        of_period = [d for d in pool if wanted & set(records[d].get("periods") or [])] or [
            d for d in pool if fiscal & set(records[d].get("periods") or [])
        ]
        if of_period and len(of_period) < len(pool):
            docs = of_period
            why = (f"{why} and " if why else "the question names ") + ", ".join(sorted(wanted))
    return docs, why


__all__ = [
    "DocumentRecord",
    "describe",
    "key",
    "match_documents",
    "named_entities",
    "named_periods",
    "short_name",
]
