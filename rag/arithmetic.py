"""Figures that need arithmetic: what a question asks to compute, and whether a number follows.

``computation(question)`` reads what a question asks to compute from its wording: a change ("how
much did X grow", "year over year", "from 2021 to 2022"), a ratio or margin ("X as a percentage
of Y", "ratio", "margin", "per"), a sum ("total of", "combined") or a difference ("difference
between"). It gives a ``Computation``: its kind and the one line an extractive answer says about
what would have to be computed ("Compute the change: (2022 value − 2021 value) ÷ 2021 value.").

``derive(value, figures)`` says how a number an LLM wrote follows from the figures of the passages
it cites: the sum, difference, ratio, percentage or percentage change of two of them, within the
rounding of the number as written ("20.3%" is anything from 20.25 to 20.35; one more unit of the
last digit is allowed for figures that were rounded themselves). It returns the formula, or None
when the number follows from no pair. Figures are compared with their scale dropped, so "$1.2
billion" can come from a table "in millions" (1,234 and 1,000 -> a sum of 2,234 written "$2.2
billion").

Deliberately small: two operands, five operations. A number that needs three figures (a sum of
three quarters) does not follow, and its sentence is removed; that is the safe side.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import permutations

# a figure as written: digits with thousands commas and decimals, an optional scale word, "%"
FIGURE_RE = re.compile(
    r"(?<![\w.,])\(?-?\$?\s?(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?\)?"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion|bn|mn|[kmb])\b)?(?P<pct>\s?%|\s?percent)?",
    re.IGNORECASE,
)
SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "m": 1e6, "billion": 1e9}
SCALES.update({"bn": 1e9, "b": 1e9, "trillion": 1e12})
MAX_FIGURES = 80  # figures of the cited passages tried as operands (pairs: at most 6,320)

CHANGE_RE = re.compile(
    r"\b(?:change[ds]?|increase[ds]?|decrease[ds]?|grow(?:th|n)?|grew|decline[ds]?|drop(?:ped)?|"
    r"r[io]se|fell|year[- ]over[- ]year|yoy|compared (?:to|with)|vs\.?|versus|from \S+ to \S+)\b",
    re.IGNORECASE,
)
RATIO_RE = re.compile(
    r"\b(?:ratio|margin|as a (?:percentage|share|proportion|percent) of|percentage of|"
    r"share of|proportion of|divided by|coverage ratio|turnover|yield|return on|payout ratio)\b",
    re.IGNORECASE,
)
SUM_RE = re.compile(r"\b(?:total of|combined|sum of|together|in total|altogether)\b", re.I)
DIFFERENCE_RE = re.compile(r"\b(?:difference between|gap between|how much (?:more|less))\b", re.I)
LINES = {
    "change": "Compute the change: later value − earlier value (and ÷ earlier value for a rate).",
    "ratio": "Compute the ratio: the first figure ÷ the second (× 100 for a percentage).",
    "sum": "Compute the sum of the figures quoted.",
    "difference": "Compute the difference: the first figure − the second.",
}


@dataclass(frozen=True)
class Computation:
    kind: str  # "change", "ratio", "sum" or "difference"

    @property
    def line(self) -> str:
        return LINES[self.kind]


def computation(question: str) -> Computation | None:
    """What ``question`` asks to compute, from its wording; None when it asks for a printed
    figure (or for no figure)."""
    if DIFFERENCE_RE.search(question):
        return Computation("difference")
    if RATIO_RE.search(question):
        return Computation("ratio")
    if SUM_RE.search(question):
        return Computation("sum")
    if CHANGE_RE.search(question) and re.search(r"\b(?:how much|by what|what (?:was|is) the)\b|%",
                                                question, re.I):  # fmt: skip
        return Computation("change")
    return None


@dataclass(frozen=True)
class Figure:
    """A number as written: its value without scale, its value with scale, its decimals."""

    text: str
    bare: float
    scaled: float
    decimals: int
    percent: bool


def figures(text: str) -> list[Figure]:
    """The figures of ``text`` in order, without the years (a four-digit 1900-2099 integer with no
    scale, comma or sign)."""
    out = []
    for m in FIGURE_RE.finditer(text):
        num, frac, scale, pct = m.group("num"), m.group("frac"), m.group("scale"), m.group("pct")
        raw = m.group(0).strip()
        if (
            not frac
            and not scale
            and not pct
            and "," not in num
            and re.fullmatch(r"(19|20)\d\d", num)
        ):
            continue
        bare = float(num.replace(",", "") + (f".{frac}" if frac else ""))
        if raw.startswith("(") and raw.endswith(")") or raw.startswith("-"):
            bare = -bare  # (1,234) is negative in a statement
        factor = SCALES.get((scale or "").lower(), 1.0)
        out.append(Figure(raw, bare, bare * factor, len(frac or ""), bool(pct)))
    return out


def _tolerance(f: Figure) -> float:
    """Half a unit of the last digit written, plus half a percent for rounded inputs."""
    return 0.5 * 10 ** (-f.decimals) + 0.005 * abs(f.bare)


def _close(value: float, target: Figure) -> bool:
    if not math.isfinite(value):
        return False
    tol = _tolerance(target)
    # a figure with a scale word may come from a table at another scale: 2,234 (in millions)
    # written "$2.2 billion"; a bare figure is compared as it is
    factors = (1.0, 1e-3, 1e-6, 1e3, 1e6) if target.scaled != target.bare else (1.0,)
    return any(abs(abs(value) * factor - abs(target.bare)) <= tol for factor in factors)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.4g}"


def derive(target: Figure, inputs: list[Figure]) -> str | None:
    """How ``target`` follows from two of ``inputs`` (a formula), or None."""
    values = list(dict.fromkeys(abs(f.bare) for f in inputs))[:MAX_FIGURES]
    for a, b in permutations(values, 2):
        plain = [(a + b, f"{_fmt(a)} + {_fmt(b)}"), (a - b, f"{_fmt(a)} − {_fmt(b)}")]
        rates = []
        if b:
            plain.append((a / b, f"{_fmt(a)} ÷ {_fmt(b)}"))
            rates = [
                ((a - b) / b * 100, f"({_fmt(a)} − {_fmt(b)}) ÷ {_fmt(b)} × 100"),
                (a / b * 100, f"{_fmt(a)} ÷ {_fmt(b)} × 100"),
            ]
        # a percentage is read as a rate first: "20%" from 120 and 100 is the change, not 120 − 100
        candidates = rates + plain if target.percent else plain + rates
        for value, formula in candidates:
            if _close(value, target):
                return f"{target.text} = {formula}"
    return None


__all__ = ["Computation", "Figure", "computation", "derive", "figures"]
