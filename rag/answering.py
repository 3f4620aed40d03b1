"""Answers without an LLM: pick the sentences and list items that answer, cite them, or abstain.

For a question (already rewritten to stand alone) and its retrieved passages:

1. **Score units.** Every sentence or list item of the retrieved chunks gets
   ``dense + LEXICAL_WEIGHT * coverage + PASSAGE_WEIGHT * passage + type bonus``: the cosine
   between the question and the unit (embedded with its heading path), the IDF-weighted share of
   the question's terms the unit or its heading contains (a word also matches the corpus words
   closest to it in meaning), the cosine between the question and the unit's whole passage (the
   context a short list item lacks), and a small bonus when the unit holds the kind of thing asked
   for (a date for "when", a number for "how many"). Units are ranked by that plus
   ``TOKEN_WEIGHT * alignment``: how well each content token of the question finds a close
   contextual token in the unit (``Composer.align``), which recognises paraphrases.
2. **Decide whether to answer.** The *evidence score* is the best unit's score without the bonus.
   Below ``abstain_threshold`` the bot abstains. It also abstains when the question names something
   specific that the documents never mention: a number or year absent from the corpus, or a name or
   acronym with no corpus word close to it (cosine of word embeddings below ``SYNONYM_THRESHOLD``),
   e.g. "CEO" when only a founder is named; when a name or number that qualifies the question is
   absent from the best unit's passage ("Baidu's revenue" against SenseTime's revenue); when the
   question asks for a date, figure, email, phone or web address and the best units hold none; and
   when the noun it asks about is neither in the documents nor close to the best unit.
3. **Compose.** The best unit, plus a second one when it is nearly as good and adds words of the
   question the first lacks. For an enumerating question ("list", "name the", "what are", a number
   and a plural) whose best unit is a list item, the whole list (or the item's sub-list) is given.
   Every line ends with the ``[n]`` of the passage it comes from; citations are numbered in order
   of first use and carry only the text the answer used.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from rag.answer_types import Answer, Citation
from rag.chunking import Chunk, Unit
from rag.index import Index
from rag.lexical import AUXILIARIES, STOPWORDS, stem, terms, words

LEXICAL_WEIGHT = 0.25
PASSAGE_WEIGHT = 0.2  # weight of the question's cosine with the unit's whole passage
TOKEN_WEIGHT = 1.0  # weight of token alignment in ranking units (not in the evidence score)
RERANK_TOKEN_WEIGHT = 0.5  # ...and in reranking passages
TYPE_BONUS = 0.20
COINED_ZIPF = 1.5  # a capitalised word rarer than this in English is a coined name
TYPE_RESCUE = 0.25  # how far below the best a unit holding the asked-for date or figure may be
SECOND_UNIT_MARGIN = 0.04
UBIQUITOUS_SHARE = 0.8  # a word in this share of chunks (or more) is dropped from the focused query
RERANK_LEXICAL = 0.05  # weight of the chunk's BM25 score (capped at LEXICAL_CAP) in reranking
LEXICAL_CAP = 5.0
TITLE_BONUS = 0.1  # the query names the passage's document title (only matters with many docs)
LIST_MARGIN = 0.15
SYNONYM_THRESHOLD = 0.70
RELATED_THRESHOLD = 0.55  # a word this close to a word of the answer counts as addressed by it
PHRASE_THRESHOLD = 0.40  # ...or the question's noun phrase this close to the whole answer
QUALIFIER_RELATED = 0.40  # a passage word this close to a name in the question supports it
MAX_LIST_ITEMS = 15
MAX_OUTLINE_ITEMS = 6
MAX_OVERVIEW_UNITS = 5  # a section this short is given whole to a question that only names it
MIN_OUTLINE_PARTS = 3  # a heading with this many sub-sections can be answered part by part
SHORT_ITEM_WORDS = 8  # "besides X" takes X out of a list of items this short  # items shown per part in an outline answer
BARE_ITEM_COVERAGE = 0.5  # below this share of the question in a bare item, its list answers
HEADING_LIST_COVERAGE = 0.5  # without a list cue, the heading must cover this share of the query
# "the company", "this firm's": a reference to the documents' subject (see Composer.subject_free)
SUBJECT_REF_RE = re.compile(
    r"\b(the|this|that|your|our)\s+(company|firm|business|organi[sz]ation|corporation|enterprise)"
    r"(['’]s)?(?![\w-])",
    re.IGNORECASE,
)
# discourse words that ask for no particular thing: "In a nutshell, what does X do?"
FILLER_RE = re.compile(
    r"\b(in a nutshell|in short|in brief|in a word|in (?:one|a) (?:sentence|line)|in simple terms|"
    r"in plain (?:english|words)|briefly|basically|exactly|actually|really|generally|in general|"
    r"overall|roughly|summari[sz]e|sum up|tl;?dr|quick(?:ly)?|simply|please)\b",
    re.IGNORECASE,
)
LABEL_RE = re.compile(r"^[^:]{1,60}:\s")  # "Founder: ..." - an item that names what it is

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
DATE_RE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.I
)
NUMBER_RE = re.compile(r"\d")
DURATION_RE = re.compile(r"\d+\s*(?:years?|months?|weeks?|days?)\b", re.IGNORECASE)
# an amount, share or count: "$1.2B", "45%", "1,200+", "40 percent", "hundreds" (not a year or code)
QUANTITY_RE = re.compile(
    r"[$€£¥]\s?\d|\d(?:[\d,.]*\d)?\s?(?:%|\+|percent\b|per cent\b|[kmb]n?\b|billion\b|"
    r"million\b|thousand\b)|\b\d{1,3}(?:,\d{3})+\b|\b(?:dozens|hundreds|thousands|millions|"
    r"billions)\b|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+"
    r"(?:[a-z-]+\s+)?[a-z-]+s\b",  # "four key platforms": a count written out
    re.IGNORECASE,
)


@dataclass
class ScoredUnit:
    chunk_index: int
    unit_index: int  # within the chunk
    row: int  # row in index.unit_vectors
    unit: Unit
    cosine: float  # question vs unit embedding
    coverage: float  # IDF-weighted share of the question's terms found in the unit or its headings
    evidence: float  # cosine + LEXICAL_WEIGHT * coverage: the abstention score
    score: float  # evidence + answer-type bonus: what units are ranked by


def question_kind(question: str) -> str:
    """What kind of thing the question asks for: a date, a quantity, an email address, a phone
    number, a web address, a person or organisation, or other."""
    q = question.lower()
    if re.search(r"\bwhen\b|\bwhat year\b|\bwhich year\b|\bwhat date\b|\bhow long ago\b", q):
        return "date"
    if re.search(
        r"\bhow (?:many|much) (?:years|months|weeks|days|time)\b.*\b(?:after|since|between|before|"
        r"until|till|from|to|ago)\b|\bhow long (?:after|since|before|ago|has|have|had|did)\b",
        q,
    ):
        return "duration"  # a length of time between events: two dates give it
    if re.search(r"\b(e-?mail|email address)\b", q):
        return "email"
    if re.search(r"\b(tele)?phone (number|no)\b|\bfax\b|\bhotline\b|\bcall (them|you|it)\b", q):
        return "phone"
    if re.search(r"\b(website|web site|url|homepage|web address)\b", q):
        return "web"
    if re.search(
        r"\bhow many\b|\bhow much\b(?!\s+of\b)|\bwhat (percentage|proportion|fraction)\b", q
    ):
        return "quantity"
    if re.match(r"\s*(who|whom|whose)\b", q):
        return "person"
    if re.match(
        r"\s*(?:which|what)\s+(?:\w+\s+)?(?:product|platform|tool|brand|app|application|"
        r"software)s?\b",
        q,
    ):
        return "name"  # "Which product is meant for hospitals?": a product's own name
    return "other"


# kinds that a unit must hold for the bot to answer (else it abstains, see Composer.compose)
ROLE_QUESTION_RE = re.compile(r"\s*who\s+(is|was|are|were)\b", re.IGNORECASE)
KIND_NAMES = {
    "date": "a date",
    "quantity": "a figure",
    "duration": "a date or a length of time",
    "email": "an email address",
    "phone": "a phone number",
    "web": "a web address",
}
STRICT_KINDS = ("date", "duration", "quantity", "email", "phone", "web")
REALTIME_RE = re.compile(
    r"\b(today|tonight|tomorrow|yesterday|right now|at the moment|this (week|month)|live)\b",
    re.IGNORECASE,
)


def has_kind(text: str, kind: str) -> bool:
    """Does ``text`` hold the kind of thing a question asks for?"""
    if kind == "date":
        return bool(DATE_RE.search(text))
    if kind == "duration":
        return bool(DATE_RE.search(text) or DURATION_RE.search(text))
    if kind == "quantity":
        return bool(QUANTITY_RE.search(text))
    if kind == "email":
        return bool(re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text))
    if kind == "phone":
        return bool(re.search(r"(?:\+|\b)\d[\d ()-]{6,}\d\b", text))
    if kind == "web":
        return bool(re.search(r"https?://|www\.|\b[\w-]+\.(com|org|net|cn|io)\b", text))
    if kind == "person":
        return bool(PERSON_RE.search(text) or AGENT_LABEL_RE.match(text))
    if kind == "name":
        # a coined name leads the unit: a capitalised word that is not an English word
        lead = LABEL_RE.match(text)
        head = (lead.group(0) if lead else " ".join(text.split()[:3])).split()
        return any(w[:1].isupper() and _is_coined(w.strip(":(),.")) for w in head)
    return True


@functools.lru_cache(maxsize=4096)
def _is_coined(word: str) -> bool:
    """A made-up name ("SenseCare", "SenseMARS"), not an English word ("Healthcare")."""
    from rag.repair import zipf

    return len(word) > 3 and zipf(word.lower()) < COINED_ZIPF


PERSON_RE = re.compile(r"\b(Professor|Prof\.|Dr\.?|Mr\.?|Mrs\.?|Ms\.?|Sir|Dame)\s+[A-Z]")
AGENT_LABEL_RE = re.compile(r"^[\w' -]*?(er|or|ist|ent|ant)s?\s*:", re.I)
EXCLUDE_RE = re.compile(
    r"\b(?:besides|apart from|other than|except(?: for)?|aside from|beyond)\s+(?P<x>[^,?;]+)",
    re.IGNORECASE,
)


FOCUS_PATTERNS = (
    # "What is SenseTime's market capitalisation?" -> capitalisation
    re.compile(
        r"^\s*(?:what|who|which)(?:\s+(?:is|are|was|were)\s+|['’]s\s+)(?:the\s+|its\s+|their\s+)?"
        r"(?:[\w.&-]+['’]s\s+)?(?P<np>[a-z][\w\s-]*?)\s*(?:\?|$|\b(?:of|for|in|per|at|on)\b)",
        re.IGNORECASE,
    ),
    # "How many patents does SenseTime hold?" -> patents
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


# verbs that ask nothing of their own in "What business model does X use?"
LIGHT_VERB_STEMS = frozenset(
    stem(w) for w in "use uses using have has had follow follows employ employs adopt run".split()
)
TIME_UNITS = frozenset("year years month months week weeks day days time".split())
LIGHT_STEMS = frozenset(stem(w) for w in LIGHT_WORDS)


# "How many business customers does it have?" -> "business customers": the thing counted
HOW_MANY_RE = re.compile(
    r"\bhow\s+many\s+(?P<np>(?:[a-z][\w-]*\s+){0,2}?[a-z][\w-]*?)\s+"
    rf"(?:{'|'.join(AUXILIARIES)}|work|works|exist|there)\b",
    re.IGNORECASE,
)


def how_many(question: str) -> list[str]:
    """The words of the thing a "how many N ...?" question counts ("business customers"), without
    stop words and generic words; empty for any other question."""
    m = HOW_MANY_RE.search(question)
    if not m:
        return []
    return [w for w in words(m.group("np")) if w not in STOPWORDS and w not in LIGHT_WORDS]


def named_tokens(question: str) -> list[tuple[str, list[str] | None]]:
    """The tokens of a question that name something specific, possessive "'s" removed: numbers,
    with their digit groups of two or more ("2023", "$1.2B" -> ["12"]...), and names (an acronym,
    or a capitalised word past the first), with None."""
    out: list[tuple[str, list[str] | None]] = []
    for pos, tok in enumerate(re.findall(r"[\w'’+&.-]+", question)):
        tok = tok.strip(".'’-")
        if tok.lower().endswith(("'s", "’s")):
            tok = tok[:-2]
        if not tok:
            continue
        if NUMBER_RE.search(tok):
            out.append((tok, [g for g in re.findall(r"\d+", tok) if len(g) >= 2]))
        elif (tok.isupper() and len(tok) >= 2) or (pos > 0 and tok[:1].isupper()):
            out.append((tok, None))
    return out


def focus_noun(question: str) -> tuple[str, str] | None:
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
                    # "the latest revenue figure" -> revenue; "the main points" -> nothing
                    return (" ".join(content), specific[-1]) if specific else None
                if content[0] in TIME_UNITS and question_kind(question) == "duration":
                    return None  # "how many years after X ...": asked of dates (see select)
                return " ".join(content), content[0]
    return None


def is_enumerating(question: str, heading_terms: set[str] = frozenset()) -> bool:
    """Does the question ask for a list? Cue phrases, or a plural noun that names the section;
    never a yes/no question."""
    if YES_NO_RE.match(question):
        return False
    if ENUMERATE_RE.search(question):
        return True
    for w in words(question):
        if (
            len(w) > 3
            and w.endswith("s")
            and not w.endswith(("ss", "us", "is"))
            and stem(w) in heading_terms
        ):
            return True
    return False


def _us_spelling(stem_: str) -> str:
    """A stem in American spelling: -tre -> -ter, -our -> -or, -is(e) -> -iz(e)."""
    stem_ = re.sub(r"([^aeiou])r$", r"\1er", stem_)
    stem_ = re.sub(r"our$", "or", stem_)
    return re.sub(r"([^aeiou])is$", r"\1iz", stem_)


@functools.lru_cache(maxsize=1 << 16)
def _soft_equal(a: str, b: str) -> bool:
    """Same stem; British and American spellings ("centr"/"center", "colour"/"color",
    "specialis"/"specializ"); one the agent noun of the other ("found"/"founder"); or a long
    shared prefix ("expand"/"expans"): at least 5 letters and 80% of the longer word."""
    if a == b or _us_spelling(a) == _us_spelling(b):
        return True
    for x, y in ((a, b), (b, a)):
        for suffix in ("er", "or", "r"):
            if x == y + suffix and len(y) >= 3:
                return True
    short, long_ = sorted((a, b), key=len)
    if len(short) >= 6 and long_.startswith(short):
        return True  # "partner" / "partnership"
    if min(len(a), len(b)) >= 5:
        common = 0
        for ca, cb in zip(a, b, strict=False):
            if ca != cb:
                break
            common += 1
        if common >= 5 and common >= 0.8 * max(len(a), len(b)):
            return True
    return False


class Composer:
    """Builds an ``Answer`` from retrieved passages. Holds per-index lookups computed once."""

    def __init__(self, index: Index, abstain_threshold: float = 0.30, embedder=None):
        self.index = index
        self.threshold = abstain_threshold
        self.embedder = embedder
        n_rows = len(index.unit_vectors)
        self._unit_terms: list[set[str]] = []  # terms of the unit and its headings
        self._own_terms: list[set[str]] = []  # terms of the unit alone
        self._heading_terms: list[set[str]] = []  # terms of the chunk's headings, per chunk
        df: Counter[str] = Counter()
        for chunk in index.chunks:
            heading_terms = set(terms(chunk.search_heading))
            self._heading_terms.append(heading_terms)
            for u in chunk.units:
                own = set(terms(u.text))
                self._own_terms.append(own)
                self._unit_terms.append(own | heading_terms)
                df.update(own | heading_terms)
        self._idf = {t: math.log(1 + n_rows / c) for t, c in df.items()}
        self._max_idf = math.log(1 + max(n_rows, 1))
        # one pass over the chunks' words: what the corpus knows, and what is in nearly every chunk
        # (like the subject of a one-company profile), which tells passages apart not at all
        chunk_df: Counter[str] = Counter()
        for chunk in index.chunks:
            chunk_df.update(set(words(chunk.embed_text)))
        self._corpus_words = set(chunk_df)
        self._corpus_stems = {stem(w) for w in chunk_df}
        n = len(index.chunks)
        self.ubiquitous = (
            {w for w, c in chunk_df.items() if c >= UBIQUITOUS_SHARE * n} if n >= 5 else set()
        )
        self.ubiquitous_stems = {stem(w) for w in self.ubiquitous}
        # the corpus vocabulary and its vectors are computed once, at index time (index.vocabulary)
        self._vocab = index.vocab
        self._vocab_stems = [stem(w) for w in self._vocab]
        self._vpos = {w: i for i, w in enumerate(self._vocab)}
        self._title_terms = [set(terms(c.heading_path[0])) for c in index.chunks]

    # ---- the query as units are matched ------------------------------------------------------------

    def subject_free(self, query: str) -> str:
        """The query without phrases that only point back at the documents' subject: "the
        company", "the firm's", "this business" ("When did the company go public?"). In a profile
        of a company they say nothing about which passage answers, yet they match a heading such
        as "Company Info". Kept when a corpus word follows ("the business segment")."""

        def drop(m: re.Match) -> str:
            after = query[m.end() :]
            nxt = re.match(r"\s+([A-Za-z][\w-]*)", after)
            if not m.group(3) and nxt and (w := nxt.group(1).lower()) not in STOPWORDS:
                if stem(w) in self._corpus_stems:
                    return m.group(0)  # "the business segment": a compound, not the subject
            return " "

        cleaned = " ".join(SUBJECT_REF_RE.sub(drop, query).split())
        return cleaned if words(cleaned) else query

    def focus(self, query: str) -> str:
        """The query without the corpus's ubiquitous words ("SenseTime" in a SenseTime profile)
        and without references to the subject ("the company"): what is embedded to compare with
        units, which are embedded without the document title."""
        query = self.subject_free(query)
        if not self.ubiquitous:
            return query
        kept = [
            tok
            for tok in re.split(r"(\s+)", query)
            if not (words(tok) and all(w in self.ubiquitous for w in words(tok)))
        ]
        focused = " ".join("".join(kept).split())
        return focused if words(focused) else query

    def align(self, q_tokens: np.ndarray | None, row: int) -> float:
        """Token alignment of the question with unit ``row``: for each content token of the
        question, its best cosine with a content token of the unit, averaged. Contextual token
        vectors match a paraphrase ("spin out of" ~ "originating from", "big models" ~
        "large-scale models") that one pooled vector per sentence blurs. 0 without token vectors."""
        return float(self.align_rows(q_tokens, range(row, row + 1))[0])

    def align_rows(self, q_tokens: np.ndarray | None, rows: range) -> np.ndarray:
        """``align`` for a run of consecutive unit rows (a chunk's), with one matrix product."""
        out = np.zeros(len(rows), dtype=np.float32)
        if q_tokens is None or not len(q_tokens) or not self.index.has_tokens or not len(rows):
            return out
        offsets = self.index.token_offsets[rows.start : rows.stop + 1]
        start, end = int(offsets[0]), int(offsets[-1])
        if end == start:
            return out
        tokens = self.index.token_rows(start, end)
        sims = q_tokens @ tokens.T  # (question tokens, unit tokens of these rows)
        has = np.diff(offsets) > 0
        firsts = (offsets[:-1] - start)[has]
        out[has] = np.maximum.reduceat(sims, firsts, axis=1).mean(axis=0)
        return out

    def rerank(self, query: str, passages: list, fvec: np.ndarray, k: int, q_tokens=None) -> list:
        """Reorder candidate passages by their best unit: its cosine with the focused query (plus
        its token alignment, see ``align``), plus a small bonus for the passage's BM25 score and
        one when the query names the passage's document title (which only tells documents apart
        in a corpus of several)."""
        q_terms = set(terms(query))
        scored = []
        for p in passages:
            ci = self.index.by_id[p.chunk.id]
            rows = self.index.unit_rows(ci)
            cos = self.index.unit_vectors[rows.start : rows.stop] @ fvec if len(rows) else [-1.0]
            if q_tokens is not None and len(rows):
                cos = cos + RERANK_TOKEN_WEIGHT * self.align_rows(q_tokens, rows)
            score = float(np.max(cos)) + RERANK_LEXICAL * min(p.lexical_score or 0.0, LEXICAL_CAP)
            if q_terms & self._title_terms[ci]:
                score += TITLE_BONUS
            scored.append((score, p))
        scored.sort(key=lambda t: -t[0])
        out = []
        for rank, (score, p) in enumerate(scored[:k], 1):
            p.rank = rank
            p.rerank_score = score
            out.append(p)
        return out

    # ---- word-level synonyms, for words the documents never use -----------------------------------

    def _vocab_matrix(self) -> np.ndarray:
        return self.index.vocab_vectors

    def synonyms(self, tokens: list[str]) -> dict[str, set[str]]:
        """For each token, the stems of corpus words whose embedding is within SYNONYM_THRESHOLD."""
        if self.embedder is None or not self._vocab or not tokens:
            return {t: set() for t in tokens}
        vecs = self.embedder.embed(tokens)
        sims = vecs @ self._vocab_matrix().T
        out = {}
        for t, row in zip(tokens, sims, strict=True):
            hits = np.nonzero(row >= SYNONYM_THRESHOLD)[0]
            out[t] = {self._vocab_stems[i] for i in hits}
        return out

    # ---- scoring ----------------------------------------------------------------------------------

    def query_terms(self, question: str) -> list[tuple[str, float, set[str]]]:
        """(stem, idf weight, stems that count as a match) for each content term of the question."""
        stems = list(dict.fromkeys(terms(question)))
        # a word the corpus never uses, and any common noun or verb (not a name: "China" is not
        # "Shanghai"), also matches the corpus words closest to it in meaning ("stock" also matches
        # "inventory", "shops" "retail")
        names = {w.lower() for w in re.findall(r"\b[A-Z][\w'’&.-]*", question)}
        content = [
            w
            for w in dict.fromkeys(words(question))
            if w not in STOPWORDS
            and w not in self.ubiquitous
            and stem(w) in stems
            and not NUMBER_RE.search(w)
            and (stem(w) not in self._corpus_stems or w not in names)
        ]
        syn = self.synonyms(content)
        by_stem: dict[str, set[str]] = {}
        for w, alts in syn.items():
            by_stem.setdefault(stem(w), set()).update(alts)
        return [(t, self._idf.get(t, self._max_idf), {t} | by_stem.get(t, set())) for t in stems]

    @staticmethod
    def coverage(q_terms, unit_terms: set[str]) -> float:
        total = sum(w for _, w, _ in q_terms)
        if not total:
            return 0.0
        matched = sum(
            w for _, w, alts in q_terms if any(_soft_equal(a, u) for a in alts for u in unit_terms)
        )
        return matched / total

    def score_units(
        self,
        question: str,
        qvec: np.ndarray,
        chunk_indexes: list[int],
        q_terms=None,
        passage_cosines: list[float | None] | None = None,
        q_tokens: np.ndarray | None = None,
    ) -> list[ScoredUnit]:
        """Every unit of the given chunks, best first. ``passage_cosines`` (the question's cosine
        with each whole chunk, from retrieval) adds the context a short unit lacks on its own;
        ``q_tokens`` (the question's content-token vectors) adds token alignment to the ranking."""
        q_terms = self.query_terms(question) if q_terms is None else q_terms
        kind = question_kind(question)
        cosines = passage_cosines or [None] * len(chunk_indexes)
        out = []
        for ci, passage_cos in zip(chunk_indexes, cosines, strict=True):
            chunk = self.index.chunks[ci]
            rows = self.index.unit_rows(ci)
            if not len(rows):
                continue
            dense = self.index.unit_vectors[rows.start : rows.stop] @ qvec
            aligned = TOKEN_WEIGHT * self.align_rows(q_tokens, rows)
            context = PASSAGE_WEIGHT * passage_cos if passage_cos is not None else 0.0
            for ui, (row, unit) in enumerate(zip(rows, chunk.units, strict=True)):
                cov = self.coverage(q_terms, self._unit_terms[row])
                bonus = TYPE_BONUS if kind != "other" and has_kind(unit.text, kind) else 0.0
                evidence = float(dense[ui]) + LEXICAL_WEIGHT * cov + context
                out.append(
                    ScoredUnit(
                        ci,
                        ui,
                        row,
                        unit,
                        float(dense[ui]),
                        cov,
                        evidence,
                        evidence + bonus + float(aligned[ui]),
                    )
                )
        out.sort(key=lambda s: -s.score)
        return out

    # ---- abstention ---------------------------------------------------------------------------------

    def missing_terms(self, question: str) -> list[str]:
        """Specific things the question names that the documents never mention (see module doc)."""
        missing = []
        candidates = []
        for tok, groups in named_tokens(question):
            if groups is not None:
                # a number of two digits or more (a year, an amount) must appear in the documents
                if any(g not in self._corpus_words for g in groups):
                    missing.append(tok)
                continue
            if tok.lower() in STOPWORDS:
                continue
            parts = [p for p in words(tok) if p not in STOPWORDS]
            if not parts or all(
                p in self._corpus_words or stem(p) in self._corpus_stems for p in parts
            ):
                continue
            candidates.append(tok)
        if candidates:
            syn = self.synonyms(candidates) if self.embedder is not None else {}
            missing.extend(t for t in candidates if not syn.get(t))
        return missing

    def unsupported_qualifiers(self, query: str, best: ScoredUnit) -> list[str]:
        """Names and numbers that qualify the question ("Baidu's revenue", "growth in 2021") and
        that the passage of the best unit never mentions, nor anything close to them: that passage
        answers a neighbouring question (SenseTime's revenue, growth in another year), not this one.
        The corpus's ubiquitous words (its subject) need no support."""
        wanted = []
        for tok, groups in named_tokens(query):
            if groups is not None:
                wanted += groups
                continue
            wanted += [
                w
                for w in words(tok)
                if w not in STOPWORDS and w not in self.ubiquitous and not NUMBER_RE.search(w)
            ]
        if not wanted:
            return []
        chunk = self.index.chunks[best.chunk_index]
        context = set(words(chunk.embed_text))
        stems = {stem(w) for w in context}
        missing = [
            w
            for w in dict.fromkeys(wanted)
            if w not in context and not any(_soft_equal(stem(w), t) for t in stems)
        ]
        names = [w for w in missing if not NUMBER_RE.search(w)]
        known = [self._vpos[w] for w in context if w in self._vpos]
        if names and known and self.embedder is not None:
            # a word of the passage close to the name ("Chinese" for "China", "careers" for
            # "CV") is support enough; a number must be there as it is
            sims = self.embedder.embed(names) @ self._vocab_matrix()[known].T
            close = {
                w for w, row in zip(names, sims, strict=True) if row.max() >= QUALIFIER_RELATED
            }
            missing = [w for w in missing if w not in close]
        return missing

    def _counted_list(self, query: str, best: ScoredUnit) -> bool:
        """ "How many research centres are there?" and the best unit is an item of a list under a
        heading that names them: the list answers (its length is the count)."""
        asked = how_many(query)
        if not asked or best.unit.list_id is None:
            return False
        heading = [stem(w) for w in words(self._label(best.chunk_index))]
        return bool(asked) and all(any(_soft_equal(stem(a), h) for h in heading) for a in asked)

    def uncounted(self, query: str, best: ScoredUnit) -> str | None:
        """ "How many patents ...?" answered by "hundreds of papers": the thing counted in the best
        unit (the words after its figures, and its label) is neither the thing asked about nor
        close to it. Returns the thing asked about, or None."""
        asked = how_many(query)
        if not asked or self.embedder is None:
            return None
        figures = list(QUANTITY_RE.finditer(best.unit.text))
        if not asked or not figures or asked[-1] in TIME_UNITS:
            return None
        counted: list[str] = []
        for f in figures:
            after = [w for w in words(best.unit.text[f.end() :])[:3] if w not in STOPWORDS]
            counted += after[:2]
        label = LABEL_RE.match(best.unit.text)
        if label:
            counted += words(label.group(0))
        counted = [w for w in dict.fromkeys(counted) if not NUMBER_RE.search(w)]
        if any(_soft_equal(stem(a), stem(c)) for a in asked for c in counted):
            return None
        if counted:
            sims = self.embedder.embed(asked) @ self.embedder.embed(counted).T
            if float(np.max(sims)) >= RELATED_THRESHOLD:
                return None
        return " ".join(asked)

    def unsupported_focus(self, query: str, best: ScoredUnit) -> str | None:
        """The noun the question asks about, when the documents never use it and nothing in the
        best passage is close to it ("market capitalisation" against "international markets")."""
        found = focus_noun(query)
        if found is None or self.embedder is None:
            return None
        phrase, noun = found
        if ROLE_QUESTION_RE.match(query):
            # "Who is the founder?" is answered only by a unit that names that role
            named = self._unit_terms[best.row]  # the unit and its headings
            alts = {stem(noun)} | self.synonyms([noun])[noun]
            if any(_soft_equal(a, t) for a in alts for t in named):
                return None
            return phrase
        if noun in self.ubiquitous or stem(noun) in self._corpus_stems:
            return None
        if self.synonyms([noun])[noun]:
            # the noun is only a near-synonym of a corpus word ("profit" ~ "revenue"): a modifier
            # the documents do not know either makes it another thing ("net profit")
            mods = [
                w
                for w in words(phrase)
                if w != noun
                and w not in LIGHT_WORDS
                and w not in self.ubiquitous
                and stem(w) not in self._corpus_stems
                and not NUMBER_RE.search(w)
            ]
            if not mods or all(self.synonyms(mods)[w] for w in mods):
                return None
            return phrase
        chunk = self.index.chunks[best.chunk_index]
        context = [w for w in words(f"{chunk.search_heading} {best.unit.text}") if w in self._vpos]
        vecs = self.embedder.embed([noun, phrase])
        if context:
            sims = self._vocab_matrix()[[self._vpos[w] for w in context]] @ vecs[0]
            if float(np.max(sims)) >= RELATED_THRESHOLD:
                return None  # a word of the answer is close to the noun ("address" ~ "contact")
        if float(vecs[1] @ self.index.unit_vectors[best.row]) >= PHRASE_THRESHOLD:
            return None  # the phrase as a whole matches the answer ("stock code" ~ "Exchange")
        return phrase

    # ---- composing ----------------------------------------------------------------------------------

    def compose(
        self,
        question: str,
        query: str,
        qvec: np.ndarray,
        passages: list,
        mode: str = "hybrid",
        k: int = 5,
        q_tokens: np.ndarray | None = None,
    ) -> Answer:
        """The answer to ``query`` (the standalone form of ``question``) from ``passages``;
        ``qvec`` is the focused query's vector (see ``focus``), ``q_tokens`` its content-token
        vectors (see ``align``)."""
        base = dict(
            question=question,
            rewritten_query=query,
            threshold=self.threshold,
            mode=mode,
            k=k,
            passages=passages,
        )
        chunk_indexes = [self.index.by_id[p.chunk.id] for p in passages]
        q_terms = self.query_terms(query)
        lead = self._lead_answer(query, chunk_indexes)
        if lead is not None:
            ci, unit = lead
            # the passage the answer quotes goes first, when retrieval found it at all
            passages = sorted(passages, key=lambda p: self.index.by_id[p.chunk.id] != ci)
            for rank, p in enumerate(passages, 1):
                p.rank = rank
            base["passages"] = passages
            text, citations = self.render([Line([(ci, unit)])], [])
            return Answer(
                text=text,
                citations=citations,
                abstained=False,
                score=1.0,
                reason="the question asks about the documents' subject as a whole: answered with "
                "the opening sentence of its document",
                **base,
            )
        # the focused question against each whole passage (units are compared with it too)
        cosines = [float(self.index.dense.reconstruct(int(ci)) @ qvec) for ci in chunk_indexes]
        scored = self.score_units(query, qvec, chunk_indexes, q_terms, cosines, q_tokens)
        evidence = max((s.evidence for s in scored), default=0.0)
        reason = self.abstention(query, scored, evidence)
        if reason:
            base["passages"] = self._in_order(passages, [s.chunk_index for s in scored])
            return Answer(
                text=abstain_text(),
                citations=[],
                abstained=True,
                score=evidence,
                reason=reason,
                **base,
            )
        lines = self.select(query, scored, q_terms)
        text, citations = self.render(lines, scored)
        used = [self.index.by_id[c.chunk_id] for c in citations]
        base["passages"] = self._in_order(passages, used + [s.chunk_index for s in scored])
        return Answer(
            text=text,
            citations=citations,
            abstained=False,
            score=evidence,
            reason=f"evidence score {evidence:.2f} ≥ threshold {self.threshold:.2f}",
            **base,
        )

    def _in_order(self, passages: list, chunk_order: list[int]) -> list:
        """The passages re-ranked as the answer was composed: the ones it quotes first, in the
        order of their citations, then the rest by their best unit. The composer weighs more than
        the reranker (term coverage, the whole passage, the kind of answer asked for), and the
        sources a reader sees first should be the ones the answer comes from."""
        position: dict[int, int] = {}
        for ci in chunk_order:
            position.setdefault(ci, len(position))
        ordered = sorted(
            passages, key=lambda p: position.get(self.index.by_id[p.chunk.id], len(position))
        )
        for rank, p in enumerate(ordered, 1):
            p.rank = rank
        return ordered

    def _lead_answer(self, query: str, chunk_indexes: list[int]) -> tuple[int, Unit] | None:
        """ "What does SenseTime do?", "Tell me about SenseTime": a question that names the
        corpus's subject (a word in nearly every chunk) and no other content word is answered by
        the opening sentence of the document (its lead), not by whichever passage happens to
        share the subject's name."""
        if not chunk_indexes or not set(words(query)) & self.ubiquitous:
            return None
        if question_kind(query) in STRICT_KINDS or terms(FILLER_RE.sub(" ", self.focus(query))):
            return None  # it asks for something in particular
        doc = self.index.chunks[chunk_indexes[0]].doc_id
        firsts = [i for i, c in enumerate(self.index.chunks) if c.doc_id == doc and c.units]
        if not firsts:
            return None
        ci = min(firsts, key=lambda i: self.index.chunks[i].char_start)
        return ci, self.index.chunks[ci].units[0]

    def abstention(self, query: str, scored: list[ScoredUnit], evidence: float) -> str | None:
        """Why the bot should not answer, or None. May move a runner-up that holds the kind of
        thing asked for (a date for "when") to the front of ``scored``."""
        if not scored:
            return "no passage was retrieved for this question"
        score = f"evidence score {evidence:.2f}, threshold {self.threshold:.2f}"
        if REALTIME_RE.search(query):
            return f"the question asks about the present moment; documents are a snapshot ({score})"
        missing = self.missing_terms(query)
        if missing:
            return f"the documents never mention {', '.join(repr(m) for m in missing)} ({score})"

        def closest() -> str:  # the best unit's section (the rescue below may change it)
            return f"closest: '{self.index.chunks[scored[0].chunk_index].heading}'"

        if evidence < self.threshold:
            return f"{score}: too weak ({closest()})"
        kind = question_kind(query)
        if kind in STRICT_KINDS and not has_kind(scored[0].unit.text, kind):
            # a close runner-up that holds a date (or figure...) answers better than the best match
            for i, s in enumerate(scored[1:8], 1):
                if s.score < scored[0].score - TYPE_RESCUE:
                    break
                if has_kind(s.unit.text, kind) and s.coverage >= scored[0].coverage:
                    scored.insert(0, scored.pop(i))  # ...if it matches the question as well
                    break
            if not has_kind(scored[0].unit.text, kind) and not self._counted_list(query, scored[0]):
                what = KIND_NAMES.get(kind, kind)
                return (
                    f"the question asks for {what} and the closest passages give none "
                    f"({closest()}, {score})"
                )
        unsupported = self.unsupported_qualifiers(query, scored[0])
        if unsupported:
            return (
                f"the question is about {', '.join(repr(u) for u in unsupported)}, which the "
                f"closest passage never mentions ({closest()}, {score})"
            )
        uncounted = self.uncounted(query, scored[0])
        if uncounted:
            return (
                f"the question asks how many {uncounted}, and the figure in the closest passage "
                f"counts something else ({closest()}, {score})"
            )
        phrase = self.unsupported_focus(query, scored[0])
        if phrase:
            return (
                f"the question asks about '{phrase}', which the documents never mention, and "
                f"the closest passage is about something else ({score})"
            )
        return None

    def _section_units(self, chunk_index: int) -> list[tuple[int, int, Unit]]:
        """(chunk index, row, unit) of every unit of the chunk's section, in document order, deduped."""
        section = self.index.chunks[chunk_index].section_id
        seen = set()
        out = []
        for ci in self.index.by_section.get(section, [chunk_index]):
            for row, unit in zip(
                self.index.unit_rows(ci), self.index.chunks[ci].units, strict=True
            ):
                if (unit.char_start, unit.char_end) not in seen:
                    seen.add((unit.char_start, unit.char_end))
                    out.append((ci, row, unit))
        out.sort(key=lambda t: t[2].char_start)
        return out

    @staticmethod
    def _first_of_blocks(units: list[tuple[int, int, Unit]]) -> list[tuple[int, int, Unit]]:
        seen, out = set(), []
        for t in units:
            if t[2].block not in seen:
                seen.add(t[2].block)
                out.append(t)
        return out

    def _items(self, section: list, list_id, depth, parent, exclude: set = frozenset()) -> list:
        """The items of one list of a section (first sentence of each), as (chunk, unit)."""
        items = [
            t
            for t in section
            if t[2].list_id == list_id
            and t[2].depth == depth
            and t[2].parent == parent
            and not (exclude and exclude <= self._own_terms[t[1]])
        ]
        return [(ci, u) for ci, _, u in self._first_of_blocks(items)[:MAX_LIST_ITEMS]]

    def _list_answer(
        self, s: ScoredUnit, q_terms, enumerating: bool, yes_no: bool = False
    ) -> list[Line]:
        """The list a list item stands for: its sub-items, when the question asks for a list or the
        item introduces one (ends with ":"); or all items of its list, when the question's words
        are in the section heading rather than in the item itself ("What falls under the smart
        city segment?" -> every item under "Smart City"), or when the item is short and bare and
        shares little with a question that is not a yes/no one ("What does it offer to city
        governments?" -> every item under "Smart City", not just "Public safety"). A list question
        about a heading that the documents repeat gets the items of every section with that
        heading."""
        unit = s.unit
        section = self._section_units(s.chunk_index)
        children = [
            t for t in section if t[2].parent == unit.block and t[2].depth == unit.depth + 1
        ]
        if children and (enumerating or unit.text.rstrip().endswith(":")):
            items = self._first_of_blocks(children)[:MAX_LIST_ITEMS]
            return [Line([(s.chunk_index, unit)])] + [
                Line([(ci, u)], item=True) for ci, _, u in items
            ]
        # only the words the documents know can be found in a heading or an item
        known = [t for t in q_terms if t[2] & self._corpus_stems or t[0] in self._corpus_stems]
        own = self.coverage(known, self._own_terms[s.row])
        head = self.coverage(known, self._heading_terms[s.chunk_index])
        bare = (
            unit.kind == "item"
            and not LABEL_RE.match(unit.text)
            and len(unit.text.split()) <= SHORT_ITEM_WORDS
        )
        # a short bare item ("Public safety") that shares little with a question that is not a
        # yes/no one was found as an example of what is asked: the answer is its whole list
        stands_for_list = bare and not yes_no and own < BARE_ITEM_COVERAGE
        if (head > own and (enumerating or head >= HEADING_LIST_COVERAGE)) or stands_for_list:
            items = self._items(section, unit.list_id, unit.depth, unit.parent)
            if len(items) > 1:
                lines = [Line([], lead=self._label(s.chunk_index))]
                lines += [Line([t], item=True) for t in items]
                if enumerating:
                    for other in self._same_heading_sections(s.chunk_index):
                        more = self._section_units(other)
                        top = [t for t in more if t[2].list_id is not None and t[2].depth == 0]
                        if top:
                            first = top[0][2]
                            lines += [
                                Line([t], item=True)
                                for t in self._items(more, first.list_id, 0, None)
                            ]
                return lines
        return []

    def _same_heading_sections(self, chunk_index: int) -> list[int]:
        """First chunk of every other section whose heading path repeats this chunk's."""
        chunk = self.index.chunks[chunk_index]
        out = []
        for section_id, cis in self.index.by_section.items():
            other = self.index.chunks[cis[0]]
            if other.heading_path == chunk.heading_path and section_id != chunk.section_id:
                out.append(cis[0])
        return out

    def _outline_answer(self, s: ScoredUnit, q_terms, enumerating: bool) -> list[Line]:
        """A question about a parent heading whose sections are its parts ("How is the business
        divided into segments?") is answered by the parts: one line per child section, naming it
        and giving its items."""
        chunk = self.index.chunks[s.chunk_index]
        if len(chunk.heading_path) < 3:
            return []
        parent = chunk.heading_path[:-1]
        kids: dict[str, int] = {}
        for section_id, cis in self.index.by_section.items():
            if self.index.chunks[cis[0]].heading_path[:-1] == parent:
                kids.setdefault(section_id, cis[0])
        if len(kids) < MIN_OUTLINE_PARTS:
            return []  # two sub-sections are a pair of topics more often than parts of a whole
        shown = chunk.search_heading.split(" > ")
        known = [t for t in q_terms if t[2] & self._corpus_stems or t[0] in self._corpus_stems]
        cov_parent = self.coverage(known, set(terms(shown[-2])))
        cov_leaf = self.coverage(known, set(terms(shown[-1])))
        own = self.coverage(known, self._own_terms[s.row])
        if not (enumerating or cov_parent >= HEADING_LIST_COVERAGE):
            return []
        if cov_parent <= max(cov_leaf, own):
            return []
        lines = [Line([], lead=shown[-2])]
        for ci in sorted(kids.values(), key=lambda i: self.index.chunks[i].char_start):
            units = self._section_units(ci)
            first = [(c, u) for c, _, u in self._first_of_blocks(units)][:MAX_OUTLINE_ITEMS]
            lines.append(Line(first, item=True, label=self._label(ci), joiner="; "))
        return lines

    def _section_overview(self, question: str, best: ScoredUnit, q_terms) -> list[Line]:
        """ "What is SenseNova?", "What can SenseNova do?": a question that names a section's
        heading and nothing else is answered by that short section whole (its opening sentence,
        then its items), not by whichever of its sentences scored best; a longer section by its
        opening sentence ("What business model does SenseTime use?")."""
        if YES_NO_RE.match(question) or question_kind(question) in STRICT_KINDS:
            return []
        leaf = set(terms(self._label(best.chunk_index)))
        wanted = [
            t
            for t in q_terms
            if t[0] not in self.ubiquitous_stems
            and t[0] not in LIGHT_STEMS
            and t[0] not in LIGHT_VERB_STEMS
        ]
        if not wanted or not leaf:
            return []
        if not all(any(_soft_equal(a, h) for a in alts for h in leaf) for _, _, alts in wanted):
            return []
        section = self._section_units(best.chunk_index)
        if len(section) > MAX_OVERVIEW_UNITS:
            # too long to give whole: rather than a sub-item deep inside it, its opening sentence
            # (when it has one) says what it is about
            ci, _, first = section[0]
            if best.unit.depth >= 1 and first.list_id is None:
                return [Line([(ci, first)])]
            return []
        if len(section) < 2:
            return []
        lines = [Line([(ci, u)], item=u.list_id is not None) for ci, _, u in section]
        if lines[0].item:
            lines.insert(0, Line([], lead=self._label(best.chunk_index)))
        return lines

    def _excluding(self, question: str, q_terms, scored: list[ScoredUnit]) -> list[Line] | None:
        """'Besides X, what ...?' / 'other than X': the rest of the list the item matching X is in."""
        m = EXCLUDE_RE.search(question)
        if not m:
            return None
        excluded = set(terms(m.group("x")))
        if not excluded:
            return None
        for s in scored[:6]:
            if s.unit.list_id is None or not excluded <= self._own_terms[s.row]:
                continue
            if len(s.unit.text.split()) > SHORT_ITEM_WORDS:
                return None  # a long item enumerates inside itself: answer it as it is
            section = self._section_units(s.chunk_index)
            items = self._items(section, s.unit.list_id, s.unit.depth, s.unit.parent, excluded)
            if items:
                return [Line([], lead=self._label(s.chunk_index))] + [
                    Line([t], item=True) for t in items
                ]
        return None

    def select(self, question: str, scored: list[ScoredUnit], q_terms) -> list[Line]:
        """The lines of the answer, in order."""
        best = scored[0]
        unit = best.unit
        rest = self._excluding(question, q_terms, scored)
        if rest:
            return rest
        enumerating = is_enumerating(question, self._heading_terms[best.chunk_index])
        outline = self._outline_answer(best, q_terms, enumerating)
        if outline:
            return outline
        overview = self._section_overview(question, best, q_terms)
        if overview:
            return overview
        # the best list item close to the top stands for its list; a better-scoring sentence of
        # the same section (an introduction) is said first
        for s in scored[:6]:
            if s.score < best.score - LIST_MARGIN:
                break
            if s.unit.list_id is None:
                continue
            items = self._list_answer(s, q_terms, enumerating, bool(YES_NO_RE.match(question)))
            if items:
                same_section = (
                    self.index.chunks[s.chunk_index].section_id
                    == self.index.chunks[best.chunk_index].section_id
                )
                if s is not best and best.unit.list_id is None and same_section:
                    return [Line([(best.chunk_index, best.unit)])] + items
                return items
            break
        picked = [self._single(best.chunk_index, unit)]
        if question_kind(question) == "duration" and not DURATION_RE.search(unit.text):
            # "How many years after its founding did it go public?": no length of time is
            # written, but two dates give it; both are quoted (the bot does not subtract)
            other = next(
                (
                    s
                    for s in scored[1:6]
                    if has_kind(s.unit.text, "date")
                    and s.unit.text != unit.text
                    and (
                        s.evidence >= self.threshold
                        or self.index.chunks[s.chunk_index].section_id
                        == self.index.chunks[best.chunk_index].section_id
                    )
                ),
                None,
            )
            if other is not None:
                first, second = sorted(
                    (best, other), key=lambda s: (s.chunk_index, s.unit.char_start)
                )
                return [
                    self._single(first.chunk_index, first.unit),
                    self._single(second.chunk_index, second.unit),
                ]
        lead = self._item_lead(best)
        if lead is not None:
            # a later sentence of a list item is said after the item's first one, which names
            # what the item is about ("US Sanctions: SenseTime has been placed on ...")
            picked.insert(0, self._single(best.chunk_index, lead))
        uncovered = [
            t
            for t in q_terms
            if not any(_soft_equal(a, b) for a in t[2] for b in self._unit_terms[best.row])
        ]
        for s in scored[1:4]:
            if s.score < best.score - SECOND_UNIT_MARGIN:
                break
            if s.unit.block == best.unit.block and s.chunk_index == best.chunk_index:
                continue
            if (
                self.index.chunks[s.chunk_index].section_id
                != self.index.chunks[best.chunk_index].section_id
            ):
                continue  # supporting detail comes from the same section, or not at all
            if uncovered and self.coverage(uncovered, self._unit_terms[s.row]) > 0:
                picked.append(self._single(s.chunk_index, s.unit))
                break
        return picked

    def _item_lead(self, s: ScoredUnit) -> Unit | None:
        """The first sentence of the list item whose later sentence ``s`` is, else None."""
        if s.unit.list_id is None:
            return None
        for unit in self.index.chunks[s.chunk_index].units:
            if unit.block == s.unit.block and unit.list_id == s.unit.list_id:
                return unit if unit.char_start < s.unit.char_start else None
        return None

    def _single(self, chunk_index: int, unit: Unit) -> Line:
        # a bare list item ("Urban planning") says little without its section's name
        bare = unit.kind == "item" and not LABEL_RE.match(unit.text)
        return Line([(chunk_index, unit)], label=self._label(chunk_index) if bare else None)

    def _label(self, chunk_index: int) -> str:
        """The section's own heading as displayed (repaired), for list leads and bare items."""
        return self.index.chunks[chunk_index].search_heading.split(" > ")[-1]

    def render(self, lines: list[Line], scored) -> tuple[str, list[Citation]]:
        """Answer text with [n] markers, and the citations numbered in order of first use."""
        score_of = {(s.chunk_index, s.unit.char_start): s.score for s in scored}
        numbers: dict[int, int] = {}
        used: dict[int, list[Unit]] = {}
        out = []
        for line in lines:
            if line.lead is not None:
                out.append(f"{line.lead}:")
                continue
            marks = []
            for ci, unit in line.units:
                if ci not in numbers:
                    numbers[ci] = len(numbers) + 1
                    used[ci] = []
                if unit not in used[ci]:
                    used[ci].append(unit)
                if f"[{numbers[ci]}]" not in marks:
                    marks.append(f"[{numbers[ci]}]")
            texts = [u.text for _, u in line.units]
            if line.item and len(lines) > 3:
                texts = [_shorten(t) for t in texts]
            body = line.joiner.join(texts)
            if line.label:
                body = f"{line.label}: {body}"
            out.append(f"{'- ' if line.item else ''}{body} {''.join(marks)}")
        citations = []
        for ci, n in numbers.items():
            chunk: Chunk = self.index.chunks[ci]
            units = sorted(used[ci], key=lambda u: u.char_start)
            start, end = units[0].char_start, units[-1].char_end
            source = _document_slice(chunk, start, end)
            citations.append(
                Citation(
                    number=n,
                    document=chunk.doc_id,
                    heading_path=list(chunk.heading_path),
                    section_id=chunk.section_id,
                    chunk_id=chunk.id,
                    line_start=units[0].line,
                    line_end=units[0].line + source.count("\n"),
                    char_start=start,
                    char_end=end,
                    quote=" ".join(u.text for u in units),
                    quotes=[u.text for u in units],
                    source_text=source,
                    passage=chunk.clean,
                    score=round(max(score_of.get((ci, u.char_start), 0.0) for u in units), 4),
                )
            )
        citations.sort(key=lambda c: c.number)
        return "\n".join(out), citations


@dataclass
class Line:
    """One line of an answer: the units it says (each with its chunk), as a list item or not,
    optionally after a label (a section name); or a lead line that only names a section."""

    units: list[tuple[int, Unit]]
    item: bool = False
    label: str | None = None
    lead: str | None = None
    joiner: str = " "


def _shorten(text: str, limit: int = 90) -> str:
    """A long labelled list item cut after its first clause ("Smart City: Large-scale urban
    management systems…"): in a list, the label and gist; the citation keeps the whole item."""
    if len(text) <= limit or not LABEL_RE.match(text):
        return text
    label, _, rest = text.partition(": ")
    cut = re.search(r",\s|\s[-–—]\s|;\s", rest[20:])
    if not cut:
        return text
    return f"{label}: {rest[: 20 + cut.start()]}…"


def _document_slice(chunk: Chunk, start: int, end: int) -> str:
    """Raw document text over [start, end): inside the chunk when it covers it (it always should)."""
    if chunk.char_start <= start and end <= chunk.char_end:
        return chunk.text[start - chunk.char_start : end - chunk.char_start]
    return ""


def abstain_text() -> str:
    return (
        "I can't answer that from the documents: they don't appear to cover it, and I won't guess."
    )
