"""Repair of fused words: "globaleader" -> "global leader", "Investorelations" -> "Investor relations".

Documents that went through a bad conversion lose the space between two words where the first ends
with the letter the second begins with, and that letter then appears once. A token is repaired when

* it is not a word: its frequency in wordfreq's English lexicon is below ``UNKNOWN_ZIPF`` (the
  lexicon knows typos and names, so "athe" or "intone" are left alone: conservative by design);
* it can be split at one letter, shared by both sides, into two words that are each common
  (Zipf frequency ≥ ``PART_ZIPF``), the right side possibly split once more ("andatanalytics" ->
  "and data analytics");
* or it is an upper-case run fused to a capitalised word ("USanctions" -> "US Sanctions"), or a
  possessive fused to the next word ("SenseTime'strategy" -> "SenseTime's strategy").

CamelCase names ("SenseTime"), words with digits, and tokens shorter than 5 letters are never
touched. The lexicon is wordfreq's bundled data: nothing is fetched, and no list of any document's
words is used.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

UNKNOWN_ZIPF = 1.0  # below this, a token is not an English word
PART_ZIPF = 3.0  # each part of a split must be at least this common...
SHORT_PART_ZIPF = 4.0  # ...a three-letter part this common ("and", "for", not "cha")...
MULTI_PART_ZIPF = 3.5  # ...and every part of a three-way split this common
MIN_TOKEN = 5
# a word, not part of an address: no "." "/" "@" ":" glued to either side ("www.sensetime.com")
TOKEN_RE = re.compile(r"(?<![\w./@:])[A-Za-z]+(?:['’][A-Za-z]+)?(?![\w/@]|\.\w|:\w)")
CONTRACTIONS = {"s", "t", "re", "ll", "ve", "d", "m"}


@dataclass(frozen=True)
class Edit:
    start: int  # offsets in the text that was repaired
    end: int
    original: str
    replacement: str

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "original": self.original,
            "replacement": self.replacement,
        }


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


def _is_part(word: str, floor: float = PART_ZIPF) -> bool:
    """Common enough to be one side of a split."""
    if len(word) < 3:
        return False
    return zipf(word.lower()) >= (max(floor, SHORT_PART_ZIPF) if len(word) == 3 else floor)


@lru_cache(maxsize=100_000)
def split_shared(word: str, depth: int = 2) -> tuple[str, ...] | None:
    """Split a lower-case non-word into common words sharing one letter at each seam, or None."""
    best: tuple[float, tuple[str, ...]] | None = None
    for i in range(2, len(word) - 1):
        left, right = word[:i], word[i - 1 :]
        if not _is_part(left):
            continue
        if _is_part(right):
            parts = (left, right)
        elif depth > 1 and zipf(right) < UNKNOWN_ZIPF:
            rest = split_shared(right, depth - 1)
            if rest is None or not all(_is_part(p, MULTI_PART_ZIPF) for p in (left, *rest)):
                continue
            parts = (left, *rest)
        else:
            continue
        score = min(zipf(p) for p in parts) - 0.5 * (len(parts) - 2)
        if best is None or score > best[0]:
            best = (score, parts)
    return best[1] if best else None


def repair_token(token: str) -> str | None:
    """The repaired form of one token, or None when it should stay as it is."""
    if "'" in token or "’" in token:
        head, _, tail = token.replace("’", "'").partition("'")
        # "SenseTime'strategy": a possessive 's whose s also starts the next word
        if tail in CONTRACTIONS or not tail.startswith("s") or not tail.islower():
            return None
        if _is_part(tail) and zipf(tail[1:]) < UNKNOWN_ZIPF:
            return f"{head}'s {tail}"
        return None
    if len(token) < MIN_TOKEN or zipf(token.lower()) >= UNKNOWN_ZIPF:
        return None
    m = re.fullmatch(r"([A-Z]{2,})([a-z]{2,})", token)
    if m:
        upper, rest = m.groups()
        right = upper[-1] + rest
        if zipf(upper.lower()) >= PART_ZIPF and _is_part(right):
            return f"{upper} {right}"
        return None
    if not (token.islower() or (token[0].isupper() and token[1:].islower())):
        return None  # CamelCase and other mixed case: a name, not a fusion
    parts = split_shared(token.lower())
    if parts is None:
        return None
    if token[0].isupper():
        parts = (parts[0].capitalize(), *parts[1:])
    return " ".join(parts)


def repair_text(text: str) -> tuple[str, list[Edit]]:
    """Repair every fused token of ``text``; returns the new text and the edits (old offsets)."""
    edits: list[Edit] = []
    out: list[str] = []
    pos = 0
    for m in TOKEN_RE.finditer(text):
        fixed = repair_token(m.group(0))
        if fixed is None:
            continue
        out.append(text[pos : m.start()])
        out.append(fixed)
        edits.append(Edit(m.start(), m.end(), m.group(0), fixed))
        pos = m.end()
    if not edits:
        return text, []
    out.append(text[pos:])
    return "".join(out), edits


def diff(original: str, repaired: str, name: str = "text") -> str:
    """A unified diff of a repair, line by line."""
    return "".join(
        difflib.unified_diff(
            original.splitlines(keepends=True),
            repaired.splitlines(keepends=True),
            fromfile=f"{name} (original)",
            tofile=f"{name} (repaired)",
        )
    )
