"""Follow-up questions: rewrite an elliptic question into a standalone one, using earlier turns.

The kinds of follow-up recognised, with rules that name no word of any corpus:

* pronouns — "When was it built?" after "Who built the Acme tower?" -> "When was the Acme tower
  built?" (it/its/they/them/their/he/his/she/her are replaced by the topic of the previous
  question);
* ellipsis — "And RoboMop?" / "What about Home Line?" after "What is RoboVac?" -> "What is
  RoboMop?"; "And for the press?" after "What is X's customer support email?" -> "What is X's
  press email?": the new phrase replaces the part of the previous question it stands for (a
  number a number, a name a name, a common noun a noun's modifier; see ``swap_slot``);
* a conjunction before a question of its own — "And who chairs the board?" -> "Who chairs the
  board?";
* bare questions with no content word: "When was that?" after "Who designed X?" -> "When was X
  designed?"; "How many are there?" after "Which bridges does Oslo have?" -> "How many bridges
  does Oslo have?"; any other ("Where?", "Why?") keeps its question word and takes the previous
  question's content words along in brackets;
* "else", or "there" as a place ("What else does it sell?", "Why did they build it there?") -> the
  other words of the previous question are appended in brackets, so the search keeps its context.

``resolve`` also says how the question was understood whenever the rewrite changed it, and the
answer shows that, so a wrong guess is visible rather than silently answered.

The topic of a question is a standalone name in it (not a possessive, not an adjective like "EU"
in "EU trade register"), else its first name, else its content words. Anything else is returned
unchanged. No model is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.lexical import AUXILIARIES, STOPWORDS, words

NUMBER_RE = re.compile(r"\d")

QUESTION_WORDS = {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "is",
    "are",
    "was",
    "were",
    "do",
    "does",
    "did",
    "can",
    "could",
    "tell",
    "list",
    "name",
    "give",
    "and",
    "so",
    "please",
    "describe",
    "explain",
    "show",
    "in",
    "on",
    "for",
    "about",
}
PRONOUNS = {
    "it": "{t}",
    "its": "{t}'s",
    "they": "{t}",
    "them": "{t}",
    "their": "{t}'s",
    "he": "{t}",
    "him": "{t}",
    "his": "{t}'s",
    "she": "{t}",
    "her": "{t}'s",
    "itself": "{t}",
    "theirs": "{t}'s",
}
ELLIPSIS_RE = re.compile(
    r"^\s*(?:and|but|also|then)?\s*(?:what|how)\s+about\s+(?P<x>.+?)\s*[?.!]*\s*$"
    r"|^\s*(?:and|but|also)\s+(?:for\s+|of\s+|in\s+)?(?P<y>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
PERSONAL = {"he", "him", "his", "she", "her"}  # replaced only by a person's name
WH = "what|which|who|whom|whose|where|when|why|how"
AUX = "|".join(AUXILIARIES)
AUXES = set(AUXILIARIES)
COPULAS = {"is", "are", "was", "were"}
LEADING_RE = re.compile(r"^(?:(?:for|of|in|on|about|with|to|the|a|an|its|their|his|her)\s+)+", re.I)
# a follow-up that leans on the last question without naming it: "else", or "there" as a place
# (not "is there", "there are")
CARRY_RE = re.compile(
    r"\belse\b|(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )\bthere\b(?!\s+(?:is|are|was|were)\b)",
    re.IGNORECASE,
)
TOKEN_RE = re.compile(r"[\w'’&.+-]*\w")
NAME_RE = re.compile(r"[A-Z0-9][\w'’&.-]*(?:\s+(?:of\s+|&\s+|and\s+)?[A-Z0-9][\w'’&.-]*)*")


def _names(question: str) -> list[tuple[str, bool]]:
    """Name-like runs of capitalised words, each cut at a possessive ("Acme's 2023" ->
    "Acme"), with whether the run is standalone: not a possessive and not followed by a
    lowercase content word ("US" in "US government list" modifies the noun after it)."""
    q = question.strip().rstrip("?.! ")
    out = []
    for m in NAME_RE.finditer(q):
        tokens = m.group(0).split()
        # drop a leading question word ("What", "Who") that is capitalised only by position
        while tokens and tokens[0].lower() in QUESTION_WORDS | STOPWORDS:
            tokens = tokens[1:]
        possessive = False
        for i, tok in enumerate(tokens):
            if re.search(r"['’]s$", tok):
                tokens = tokens[: i + 1]
                possessive = True
                break
        while tokens and tokens[-1].lower() in {"of", "and", "&"}:
            tokens = tokens[:-1]
        if not tokens or not re.search(r"[^\W\d_]", " ".join(tokens)):
            continue  # a number ("2023") is not a name
        name = re.sub(r"['’]s$", "", " ".join(tokens))
        after = q[m.end() :].split()
        attributive = bool(after) and after[0].islower() and after[0] not in STOPWORDS | AUXES
        out.append((name, not possessive and not attributive))
    return out


def topic(question: str) -> str:
    """The thing a question is about: a standalone name ("Acme" in "Which EU trade register is
    Acme on?"), else its first name, else its content words."""
    names = _names(question)
    for name, standalone in names:
        if standalone:
            return name
    if names:
        return names[0][0]
    q = question.strip().rstrip("?.! ")
    content = [w for w in words(q) if w not in STOPWORDS and w not in QUESTION_WORDS]
    return " ".join(content)


def _is_person(name: str) -> bool:
    """Looks like a person's name: two or more capitalised words, or an honorific."""
    parts = name.split()
    return (
        len(parts) >= 2
        and all(p[:1].isupper() for p in parts)
        or bool(re.match(r"(professor|prof|dr|mr|mrs|ms|sir|dame)\b", name, re.I))
    )


def _has_own_name(question: str) -> bool:
    return bool(topic(question)) and any(ch.isupper() for ch in topic(question))


def rewrite_one(question: str, previous: str) -> str:
    """Rewrite ``question`` given the previous standalone question."""
    out = _rewrite_one(question, previous)
    if CARRY_RE.search(question):
        # "What else ...?", "Why did they build it there?": the last question's words go along
        context = _context(previous, set(words(out)))
        if context:
            out = f"{out.rstrip('?.! ')} ({' '.join(context)})?"
    return out


def _rewrite_one(question: str, previous: str) -> str:
    prev_topic = topic(previous)
    if not prev_topic:
        return question
    m = ELLIPSIS_RE.match(question)
    if m:
        new = (m.group("x") or m.group("y") or "").strip()
        prep = (
            re.match(r"(?i)(for|of|in|on|with|about)\s+", question.split(None, 1)[-1])
            if m.group("y")
            else None
        )
        if new and new.lower() not in PRONOUNS:
            wh = re.match(rf"(?i)({WH})\b", new)
            if wh and set(words(new)) & AUXES:
                # "And who is the CEO?": a question of its own after the conjunction
                return rewrite_one(f"{new[0].upper()}{new[1:]}?", previous)
            if wh:
                # "And which banks?" after "Which shipping firms does X work with?":
                # the new question phrase replaces the old one
                old_wh = re.match(rf"(?i)\s*({WH})\b.*?(?=\s+({AUX})\b)", previous)
                if old_wh:
                    return new[0].upper() + new[1:] + previous[old_wh.end() :]
            swapped = swap_slot(previous, new)
            if swapped:
                return swapped
            if prev_topic in previous:
                return previous.replace(prev_topic, new, 1)
            glue = f" {prep.group(1).lower()} " if prep else " "
            return f"{previous.rstrip('?.! ')}{glue}{new}?"
    tokens = re.split(r"(\W+)", question)
    lowered = [t.lower() for t in tokens]
    if not _has_own_name(question) and any(t in PRONOUNS for t in lowered):
        out = []
        replaced = False
        for tok, low in zip(tokens, lowered, strict=True):
            if not replaced and low in PRONOUNS and (low not in PERSONAL or _is_person(prev_topic)):
                out.append(PRONOUNS[low].format(t=prev_topic))
                replaced = True
            else:
                out.append(tok)
        return "".join(out)
    content = [w for w in words(question) if w not in STOPWORDS and w not in QUESTION_WORDS]
    if not content:
        return (
            _passive(question, previous)
            or _counted(question, previous)
            or _carry(question, previous)
        )
    return question


def _context(previous: str, known: set[str] = frozenset()) -> list[str]:
    """The content tokens of the previous question, in order, without those in ``known``."""
    return list(
        dict.fromkeys(
            tok
            for i, tok in enumerate(TOKEN_RE.findall(previous))
            if (
                tok.lower() not in STOPWORDS | QUESTION_WORDS | AUXES
                or (i > 0 and tok[:1].isupper() and tok.lower() not in QUESTION_WORDS | AUXES)
            )
            and not set(words(tok)) <= known
        )
    )


def _carry(question: str, previous: str) -> str:
    """A bare follow-up ("When was that?", "Why?") keeps its own question word and takes the
    previous question's content words along: "When was that? (A B C)"."""
    context = _context(previous, set(words(question)))
    if not context:
        return question
    return f"{question.rstrip('?.! ')} ({' '.join(context)})?"


def _counted(question: str, previous: str) -> str | None:
    """ "How many are there?" after "Which bridges cross the river?" -> "How many bridges cross
    the river?": the count is of what the previous question asked about (its words after the
    question word, up to its verb)."""
    if not re.match(r"(?i)\s*how many\b", question):
        return None
    m = re.match(
        rf"(?i)\s*(?:what|which)\s+(?P<np>(?:(?!(?:{AUX})\b)[\w'’-]+\s+){{0,3}}?[\w'’-]+s)\b"
        r"(?P<rest>.*?)[?.!]*\s*$",
        previous,
    )
    if not m:
        return None
    return f"How many {m.group('np')}{m.group('rest')}?"


def _passive(question: str, previous: str) -> str | None:
    """ "When was that?" after "Who designed the Acme tower?" -> "When was the Acme tower
    designed?": a bare
    question with a form of "to be" asks about the event of a "who <verb>ed <object>" question."""
    bare = re.match(
        rf"(?i)\s*({WH})\s+(was|were|is|are)\b(?:\s+(?:that|this|it))?\s*[?.!]*\s*$", question
    )
    event = re.match(r"(?i)\s*(?:who|what)\s+(\w+ed)\s+(.+?)\s*[?.!]*\s*$", previous)
    if not bare or not event or set(words(event.group(2))) & AUXES:
        return None
    wh = bare.group(1)
    return f"{wh[0].upper()}{wh[1:].lower()} {bare.group(2).lower()} {event.group(2)} {event.group(1)}?"


def swap_slot(previous: str, new: str) -> str | None:
    """ "And for the press?" after "What is Acme's customer support email?" -> "What is
    Acme's press email?": the new phrase replaces the part of the previous question it stands
    for. Candidates are the modifiers of its noun phrases ("investor relations" of "... email") and
    its single-word noun phrases; never the noun asked for ("email" in "What email ..."), a verb,
    or, while another candidate exists, a possessive ("Acme's"). A number replaces a number,
    a name a name, a common noun a common noun; the last fitting candidate wins. None when
    nothing fits."""
    x = LEADING_RE.sub("", new.strip())
    x = re.sub(r"(?i)\s+ones?$", "", x).strip()
    if not x or not words(x):
        return None
    toks = [(m.start(), m.end(), m.group(0)) for m in TOKEN_RE.finditer(previous)]
    low = [t[2].lower() for t in toks]
    if not toks or not re.match(rf"(?i)({WH})\b", low[0]):
        return None
    aux = next((i for i, w in enumerate(low) if w in AUXES), None)
    copula = low[0].endswith(("'s", "’s")) or (aux is not None and low[aux] in COPULAS)
    excluded = set()
    if aux is None:
        excluded.add(1)  # "Who designed Acme?": the word after the question word is a verb
    elif aux == 2:
        excluded.add(1)  # "What email should ...": the noun asked for
    if aux is not None and not copula:
        # "... does Acme trade with?": the last content word is the main verb
        last = max((i for i, w in enumerate(low) if i > aux and w not in STOPWORDS), default=None)
        if last is not None:
            excluded.add(last)

    def content(i: int) -> bool:
        w = low[i]
        return i > 0 and i not in excluded and w not in STOPWORDS | QUESTION_WORDS | AUXES

    runs, run = [], []
    for i in range(len(toks)):
        if content(i):
            run.append(i)
            if re.search(r"['’]s$", low[i]):
                runs.append(run)
                run = []
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    candidates = []
    for r in runs:
        # a noun phrase ending in a common noun is replaced in its modifiers ("investor relations"
        # of "investor relations email"); a name ("Smart City") or a single word as a whole
        span = r[:-1] if len(r) > 1 and toks[r[-1]][2][:1].islower() else r
        text = previous[toks[span[0]][0] : toks[span[-1]][1]]
        possessive = bool(re.search(r"['’]s$", text))
        candidates.append((toks[span[0]][0], toks[span[-1]][1], text, possessive))
    if NUMBER_RE.search(x):
        fits = [c for c in candidates if NUMBER_RE.search(c[2])]
    elif x[:1].isupper():
        fits = [c for c in candidates if c[2][:1].isupper() and not NUMBER_RE.search(c[2])]
    else:
        fits = [c for c in candidates if c[2][:1].islower() and not NUMBER_RE.search(c[2])]
    fits = [c for c in fits if not c[3]] or fits
    if not fits:
        return None
    start, end, text, possessive = fits[-1]
    suffix = "'s" if possessive else ""
    return f"{previous[:start]}{x}{suffix}{previous[end:]}"


@dataclass
class Resolved:
    """A follow-up resolved: the standalone ``query`` and, when it differs from the question as
    asked, ``understood_as`` (the same query), which the answer shows so a wrong guess is seen."""

    query: str
    understood_as: str | None = None


def resolve(question: str, history: list[str]) -> Resolved:
    """``rewrite``, saying how the question was understood when that took a guess."""
    query = rewrite(question, history)
    return Resolved(query, query if query != question else None)


def rewrite(question: str, history: list[str]) -> str:
    """The standalone form of ``question`` after the user questions in ``history`` (oldest first)."""
    if not history:
        return question
    previous = history[0]
    for turn in history[1:]:
        previous = rewrite_one(turn, previous)
    return rewrite_one(question, previous)
