"""Repair of fused words: "globaleader" -> "global leader", "Investorelations" -> "Investor relations".

Documents that went through a bad conversion lose the space between two words where the first ends
with the letter the second begins with, and that letter then appears once. Every decision below
comes from wordfreq's English lexicon (Zipf frequencies) and general rules; no list of any
document's words is used, and nothing is fetched.

A token that is not a word (Zipf below ``UNKNOWN_ZIPF``) is repaired when

* it splits at one letter, shared by both sides, into two common words (Zipf ≥ ``PART_ZIPF``; a
  three-letter side ≥ ``SHORT_PART_ZIPF``; a two-letter side only if it is a very common function
  word, Zipf ≥ ``FUNCTION_ZIPF``: "is", "at", "of", never "ai" or "ms"), the right side possibly split
  once more ("andatanalytics" -> "and data analytics");
* or one side is a long, rare but real word and the other a long common one
  ("metaversexperiences" -> "metaverse experiences");
* or it is an upper-case run fused to a capitalised word ("USanctions" -> "US Sanctions");
* or a lower-case word fused to a CamelCase name whose humps are words ("isenseTime" ->
  "is SenseTime");
* or a possessive fused to the next word ("SenseTime'strategy" -> "SenseTime's strategy");
* or, failing all of these, a common word followed by a copy of its own ending
  ("generationeration" -> "generation").

A rare real word ("athe", "intone": Zipf below ``RARE_ZIPF``) is split only by ``repair_text``, from
context: both parts must be very common (Zipf ≥ ``FUNCTION_ZIPF``) and far more frequent than the
whole (``RARE_GAP``), the token must be lower-case, follow a word that is not itself very common
("would intone the prayer" stays) and precede another word. A genuine lexeme (one whose inflections
are in the lexicon: "intoned", "intoning") needs, in addition, another repair within
``CONTEXT_WINDOW`` characters (evidence that the passage itself is corrupted), and must not be
followed by a determiner, which would make it a verb with its object ("intone the psalms").

Names, and clean text, are left alone. A token is a candidate by the rules above; a candidate is
repaired only when the document shows the corruption: at least ``MIN_EVIDENCE`` candidates that
start lower-case (a name cannot explain those), and at least one per ``EVIDENCE_CHARS`` characters.
A clean document has a stray candidate or two (a rare compound such as "backslides", a typo); the
corrupted profile has one every few hundred characters. Even then, a capitalised token ("the Chopins
kept", "with Deshin Shekpa") is a name unless it occurs only once in the document (a name recurs; a
fused pair of words rarely does). Both numbers were chosen on squad2-train articles (clean: at most one lower-case candidate each) and the bundled profile's
known corruption; see ``tests/test_repair.py``.

CamelCase names ("SenseTime"), words with digits, tokens shorter than 5 letters (rare-word splits
aside) and code (``isinstance(``, `` `isort` ``, ``-Werror``, ``class="termy"``) are never touched; a
part of a three-way split has at least three letters; "X'set" -> "X's set" needs a head of at least
``POSSESSIVE_HEAD`` letters unless what follows the s is not a word ("Ke'shawn" stays).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

UNKNOWN_ZIPF = 1.0  # below this, a token is not an English word
PART_ZIPF = 3.0  # each part of a split must be at least this common...
SHORT_PART_ZIPF = 4.0  # ...a three-letter part this common ("and", "for", not "cha")...
FUNCTION_ZIPF = 6.0  # ...a two-letter part this common ("is", "at", "of", "to")...
MULTI_PART_ZIPF = 3.5  # ...and every part of a three-way split this common
RARE_PART_ZIPF = 1.5  # a long side may be this rare when the other side is long and common
RARE_PART_LEN = 7
LONG_PART_LEN = 8
LONG_PART_ZIPF = 4.0
ECHO_LEN = 4  # "generationeration": the repeated ending is at least this long
RARE_ZIPF = 2.0  # a real word below this may be split, from context, into two very common words
RARE_GAP = 4.0  # ...each at least this much more frequent (Zipf) than the whole
LEXEME_ZIPF = 1.5  # an inflection this common makes a rare word a genuine lexeme
CONTEXT_WINDOW = 200  # characters either side in which another repair is evidence of corruption
MIN_TOKEN = 5
POSSESSIVE_HEAD = 4  # "X'set" -> "X's set" needs a head this long (or no word after the s)
# a word, not part of an address: no "." "/" "@" ":" glued to either side ("www.sensetime.com"),
# nor code: no backtick, brace or "=" around it, no "(" after it ("isinstance("), no "-" flag before it
TOKEN_RE = re.compile(
    r"(?<![\w./@:`{=])(?<!=[\"'])(?<!(?<!\S)-)"
    r"[A-Za-z]+(?:['’][A-Za-z]+)?"
    r"(?![\w/@`}(=]|\.\w|:\w)"
)
CAMEL_RE = re.compile(r"([a-z]{3,})((?:[A-Z][a-z]+)+)")
PREV_WORD_RE = re.compile(r"(?<![\w'’.@/:-])([A-Za-z]+) $")
NEXT_WORD_RE = re.compile(r" ([A-Za-z]+(?:['’][A-Za-z]+)?)")
DETERMINERS = set("a an the this these those his her its their our my your".split())
CONTRACTIONS = {"s", "t", "re", "ll", "ve", "d", "m"}
MIN_EVIDENCE = 3  # lower-case candidates a document needs before any repair is made...
EVIDENCE_CHARS = 5_000  # ...and at least one per this many characters


@dataclass(frozen=True)
class Evidence:
    """What a whole document shows: whether it is corrupted, and how often each token occurs."""

    corrupted: bool
    counts: dict
    n_lower: int = 0  # lower-case candidates seen

    def to_dict(self) -> dict:
        return {"corrupted": self.corrupted, "lower_case_candidates": self.n_lower}


# for a snippet known to come from a corrupted document (tests, a single sentence)
CORRUPTED = Evidence(True, {})


@lru_cache(maxsize=8)
def evidence_of(text: str) -> Evidence:
    """The evidence of corruption in ``text`` (a whole document); cached for the last few texts."""
    counts: dict[str, int] = {}
    for m in TOKEN_RE.finditer(text):
        token = m.group(0)
        if token[:1].isupper():
            counts[token] = counts.get(token, 0) + 1
    n_lower = sum(1 for e in _candidates(text) if e.original[:1].islower())
    corrupted = n_lower >= MIN_EVIDENCE and n_lower * EVIDENCE_CHARS >= len(text)
    return Evidence(corrupted, counts, n_lower)


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
    n = len(word)
    if n < 2:
        return False
    if n == 2:
        return zipf(word.lower()) >= FUNCTION_ZIPF
    return zipf(word.lower()) >= (max(floor, SHORT_PART_ZIPF) if n == 3 else floor)


def _is_long_pair(left: str, right: str) -> bool:
    """One side long and rare but real, the other long and common ("metaverse" + "experiences")."""
    for rare, other in ((left, right), (right, left)):
        if (
            len(rare) >= RARE_PART_LEN
            and zipf(rare) >= RARE_PART_ZIPF
            and len(other) >= LONG_PART_LEN
            and zipf(other) >= LONG_PART_ZIPF
        ):
            return True
    return False


@lru_cache(maxsize=100_000)
def split_shared(word: str, depth: int = 2) -> tuple[str, ...] | None:
    """Split a lower-case non-word into common words sharing one letter at each seam, or None."""
    best: tuple[float, tuple[str, ...]] | None = None
    for i in range(2, len(word)):
        left, right = word[:i], word[i - 1 :]
        if _is_part(left) and _is_part(right):
            parts = (left, right)
        elif _is_part(left) and depth > 1 and zipf(right) < UNKNOWN_ZIPF:
            rest = split_shared(right, depth - 1)
            parts = (left, *rest) if rest else ()
            if not parts or not all(len(p) > 2 and _is_part(p, MULTI_PART_ZIPF) for p in parts):
                continue
        elif depth > 1 and _is_long_pair(left, right):
            parts = (left, right)  # scored by its rare side: any split into common words wins
        else:
            continue
        score = min(zipf(p) for p in parts) - 0.5 * (len(parts) - 2)
        if best is None or score > best[0]:
            best = (score, parts)
    return best[1] if best else None


def _echo(word: str) -> str | None:
    """A common word followed by a copy of its own ending ("generationeration"), as the word."""
    for i in range(MIN_TOKEN, len(word) - ECHO_LEN + 1):
        head, tail = word[:i], word[i:]
        if len(tail) < len(head) and head.endswith(tail) and _is_part(head):
            return head
    return None


def _camel(token: str) -> str | None:
    """A lower-case word fused to a CamelCase name: "isenseTime" -> "is SenseTime"."""
    m = CAMEL_RE.fullmatch(token)
    if not m or zipf(m.group(1)) >= UNKNOWN_ZIPF:
        return None  # "assetManager": a word then a hump is an identifier, not a fusion
    low, humps = m.groups()
    for i in range(2, len(low) - 1):
        left, first = low[:i], low[i - 1 :]
        rest = re.findall(r"[A-Z][a-z]+", humps)
        if _is_part(left) and all(_is_part(h) for h in (first, *rest)):
            return f"{left} {first.capitalize()}{humps}"
    return None


def _possessive(token: str) -> str | None:
    head, _, tail = token.replace("’", "'").partition("'")
    if len(head) < 2 or not tail.islower():
        return None
    fixed_head = _repair_word(head) if zipf(head.lower()) < UNKNOWN_ZIPF else None
    if tail in CONTRACTIONS:  # "globaleader's"
        return f"{fixed_head}'{tail}" if fixed_head else None
    # "SenseTime'strategy": a possessive 's whose s also starts the next word
    if not tail.startswith("s"):
        return None
    if len(head) < POSSESSIVE_HEAD and zipf(tail[1:]) >= UNKNOWN_ZIPF:
        return None  # "Ke'shawn", "Ja'sean": a short head and a word after the s is a name
    if _is_part(tail):
        return f"{fixed_head or head}'s {tail}"
    if zipf(tail) < UNKNOWN_ZIPF:
        parts = split_shared(tail)
        if parts:
            return f"{fixed_head or head}'s {' '.join(parts)}"
    return None


def _repair_word(token: str) -> str | None:
    """The repaired form of a non-word without an apostrophe, or None."""
    if len(token) < MIN_TOKEN or zipf(token.lower()) >= UNKNOWN_ZIPF:
        return None
    m = re.fullmatch(r"([A-Z]{2,})([a-z]{2,})", token)
    if m:
        upper, rest = m.groups()
        right = upper[-1] + rest
        if zipf(upper.lower()) >= PART_ZIPF and _is_part(right):
            return f"{upper} {right}"
        return None
    if token[0].islower() and not token.islower():
        return _camel(token)
    if not (token.islower() or (token[0].isupper() and token[1:].islower())):
        return None  # CamelCase and other mixed case: a name, not a fusion
    low = token.lower()
    parts = split_shared(low)
    if parts is None:
        echo = _echo(low)
        if echo is None:
            return None
        parts = (echo,)
    if token[0].isupper():
        parts = (parts[0].capitalize(), *parts[1:])
    return " ".join(parts)


def repair_token(token: str) -> str | None:
    """The repaired form of one token, or None when it should stay as it is (out of context:
    rare real words such as "intone" are only split by ``repair_text``)."""
    if "'" in token or "’" in token:
        return _possessive(token)
    return _repair_word(token)


@lru_cache(maxsize=100_000)
def _rare_split(word: str) -> tuple[tuple[str, str], bool] | None:
    """A rare real word that reads as two very common words ("athe" -> at the), and whether it is
    a genuine lexeme (its inflections are in the lexicon: "intoned", "intoning")."""
    if not word.isalpha() or not word.islower():
        return None
    whole = zipf(word)
    if not UNKNOWN_ZIPF <= whole < RARE_ZIPF:
        return None
    best = None
    for i in range(2, len(word) - 1):
        left, right = word[:i], word[i - 1 :]
        low = min(zipf(left), zipf(right))
        if low >= FUNCTION_ZIPF and whole <= low - RARE_GAP and (best is None or low > best[0]):
            best = (low, (left, right))
    if best is None:
        return None
    stem = word[:-1] if word.endswith("e") else word
    inflections = {word + "s", word + "es", stem + "ed", stem + "ing"}
    lexeme = sum(zipf(f) >= LEXEME_ZIPF for f in inflections) >= 2
    return best[1], lexeme


def _rare_context(text: str, start: int, end: int, lexeme: bool) -> bool:
    """Preceded by a word that is not very common, followed by a word; a lexeme must not be
    followed by a determiner, its likely object ("monks intone the psalms")."""
    prev = PREV_WORD_RE.search(text, max(0, start - 40), start)
    if prev is None or zipf(prev.group(1).lower()) >= FUNCTION_ZIPF:
        return False
    nxt = NEXT_WORD_RE.match(text, end)
    if nxt is None:
        return False
    if lexeme:
        word = nxt.group(1)
        fixed = repair_token(word)  # "intone thevening": the next word may be fused too
        if (fixed or word).split()[0].lower() in DETERMINERS:
            return False
    return True


def repair_text(text: str, evidence: Evidence | None = None) -> tuple[str, list[Edit]]:
    """Repair every fused token of ``text``; returns the new text and the edits (old offsets).

    ``evidence`` is that of the whole document ``text`` comes from (default: ``text`` itself is the
    document): nothing is repaired in a document that does not show the corruption, and a
    capitalised token inside a sentence that recurs in the document is a name."""
    evidence = evidence if evidence is not None else evidence_of(text)
    if not evidence.corrupted:
        return text, []
    edits = [
        e
        for e in _candidates(text)
        if not (
            e.original[:1].isupper()
            and e.original[1:].islower()
            and evidence.counts.get(e.original, 1) > 1
        )
    ]
    if not edits:
        return text, []
    out: list[str] = []
    pos = 0
    for e in edits:
        out.append(text[pos : e.start])
        out.append(e.replacement)
        pos = e.end
    out.append(text[pos:])
    return "".join(out), edits


def _candidates(text: str) -> list[Edit]:
    """Every token the rules above would repair, in order (before the document's evidence)."""
    edits: list[Edit] = []
    lexemes: list[Edit] = []  # rare real words: kept only near another repair
    for m in TOKEN_RE.finditer(text):
        token = m.group(0)
        fixed = repair_token(token)
        if fixed is not None:
            edits.append(Edit(m.start(), m.end(), token, fixed))
            continue
        rare = _rare_split(token)
        if rare is None or not _rare_context(text, m.start(), m.end(), rare[1]):
            continue
        edit = Edit(m.start(), m.end(), token, " ".join(rare[0]))
        (lexemes if rare[1] else edits).append(edit)
    for e in lexemes:
        if any(abs(o.start - e.start) <= CONTEXT_WINDOW for o in edits if o is not e):
            edits.append(e)
    edits.sort(key=lambda e: e.start)
    return edits


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
