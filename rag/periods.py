"""Reporting periods: fiscal years and quarters in any of the forms company reports write them.

``find_periods`` reads every mention of a period in a text, in any of these forms, and gives each
one canonical ``Period``: "FY2022", "FY22", "FY '22", "fiscal 2022", "fiscal year 2022", "the
(fiscal) year ended December 31, 2022", "Q2 FY23", "Q2 2023", "2Q23", "2023Q2", "second quarter
(of fiscal) 2023", "second-quarter 2023", "the quarter(ly period) ended July 29, 2023" (a quarter
whose number the date does not tell: the year only). ``Period.label`` is one spelling of it:
"FY2022", "Q2 FY2023". A plain year ("2022") is a period only where ``plain_years`` asks for it (a
question's "2022 vs 2021"); in a document's text every table column is a plain year.

``normalise_query`` rewrites the compact forms of a question ("FY22", "Q2 FY23") into the words
filings print ("fiscal 2022", "second quarter fiscal 2023"), so a question and a text that name the
same period share its words: the year as four digits, "fiscal", the quarter's ordinal.

One numbering is used for every year: the document's own (a fiscal year is named by the year it
ends in, as filings name it). Mapping fiscal onto calendar years is left alone: it differs by
company and a filing never needs it to name its own periods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ORDINALS = ("first", "second", "third", "fourth")
MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_YEAR = r"(?P<y>(?:19|20)\d{2})"
_YY = r"(?P<y>(?:19|20)\d{2}|'?\d{2})"
_DATE = rf"(?:(?:{MONTHS})\.?\s+\d{{1,2}},?\s+)?{_YEAR}"
_Q = r"(?P<q>[1-4])"
_ORD = rf"(?P<o>{'|'.join(ORDINALS)}|1st|2nd|3rd|4th)"

# most specific first: a quarter pattern must win over the year inside it
# (pattern, names a quarter, compact: a form filings rarely print, rewritten by normalise_query)
PATTERNS: tuple[tuple[re.Pattern, bool, bool], ...] = tuple(
    (re.compile(p, re.IGNORECASE), quarter, compact)
    for p, quarter, compact in (
        (rf"\bQ{_Q}[\s-]*(?:FY|fiscal(?:\s+year)?)?[\s']*{_YY}\b", True, True),  # Q2 FY23
        (rf"\b{_Q}Q[\s-]*(?:FY)?[\s']*{_YY}\b", True, True),  # 2Q23, 2Q FY2023
        (rf"\b{_YEAR}[\s-]?Q{_Q}\b", True, True),  # 2023Q2, 2023-Q2
        (rf"\b(?:FY|fiscal(?:\s+year)?)[\s']*{_YY}\s+Q{_Q}\b", True, True),  # FY23 Q2
        (
            rf"\b{_ORD}[\s-]+(?:fiscal[\s-]+)?quarter(?:\s+of)?(?:\s+(?:the\s+)?fiscal"
            rf"(?:\s+year)?)?[\s,]+{_YEAR}\b",
            True,
            False,
        ),
        (rf"\b{_YEAR}[\s-]+{_ORD}[\s-]+quarter\b", True, False),  # 2022 fourth-quarter
        (rf"\bFY[\s']*{_YY}\b", False, True),  # FY2022, FY22, FY '22
        (rf"\bfiscal(?:\s+year)?[\s']+{_YY}\b", False, False),  # fiscal (year) 2022
        (rf"\b(?:fiscal\s+)?years?\s+ended\s+{_DATE}\b", False, False),  # year ended Dec 31, 2022
        (rf"\b(?:quarter(?:ly\s+period)?|three\s+months)\s+ended\s+{_DATE}\b", False, False),
    )
)
PLAIN_YEAR_RE = re.compile(r"(?<![\w.,$])(?:19|20)\d{2}(?![\w%]|[.,]\d)")


@dataclass(frozen=True, order=True)
class Period:
    """A fiscal year, or a quarter of one (``quarter`` 1-4)."""

    year: int
    quarter: int | None = None

    @property
    def label(self) -> str:
        return f"Q{self.quarter} FY{self.year}" if self.quarter else f"FY{self.year}"

    @property
    def words(self) -> str:
        """The period as filings print it: "fiscal 2022", "second quarter fiscal 2023"."""
        if self.quarter:
            return f"{ORDINALS[self.quarter - 1]} quarter fiscal {self.year}"
        return f"fiscal {self.year}"

    @property
    def fiscal_year(self) -> Period:
        return Period(self.year)


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    period: Period
    compact: bool  # written in a compact form ("FY22", "Q2 FY23") that filings rarely print


def _year(text: str) -> int:
    digits = text.strip("'’ ")
    year = int(digits)
    if len(digits) == 2:
        year += 2000 if year < 70 else 1900
    return year


def _quarter(m: re.Match) -> int:
    groups = m.groupdict()
    if groups.get("q"):
        return int(groups["q"])
    word = groups["o"].lower()
    return {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4}.get(word) or ORDINALS.index(word) + 1


def find_periods(text: str, plain_years: bool = False) -> list[Mention]:
    """Every period ``text`` mentions, in order of position, none overlapping another (the most
    specific form wins). With ``plain_years``, a bare year counts as that fiscal year."""
    taken: list[tuple[int, int]] = []
    out: list[Mention] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for pattern, quarter, compact in PATTERNS:
        for m in pattern.finditer(text):
            if not free(m.start(), m.end()):
                continue
            period = Period(_year(m.group("y")), _quarter(m) if quarter else None)
            taken.append((m.start(), m.end()))
            out.append(Mention(m.start(), m.end(), period, compact))
    if plain_years:
        for m in PLAIN_YEAR_RE.finditer(text):
            if free(m.start(), m.end()):
                out.append(Mention(m.start(), m.end(), Period(int(m.group(0))), False))
    return sorted(out, key=lambda x: x.start)


def periods_of(text: str, plain_years: bool = False) -> list[Period]:
    """The distinct periods ``text`` mentions, in order of first mention."""
    return list(dict.fromkeys(m.period for m in find_periods(text, plain_years)))


def normalise_query(text: str) -> str:
    """``text`` with each compact period form written out as filings print it ("FY22" ->
    "fiscal 2022", "Q2 FY23" -> "second quarter fiscal 2023"); other text unchanged."""
    out, last = [], 0
    for m in find_periods(text):
        if not m.compact:
            continue
        out.append(text[last : m.start])
        out.append(m.period.words)
        last = m.end
    out.append(text[last:])
    return "".join(out)


def parse_label(label: str) -> Period | None:
    """The period a label names ("FY2022", "Q2 FY2023", "fiscal 2022", "2022"), or None."""
    found = find_periods(label, plain_years=True)
    return found[0].period if len(found) == 1 else None


__all__ = ["Mention", "Period", "find_periods", "normalise_query", "parse_label", "periods_of"]
