"""Question analysis: what a question asks for, read once, before any passage is looked at.

``analyse`` turns a question (and the conversation before it) into a ``QuestionAnalysis``: the
standalone query (follow-ups resolved by ``rag.followup``, with a note on how it was understood when
the resolution is a guess), the kind of thing asked for (``rag.answer.kinds``), whether it is a
yes/no or a list question, what it counts ("how many N"), the noun it asks about, the names and
numbers it holds, what it excludes ("besides X") and whether it asks about the present moment.

Every pattern here is English grammar, not a phrase of any document or question set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.abbreviations import expand
from rag.answer.kinds import question_kind
from rag.lexical import AUXILIARIES, STOPWORDS, stem, words
from rag.periods import normalise_query

NUMBER_RE = re.compile(r"\d")
ENUMERATE_RE = re.compile(
    r"^\s*(list|name|enumerate|give me|what are|what were|which are|which were|who are)\b"
    r"|\b(all|every|each|various|different|main|key)\b.*s\b"
    r"|\b(two|three|four|five|six|seven|eight|nine|ten|\d+)\s+\w+s\b"
    r"|\bfalls? under\b|\binclude[sd]?\b|\bconsists? of\b|\bcompris\w*|\bmade up of\b",
    re.IGNORECASE,
)
# "Does it include X?", "Is X a partner?": a yes/no question is answered by the item, not the list
YES_NO_RE = re.compile(
    r"^\s*(does|do|did|is|are|was|were|can|could|has|have|had|will|would|should)\b", re.IGNORECASE
)
# discourse words that ask for no particular thing: "In a nutshell, what does X do?"
FILLER_RE = re.compile(
    r"\b(in a nutshell|in short|in brief|in a word|in (?:one|a) (?:sentence|line)|in simple terms|"
    r"in plain (?:english|words)|briefly|basically|exactly|actually|really|generally|in general|"
    r"overall|roughly|summari[sz]e|sum up|tl;?dr|quick(?:ly)?|simply|please)\b",
    re.IGNORECASE,
)
# the present moment: documents are a snapshot ("What is the share price right now?")
REALTIME_RE = re.compile(
    r"\b(today|tonight|tomorrow|yesterday|right now|at the moment|at present|this (week|month)|"
    r"live (?:price|score|feed|stream|update)s?)\b",
    re.IGNORECASE,
)
ROLE_QUESTION_RE = re.compile(r"\s*who\s+(is|was|are|were)\b", re.IGNORECASE)
EXCLUDE_RE = re.compile(
    r"\b(?:besides|apart from|other than|except(?: for)?|aside from|beyond)\s+(?P<x>[^,?;]+)",
    re.IGNORECASE,
)
FOCUS_PATTERNS = (
    # "What is the company's annual turnover?" -> turnover
    re.compile(
        r"^\s*(?:what|who|which)(?:\s+(?:is|are|was|were)\s+|['’]s\s+)(?:the\s+|its\s+|their\s+)?"
        r"(?:[\w.&-]+['’]s\s+)?(?P<np>[a-z][\w\s-]*?)\s*(?:\?|$|\b(?:of|for|in|per|at|on)\b)",
        re.IGNORECASE,
    ),
    # "How many bridges does the city have?" -> bridges
    re.compile(r"^\s*how\s+(?:many|much)\s+(?P<np>[a-z][\w-]*)", re.IGNORECASE),
)
# generic nouns and adjectives that say how much or what sort of an answer is wanted, not what it
# is about: "the main points of", "the latest figure for" (general English, no corpus words)
LIGHT_WORDS = frozenset(
    "point points figure figures number numbers amount name names detail details thing things "
    "aspect aspects kind kinds type types sort sorts part parts piece bit bits info information "
    "fact facts overview summary gist highlight highlights status situation story main key "
    "major important general overall basic latest recent current exact precise specific full "
    "short brief quick rough big annual yearly quarterly monthly total average typical "
    "estimated approximate".split()
)
LIGHT_STEMS = frozenset(stem(w) for w in LIGHT_WORDS)
# verbs that ask nothing of their own in "What business model does X use?"
LIGHT_VERB_STEMS = frozenset(
    stem(w) for w in "use uses using have has had follow follows employ employs adopt run".split()
)
TIME_UNITS = frozenset("year years month months week weeks day days time".split())
HOW_MANY_RE = re.compile(
    r"\bhow\s+many\s+(?P<np>(?:[a-z][\w-]*\s+){0,2}?[a-z][\w-]*?)\s+"
    rf"(?:{'|'.join(AUXILIARIES)}|work|works|exist|there)\b",
    re.IGNORECASE,
)


def how_many(question: str) -> list[str]:
    """The words of the thing a "how many N ...?" question counts, without stop words and generic
    words; empty for any other question."""
    m = HOW_MANY_RE.search(question)
    if not m:
        return []
    return [w for w in words(m.group("np")) if w not in STOPWORDS and w not in LIGHT_WORDS]


def named_tokens(question: str, expanded=()) -> list[tuple[str, list[str] | None]]:
    """The tokens of a question that name something specific, possessive "'s" removed: numbers,
    with the digit groups of two or more that must appear in a text that answers ("2023", "$1.2B"
    -> ["12"]), and names (an acronym, an identifier such as "H100", or a capitalised word past the
    first), with None. An identifier mixing letters and digits is one name, not a number. An
    abbreviation of reporting written out in the question (``expanded``: "EPS" followed by
    "(earnings per share)") names no thing: its words are the question's words."""
    out: list[tuple[str, list[str] | None]] = []
    for pos, tok in enumerate(re.findall(r"[\w'’+&./-]+", question)):
        tok = tok.strip(".'’-/")
        if tok.lower().endswith(("'s", "’s")):
            tok = tok[:-2]
        if not tok or tok in expanded:
            continue
        identifier = bool(re.search(r"[^\W\d_]", tok)) and bool(NUMBER_RE.search(tok))
        ordinal_or_unit = re.fullmatch(r"\d+(?:st|nd|rd|th|s|bn|m|k|b|km|kg|mm|cm)", tok, re.I)
        if NUMBER_RE.search(tok) and (not identifier or ordinal_or_unit):
            out.append((tok, [g for g in re.findall(r"\d+", tok) if len(g) >= 2]))
        elif identifier or (tok.isupper() and len(tok) >= 2) or (pos > 0 and tok[:1].isupper()):
            out.append((tok, None))
    return out


def focus_noun(question: str, kind: str) -> tuple[str, str] | None:
    """The noun phrase a question asks about and its head noun, for the simple shapes "what is
    X's N?" and "how many N ...?"; None for any other shape, or when the phrase holds nothing
    but generic words ("What are the main points of ...?")."""
    for pattern in FOCUS_PATTERNS:
        m = pattern.search(question)
        if m:
            content = [w for w in words(m.group("np")) if w not in STOPWORDS]
            if content:
                if pattern is FOCUS_PATTERNS[0]:
                    specific = [w for w in content if w not in LIGHT_WORDS]
                    return (" ".join(content), specific[-1]) if specific else None
                if content[0] in TIME_UNITS and kind == "duration":
                    return None  # "how many years after X ...": asked of dates
                return " ".join(content), content[0]
    return None


@dataclass
class QuestionAnalysis:
    """What a question asks for. ``query`` is the standalone form retrieval and answering use;
    ``understood_as`` is set when a follow-up was resolved by a guess the user should see."""

    question: str
    query: str
    kind: str = "other"
    yes_no: bool = False
    list_cue: bool = False
    how_many: list[str] = field(default_factory=list)
    focus_noun: tuple[str, str] | None = None
    role_question: bool = False
    named: list[tuple[str, list[str] | None]] = field(default_factory=list)
    realtime: bool = False
    excluded: set[str] = field(default_factory=set)
    understood_as: str | None = None

    def enumerating(self, heading_terms: set[str] = frozenset()) -> bool:
        """Does the question ask for a list? Cue phrases, or a plural noun that names the section;
        never a yes/no question."""
        if self.yes_no:
            return False
        if self.list_cue:
            return True
        for w in words(self.query):
            if (
                len(w) > 3
                and w.endswith("s")
                and not w.endswith(("ss", "us", "is"))
                and stem(w) in heading_terms
            ):
                return True
        return False

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "query": self.query,
            "kind": self.kind,
            "yes_no": self.yes_no,
            "list_cue": self.list_cue,
            "how_many": list(self.how_many),
            "focus_noun": list(self.focus_noun) if self.focus_noun else None,
            "named": [t for t, _ in self.named],
            "realtime": self.realtime,
            "excluded": sorted(self.excluded),
            "understood_as": self.understood_as,
        }


def normalise(query: str, abbreviations=None) -> tuple[str, dict[str, str]]:
    """A question in the words reports print: compact periods written out ("FY22" -> "fiscal
    2022", ``rag.periods``) and abbreviations followed by their long form ("M&A (mergers and
    acquisitions)", ``rag.abbreviations``; ``abbreviations`` adds a corpus's own); and the
    abbreviations it expanded."""
    return expand(normalise_query(query), abbreviations)


def analyse(
    question: str,
    query: str | None = None,
    understood_as: str | None = None,
    abbreviations=None,
):
    """The analysis of ``question`` whose standalone form is ``query`` (itself by default), read
    in the words reports print (``normalise``)."""
    from rag.lexical import terms

    query, expanded = normalise(query or question, abbreviations)
    kind = question_kind(query)
    excluded = EXCLUDE_RE.search(query)
    return QuestionAnalysis(
        question=question,
        query=query,
        kind=kind,
        yes_no=bool(YES_NO_RE.match(query)),
        list_cue=bool(ENUMERATE_RE.search(query)),
        how_many=how_many(query),
        focus_noun=focus_noun(query, kind),
        role_question=bool(ROLE_QUESTION_RE.match(query)),
        named=named_tokens(query, expanded),
        realtime=bool(REALTIME_RE.search(query)),
        excluded=set(terms(excluded.group("x"))) if excluded else set(),
        understood_as=understood_as,
    )
