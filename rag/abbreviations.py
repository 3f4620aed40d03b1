"""Abbreviations: the standard ones of company reporting, and the ones a document defines.

``STANDARD`` is the documented list the engine knows without being told (README, "Reports"): the
abbreviations analysts and filings use for the same few dozen measures. It is a list of reporting
vocabulary, the same for every corpus; nothing here names a company or a document.

``defined(text)`` reads the abbreviations a document defines for itself, in the two forms filings
use: a long form followed by its short form in parentheses, "Free Cash Flow ("FCF")", "selling,
general and administrative (SG&A)", and the reverse, "the FCF (free cash flow)". A short form is
kept only when its letters are the initials of the long form's words (so "(the Plan)" or "(see
Note 4)" are not read as definitions).

``expand(text, known)`` writes each abbreviation of a question out after it: "What was the M&A
spend?" -> "What was the M&A (mergers and acquisitions) spend?", so retrieval and word matching see
the words a filing prints, and "M&A" is not read as the word "m".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# short form -> long form. A short form with another common meaning ("CFO", "AR") is left out: a
# wrong expansion misleads more than none. Matched case-insensitively when the short form is written here in lower
# case ("capex"), exactly otherwise ("EPS" is not "eps").
STANDARD: dict[str, str] = {
    "M&A": "mergers and acquisitions",
    "EPS": "earnings per share",
    "capex": "capital expenditures",
    "CapEx": "capital expenditures",
    "CAPEX": "capital expenditures",
    "D&A": "depreciation and amortization",
    "DD&A": "depreciation, depletion and amortization",
    "SG&A": "selling, general and administrative expenses",
    "R&D": "research and development",
    "YoY": "year over year",
    "Y/Y": "year over year",
    "y/y": "year over year",
    "QoQ": "quarter over quarter",
    "EBIT": "earnings before interest and taxes",
    "EBITDA": "earnings before interest, taxes, depreciation and amortization",
    "COGS": "cost of goods sold",
    "PP&E": "property, plant and equipment",
    "FCF": "free cash flow",
    "ROA": "return on assets",
    "ROE": "return on equity",
    "ROIC": "return on invested capital",
    "DPO": "days payable outstanding",
    "DSO": "days sales outstanding",
    "DIO": "days inventory outstanding",
    "OCF": "operating cash flow",
    "NOI": "net operating income",
    "GAAP": "generally accepted accounting principles",
    "FX": "foreign exchange",
    "bps": "basis points",
    "opex": "operating expenses",
    "OpEx": "operating expenses",
}

# a long form ending right before "(SHORT)" or "("SHORT")": up to eight words, capitalised or not
_LONG_SHORT_RE = re.compile(
    r"(?P<long>(?:[A-Za-z][\w'’-]*,?\s+(?:and\s+|&\s+|of\s+|for\s+)?){0,7}[A-Za-z][\w'’-]*)"
    r"\s*\(\s*(?:the\s+)?[\"“”']?(?P<short>[A-Z][A-Za-z&/.]{1,9})[\"“”']?\s*\)"
)
_LINK_WORDS = frozenset("and of for the & in on to a an".split())


def _initials_match(short: str, long: str) -> str | None:
    """The tail of ``long`` whose word initials spell ``short`` (letters only), or None."""
    letters = [c.lower() for c in short if c.isalpha()]
    ws = re.findall(r"[A-Za-z][\w'’-]*|&", long)
    for start in range(len(ws)):
        tail = ws[start:]
        content = [w for w in tail if w.lower() not in _LINK_WORDS]
        if not content or content[0] is not tail[0]:
            continue
        if [w[0].lower() for w in content] == letters:
            return " ".join(tail)
    return None


def defined(text: str) -> dict[str, str]:
    """The abbreviations ``text`` defines: short form -> long form (first definition wins)."""
    out: dict[str, str] = {}
    for m in _LONG_SHORT_RE.finditer(text):
        short = m.group("short").rstrip(".")
        if short in out or sum(c.isupper() for c in short) < 2:
            continue
        long = _initials_match(short, m.group("long"))
        if long:
            out[short] = long
    return out


def _pattern(short: str) -> re.Pattern:
    flags = re.IGNORECASE if short.islower() else 0
    return re.compile(rf"(?<![\w&/]){re.escape(short)}(?![\w&/])", flags)


def expand(text: str, known: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """``text`` with each abbreviation in ``known`` (default ``STANDARD``) followed by its long form
    in parentheses, unless the long form is already there; and the abbreviations expanded."""
    known = STANDARD if known is None else known
    found: dict[str, str] = {}
    spans: list[tuple[int, int, str]] = []
    low = text.lower()
    for short, long in known.items():
        if long.lower() in low:
            continue
        for m in _pattern(short).finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in spans):
                continue
            spans.append((m.start(), m.end(), long))
            found[m.group(0)] = long
    if not spans:
        return text, {}
    out, last = [], 0
    for _start, end, long in sorted(spans):
        out.append(text[last:end])
        out.append(f" ({long})")
        last = end
    out.append(text[last:])
    return "".join(out), found


def is_abbreviation(token: str, known: Mapping[str, str] | None = None) -> bool:
    """Whether ``token`` is one of ``known`` (default ``STANDARD``), as that list matches it."""
    known = STANDARD if known is None else known
    return any(_pattern(short).fullmatch(token) for short in known)


__all__ = ["STANDARD", "defined", "expand", "is_abbreviation"]
