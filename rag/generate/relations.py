"""Checks of a generated sentence against its best supporting units that a bag of words and a
sentence vector cannot make: the sentence's facts must sit where the source puts them.

- **antonym**: the sentence uses a word whose opposite its best supporting unit uses instead
  ("admits" where the source says "denies", "rose" where it says "fell"); a small lexicon of
  opposite pairs, compared by stem.
- **anchor**: every name and number of the sentence must come from a unit of the cited sources
  that also holds the words the sentence puts just before it ("founded by <the listing venue>"
  when the venue's unit is about the listing, not the founding), unless that unit is the
  sentence's best support. This catches an entity or a date moved between the sentences of one
  passage, which the name and number checks (they look at the whole passage) let through.
- **role swap**: two names the source writes as "A <verb> B" and the sentence as "B <verb> A".

What these do not do: read syntax. A paraphrase that moves a name far from the words of its source
sentence can be removed, and a swap that keeps the words around each name is not seen.
"""

from __future__ import annotations

import re

from rag.lexical import STOPWORDS, stem

# opposite pairs, either way round; compared by stem ("admits" ~ "admit", "denies" ~ "deni")
OPPOSITES = [
    ("admit", "deny"),
    ("confirm", "deny"),
    ("accept", "reject"),
    ("approve", "reject"),
    ("increase", "decrease"),
    ("increase", "decline"),
    ("rise", "fall"),
    ("rose", "fell"),
    ("grow", "shrink"),
    ("gain", "lose"),
    ("win", "lose"),
    ("won", "lost"),
    ("profit", "loss"),
    ("success", "failure"),
    ("succeed", "fail"),
    ("include", "exclude"),
    ("allow", "forbid"),
    ("allow", "prohibit"),
    ("support", "oppose"),
    ("buy", "sell"),
    ("bought", "sold"),
    ("import", "export"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("larger", "smaller"),
    ("largest", "smallest"),
    ("more", "fewer"),
    ("most", "least"),
    ("before", "after"),
    ("earlier", "later"),
    ("first", "last"),
    ("above", "below"),
    ("north", "south"),
    ("east", "west"),
    ("northern", "southern"),
    ("eastern", "western"),
    ("majority", "minority"),
    ("public", "private"),
    ("open", "closed"),
    ("legal", "illegal"),
    ("true", "false"),
    ("maximum", "minimum"),
    ("strengthen", "weaken"),
    ("join", "leave"),
    ("joined", "left"),
    ("hire", "fire"),
    ("appoint", "dismiss"),
    ("acquire", "divest"),
    ("expand", "reduce"),
    ("positive", "negative"),
    ("inside", "outside"),
    ("internal", "external"),
    ("domestic", "foreign"),
    ("ancient", "modern"),
    ("victory", "defeat"),
    ("ally", "enemy"),
]
_OPPOSITE: dict[str, set[str]] = {}
for _a, _b in OPPOSITES:
    _OPPOSITE.setdefault(stem(_a), set()).add(stem(_b))
    _OPPOSITE.setdefault(stem(_b), set()).add(stem(_a))

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'’&.-]*[A-Za-z0-9]|[A-Za-z]|\d[\d,.]*")
_CLAUSE = re.compile(r"[,;:()—–]|\b(?:and|but|while|whereas|which|who|after|before)\b")


def _stems(text: str) -> set[str]:
    return {stem(w.lower()) for w in re.findall(r"[A-Za-z]+", text)}


def antonym(body: str, unit: str) -> tuple[str, str] | None:
    """(the sentence's word, the unit's opposite word) when the sentence says the opposite."""
    mine, theirs = _stems(body), _stems(unit)
    for w in re.findall(r"[A-Za-z]+", body):
        s = stem(w.lower())
        if s in theirs:
            continue
        for o in _OPPOSITE.get(s, ()):
            if o in theirs and o not in mine:
                said = next(x for x in re.findall(r"[A-Za-z]+", unit) if stem(x.lower()) == o)
                return w, said
    return None


def _anchors(body: str, initial: bool = False) -> list[tuple[str, list[str]]]:
    """Names (runs of capitalised words; the sentence's first word only with ``initial``) and
    numbers of ``body``, each with the content words just before it in its clause (up to
    three)."""
    tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(body)]
    out = []
    i = 0
    while i < len(tokens):
        tok, at = tokens[i]
        is_number = tok[0].isdigit()
        is_name = tok[0].isupper() and (i > 0 or initial) and tok.lower() not in STOPWORDS
        if not (is_number or is_name):
            i += 1
            continue
        j = i + 1
        if is_name:  # a run of capitalised words is one name: "Hong Kong Stock Exchange"
            while (
                j < len(tokens)
                and tokens[j][0][0].isupper()
                and not body[tokens[j - 1][1] + len(tokens[j - 1][0]) : tokens[j][1]].strip()
            ):
                j += 1
        anchor = " ".join(t for t, _ in tokens[i:j])
        clause_start = max((m.end() for m in _CLAUSE.finditer(body, 0, at)), default=0)
        before = [k for k in range(i - 1, -1, -1) if tokens[k][1] >= clause_start]
        context = [tokens[k][0] for k in before if _context_word(tokens, k, body)][:3]
        if not context:  # "Automotive: A, B, C": the label its list stands under
            labels = [k for k in range(i - 1, -1, -1) if _label(tokens, k, body)]
            context = [tokens[labels[0]][0]] if labels else []
        if not context:  # "In 1829, soon after ...": the words after it, in the next clause
            after = [k for k in range(j, len(tokens)) if _context_word(tokens, k, body)]
            if after:
                ends = [m.start() for m in _CLAUSE.finditer(body, tokens[after[0]][1])]
                stop = ends[0] if ends else len(body)
                context = [tokens[k][0] for k in after if tokens[k][1] < stop][:3]
        out.append((anchor, [w.lower() for w in context]))
        i = j
    return out


def _context_word(tokens, k: int, body: str) -> bool:
    """Whether token ``k`` says what a name or number is about: a lower-case content word, or a
    capitalised one that labels ("Founded: 2014") or opens the sentence as a common word; not a
    name, a number, a stop word or a tiny word."""
    w, at = tokens[k]
    if w[0].isdigit() or w.lower() in STOPWORDS or len(w) < 3:
        return False
    if w[0].islower():
        return True
    labels = body[at + len(w) : at + len(w) + 2].lstrip().startswith(":")
    return labels or (k == 0 and _common(w))


def _label(tokens, k: int, body: str) -> bool:
    w, at = tokens[k]
    return body[at + len(w) : at + len(w) + 2].lstrip().startswith(":") and _context_word(
        tokens, k, body
    )


def _common(word: str) -> bool:
    from rag.repair import zipf

    return zipf(word.lower()) >= 3.0


def _holds(unit_text: str, anchor: str) -> bool:
    squashed = re.sub(r"[^0-9a-z]", "", unit_text.lower())
    key = re.sub(r"[^0-9a-z]", "", anchor.lower())
    return bool(key) and key in squashed


def _near(word: str, unit_words: set[str]) -> bool:
    """The word, or one of the same stem or the same first five letters, is in the unit."""
    w = word.lower()
    s = stem(w)
    return any(u == w or stem(u) == s or (len(w) >= 5 and u[:5] == w[:5]) for u in unit_words)


def misplaced(body: str, units: list[str], best: str) -> tuple[str, str] | None:
    """(anchor, its context word) for a name or number the sentence puts after words that no unit
    holding it has (and the best unit does not hold it); None when every anchor is in place."""
    for anchor, context in _anchors(body):
        if not context:
            continue
        holders = [u for u in units if _holds(u, anchor)]
        if not holders or any(u == best for u in holders):
            continue  # not in a unit (a heading, the passage as a whole) or in the best one
        for u in holders:
            words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z&]*", u)}
            if any(_near(c, words) for c in context):
                break
        else:
            return anchor, context[0]
    return None


def role_swap(body: str, unit: str) -> tuple[str, str] | None:
    """(A, B) when the unit says "A <words> B" and the sentence "B <same words> A"."""
    names = [a for a, _ in _anchors(body, initial=True) if not a[0].isdigit()]
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            s = re.search(re.escape(first) + r"(.{1,60}?)" + re.escape(second), body)
            u = re.search(re.escape(second) + r"(.{1,60}?)" + re.escape(first), unit)
            if not (s and u) or _holds(unit, f"{first}{s.group(1)}{second}"):
                continue
            between_s = _content(s.group(1))
            between_u = _content(u.group(1))
            if " by " in f" {s.group(1)} " or " by " in f" {u.group(1)} ":
                continue  # a passive ("B was bought by A") says the same
            if between_s and between_s == between_u:
                return first, second
    return None


def _content(text: str) -> tuple[str, ...]:
    return tuple(
        stem(w.lower()) for w in re.findall(r"[A-Za-z]+", text) if w.lower() not in STOPWORDS
    )
