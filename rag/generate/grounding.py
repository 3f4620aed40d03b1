"""The grounding check: every sentence an LLM wrote, tested against the passages it cites.

A generated sentence is kept only when all of these hold (the first that fails is its ``reason``):

1. **citation** — it carries at least one ``[n]`` naming a source the LLM was given (a list
   whose last item carries the marker carries it on every item);
2. **numbers** — every number, amount, percentage and year in it appears, after normalisation, in
   the sources it cites: ``$1.2B`` = ``$1.2 billion`` = ``1,200 million``; ``12%`` = ``12 percent``;
   ``seven`` = ``7``; or it is *computed* from two of their figures: their sum, difference, ratio,
   percentage or percentage change, within the rounding of the number as written
   (``rag.arithmetic.derive``; the formula is added to the sentence's reason);
3. **dates** — every month it names (``Dec``/``December``) appears in the cited sources;
4. **names** — every proper name (a capitalised word inside the sentence; its first word only
   when the word is rare in English) appears in the cited sources or their headings, compared
   without case, spaces and punctuation (``Sense Time`` = ``SenseTime``);
5. **negation** — it is negated (``not``, ``never``, ``no``, ``n't``, ``without``, ...) exactly
   when its best supporting unit is; and its facts sit where the sources put them: no antonym of
   the best unit's words ("admits" for "denies"), no role swap, no name or number moved from
   another unit of the passage (``rag.generate.relations``);
6. **support** — a unit of the cited sources supports it in meaning: a logistic model over
   MiniLM cosine and content-token alignment (sentence vs best unit, sentence vs all cited units)
   gives P(supported) >= the threshold. Weights and threshold were fitted on SQuAD 2.0 *train*
   articles (``python -m rag.generate.fit``; data, rule and figures in ``support_model.json``),
   never on the project's evaluation questions.

A unit of a source that reads as instructions to an AI assistant (``Unit.instruction``, marked at
index time by ``rag.instructions``) is never support: the numbers, months and names of the check
are looked up in the rest of the source, and the meaning check compares with the other units only.

What it does not check: that the sentence answers the question; claims made without a number,
name or negation cue that are close in meaning to a cited unit but subtly wrong ("revenue grew"
vs "revenue fell"); arithmetic over more than two figures or over dates ("8 years after" from two
dates); that a computed number is the computation the question asked for; and sources the
extractive stage did not select. The check needs the embedder's vectors and nothing else; it does
not call the LLM and does not read the index (its caller hands it ``Source`` objects).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.answer_types import CheckedSentence
from rag.arithmetic import derive, figures
from rag.generate.base import Source

SUPPORT_MODEL = Path(__file__).with_name("support_model.json")

# ---- sentences and markers ------------------------------------------------------------------------

MARKER_RE = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_ABBREV_RE = re.compile(
    r"(?:\b[A-Za-z]\.){1,}$|\b(?:Mr|Mrs|Ms|Dr|Prof|Inc|Ltd|Co|Corp|vs|No|St)\.$"
)


@dataclass
class Piece:
    """One sentence of the reply: its text (markers included), paragraph and list-item flag."""

    text: str
    paragraph: int
    item: bool = False


def split_sentences(reply: str) -> list[Piece]:
    """Sentences of an LLM reply, by line and sentence end. A marker written after the full stop
    ("... in 2014. [2]") stays with the sentence before it; "U.S." and "Dr." do not end one."""
    pieces: list[Piece] = []
    paragraph = 0
    for line in reply.replace("\r", "").split("\n"):
        line = line.strip()
        if not line:
            paragraph += 1
            continue
        item = bool(_BULLET_RE.match(line))
        line = _BULLET_RE.sub("", line)
        line = re.sub(r"^#{1,6}\s+", "", line)
        start = 0
        sentences = []
        for m in re.finditer(r"[.!?][\"”’')]*\s+(?=[\[\"“(A-Z0-9])", line):
            head = line[start : m.start() + 1]
            if _ABBREV_RE.search(head.rstrip("\"”’')")):
                continue
            sentences.append(line[start : m.end()])
            start = m.end()
        sentences.append(line[start:])
        merged: list[str] = []
        for s in sentences:
            s = s.strip()
            lead = re.match(r"^(?:\[\d[\d,\s]*\]\s*)+", s)
            if lead and merged:  # "[2]" opening a sentence closes the one before
                merged[-1] = f"{merged[-1]} {lead.group(0).strip()}"
                s = s[lead.end() :].strip()
            if s and merged and not re.search(r"[0-9A-Za-z]", MARKER_RE.sub("", s)):
                merged[-1] = f"{merged[-1]}{s}"  # a lone "." after "[2]" belongs to it
            elif s:
                merged.append(s)
        pieces += [Piece(s, paragraph, item) for s in merged]
        if item:
            paragraph += 1
    return pieces


def _list_citations(pieces: list[Piece]) -> list[Piece]:
    """A list whose items carry no marker but whose last item does ("- a\n- b\n- c [1]"): the
    marker is the whole list's, so every item carries it (each is still checked on its own)."""
    out = list(pieces)
    i = 0
    while i < len(out):
        if not out[i].item:
            i += 1
            continue
        j = i
        while j + 1 < len(out) and out[j + 1].item:
            j += 1
        marks = MARKER_RE.findall(out[j].text)
        if marks:
            tail = "".join(f"[{m}]" for m in marks)
            for k in range(i, j):
                if not citations_of(out[k].text):
                    out[k] = Piece(f"{out[k].text} {tail}", out[k].paragraph, out[k].item)
        i = j + 1
    return out


def citations_of(sentence: str) -> list[int]:
    """The numbers of the ``[n]`` / ``[n, m]`` markers in a sentence, in order, without repeats."""
    out: list[int] = []
    for m in MARKER_RE.finditer(sentence):
        for part in m.group(1).split(","):
            n = int(part)
            if n not in out:
                out.append(n)
    return out


def strip_markers(sentence: str) -> str:
    """The sentence without markers and markdown emphasis, whitespace collapsed."""
    text = MARKER_RE.sub("", sentence)
    text = re.sub(r"[*_`]+", "", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return " ".join(text.split())


# ---- numbers, dates and names ---------------------------------------------------------------------

_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
    "t": 1e12,
}
_NUMBER_RE = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
    r"(?:\s?(thousand|million|billion|trillion|bn|mn|tn)\b|([kKmMbBT])\b)?"
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
    if i >= 2  # "one" is too often not a count ("one of the leading ...")
}
_NUMBER_WORDS.update({"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100})
_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        1,
    )
    for name in names
}
_WORD_RE = re.compile(r"(?<![0-9A-Za-z])[A-Za-z][A-Za-z0-9'’&-]*")


def numbers_in(text: str) -> set[float]:
    """Every number of ``text`` as a value: scale words and suffixes applied, thousands commas
    dropped, small number words read. ``"$1.2B"`` and ``"1.2 billion"`` both give 1.2e9."""
    values = set()
    for m in _NUMBER_RE.finditer(text):
        whole, frac, word, suffix = m.groups()
        value = float(whole.replace(",", "") + (f".{frac}" if frac else ""))
        scale = (word or suffix or "").lower()
        values.add(_key(value * _SCALES.get(scale, 1.0)))
    for m in re.finditer(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", text, re.I):
        values.add(_key(float(_NUMBER_WORDS[m.group(1).lower()])))
    return values


def _key(value: float) -> float:
    """A value rounded to 6 significant digits, so 1.2e9 from "1.2B" and from "1,200 million" meet."""
    if value == 0:
        return 0.0
    return round(value, -int(math.floor(math.log10(abs(value)))) + 5)


_MONTH_NAMES = {
    v: k.title() for k, v in _MONTHS.items() if len(k) > 4 or k in ("may", "june", "july")
}


def months_in(text: str) -> set[int]:
    """Months named in ``text`` (capitalised, so the verb "may" is not May), as 1-12."""
    out = set()
    for m in re.finditer(r"\b([A-Z][a-z]{2,8})\.?(?=\W|$)", text):
        month = _MONTHS.get(m.group(1).lower())
        if month and (len(m.group(1)) == 3 or m.group(1).lower() in _MONTHS):
            out.add(month)
    return out


def squash(text: str) -> str:
    """Lower-case letters and digits only: "Sense Time's" -> "sensetimes"."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


@lru_cache(maxsize=50_000)
def _common(word: str) -> bool:
    from rag.repair import zipf

    return zipf(word.lower()) >= 3.0


def names_in(sentence: str) -> list[str]:
    """Proper names of a sentence: capitalised words (possessive dropped) not at its start, and the
    first word when it is rare in English. Months and "I" are not names."""
    text = strip_markers(sentence)
    out = []
    initial = True
    for m in _WORD_RE.finditer(text):
        word = re.sub(r"['’]s$", "", m.group(0)).strip("'’-&")
        before = text[max(0, m.start() - 16) : m.start()].rstrip()  # a window: linear time
        if before.endswith((":", "(", '"', "“", "—", "–")) and not initial:
            initial = True  # a word opening a clause, label or quote is capitalised anyway
        if word and word[0].isupper() and word != "I" and word.lower() not in _MONTHS:
            if not initial or not _common(word):
                out.append(word)
        initial = False
    return list(dict.fromkeys(out))


_NEGATION_RE = re.compile(
    r"\b(?:not(?!\s+only\b)|no(?![.\s]*\d)|never|none|nobody|nothing|neither|nor|without|cannot|"
    r"unable|lacks?|lacked|\w+n['’]t)\b",
    re.I,
)


def negated(text: str) -> bool:
    """Whether the text says something is not so ("not only" and "No. 1" do not count)."""
    return bool(_NEGATION_RE.search(text))


# ---- the support model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupportModel:
    """P(supported) = sigmoid(bias + w . [cos_best, align_best, align_all]); kept when >= threshold.
    ``unit_weights`` rank the units of a source (cosine and alignment of one unit)."""

    bias: float
    weights: tuple[float, float, float]
    threshold: float
    meta: dict = field(default_factory=dict, compare=False)

    def probability(self, features) -> float:
        z = self.bias + float(np.dot(self.weights, features))
        return 1.0 / (1.0 + math.exp(-z))

    def unit_scores(self, cos: np.ndarray, align: np.ndarray) -> np.ndarray:
        return self.weights[0] * cos + self.weights[1] * align

    @classmethod
    def load(cls, path: Path = SUPPORT_MODEL) -> SupportModel:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        if d.get("format_version") != 1:
            raise ValueError(f"{path}: unknown format_version {d.get('format_version')!r}")
        return cls(
            float(d["bias"]), tuple(float(w) for w in d["weights"]), float(d["threshold"]), d
        )


# ---- the checker --------------------------------------------------------------------------------------


@dataclass
class SentenceCheck:
    """A checked sentence with where its support lies: source number -> indexes of its units."""

    piece: Piece
    result: CheckedSentence
    body: str  # the sentence without markers
    support: dict[int, list[int]] = field(default_factory=dict)


class GroundingChecker:
    """Checks the sentences of a reply against numbered ``Source`` objects. Cheap to build; the
    support model is read on first use. ``embedder`` gives sentence and content-token vectors."""

    def __init__(self, embedder, model: SupportModel | None = None):
        self.embedder = embedder
        self._model = model

    def warm_up(self) -> GroundingChecker:
        """Read the support model and the word-frequency table now, not on the first answer."""
        _ = self.model
        _common("the")
        return self

    @property
    def model(self) -> SupportModel:
        if self._model is None:
            self._model = SupportModel.load()
        return self._model

    def check(self, reply: str, sources: list[Source]) -> list[SentenceCheck]:
        """One ``SentenceCheck`` per sentence of ``reply``, in order. The cheap checks (citation,
        numbers, months, names) run first; only the sentences that pass them are embedded."""
        pieces = _list_citations(split_sentences(reply))
        by_number = {s.number: s for s in sources}
        out: list[SentenceCheck | None] = []
        pending = []
        known: dict = {}  # per list of cited sources, what they hold: read once, not per sentence
        computed: dict[str, list[str]] = {}  # sentence body -> the formulas of its computed numbers
        for p in pieces:
            body = strip_markers(p.text)
            failed = self._cheap(p, body, by_number, known, computed)
            out.append(failed)
            if failed is None:
                pending.append((len(out) - 1, p, body))
        bodies = list(dict.fromkeys(b for _, _, b in pending))
        if bodies:
            vectors = dict(zip(bodies, self.embedder.embed(bodies), strict=True))
            toks = self.embedder.embed_tokens(bodies) or [None] * len(bodies)
            tokens = dict(zip(bodies, toks, strict=True))
            stacks: dict = {}
            for i, p, body in pending:
                out[i] = self._meaning(p, body, by_number, vectors[body], tokens[body], stacks)
                if out[i].result.supported and computed.get(body):
                    out[i].result.reason += f"; computed: {'; '.join(computed[body])}"
        return out

    def prefetcher(self) -> Prefetcher:
        """A ``Prefetcher`` for one streaming reply: fed its tokens, it embeds each sentence once
        it is complete, looking only at the text since the last complete sentence."""
        return Prefetcher(self)

    def prefetch(self, partial: str) -> None:
        """Embed the sentences of a reply still streaming that are complete (all but the last,
        and the last too once it ends in a full stop or a marker) and carry a citation, so
        ``check`` finds their vectors cached when the reply ends."""
        pieces = split_sentences(partial)
        if pieces and not re.search(r"[.!?\]][\"”’')]*\s*$", partial):
            pieces = pieces[:-1]
        bodies = [strip_markers(p.text) for p in pieces]
        todo = [b for p, b in zip(pieces, bodies, strict=True) if b and citations_of(p.text)]
        todo = [b for b in todo if self.embedder.cache.get(b) is None]
        if todo:
            self.embedder.embed(todo)

    @staticmethod
    def _fail(piece: Piece, body: str, reason: str, support: float = 0.0, quote: str = ""):
        cited = citations_of(piece.text)
        return SentenceCheck(
            piece, CheckedSentence(piece.text, False, reason, cited, support, quote), body
        )

    def _cheap(
        self, piece: Piece, body: str, by_number, memo=None, computed=None
    ) -> SentenceCheck | None:
        """The first failing check among citation, numbers, months and names; None if all pass.
        A number the sources do not print passes when it is computed from two of their figures;
        its formula goes into ``computed[body]``."""
        cited = citations_of(piece.text)
        if not body or not re.search(r"[A-Za-z0-9]", body):
            return self._fail(piece, body, "no text")
        if not cited:
            return self._fail(piece, body, "no [n] citation")
        valid = [n for n in cited if n in by_number]
        if not valid:
            return self._fail(
                piece, body, f"cites [{cited[0]}], which is not one of the {len(by_number)} sources"
            )
        memo = {} if memo is None else memo
        key = tuple(valid)
        if key not in memo:
            memo[key] = _Held([by_number[n] for n in valid])
        held = memo[key]
        marks = held.marks
        missing = sorted(numbers_in(body) - held.numbers)
        if missing:
            formulas, unexplained = computed_from(body, missing, held.text)
            if unexplained is not None:
                reason = (
                    f"the number {_show(unexplained)} is not in {marks} and does not follow from "
                    "its figures (sum, difference, ratio, percentage or change)"
                )
                return self._fail(piece, body, reason + _only_quoted(held, _show(unexplained)))
            if computed is not None:
                computed[body] = formulas
        missing_months = sorted(months_in(body) - held.months)
        if missing_months:
            name = _MONTH_NAMES[missing_months[0]]
            return self._fail(piece, body, f"the month {name} is not in {marks}")
        known, known_words = held.squashed, held.words
        for name in names_in(piece.text):
            key = squash(name)
            if key and key not in known_words and (len(key) < 4 or key not in known):
                reason = f"the name {name!r} is not in {marks}"
                return self._fail(piece, body, reason + _only_quoted(held, name))
        return None

    def _meaning(
        self, piece: Piece, body: str, by_number, vec, tokens, stacks=None
    ) -> SentenceCheck:
        """Negation and support in meaning, against the units of the cited sources."""
        cited = citations_of(piece.text)
        valid = [n for n in cited if n in by_number]
        unknown = [n for n in cited if n not in by_number]
        srcs = [by_number[n] for n in valid]
        marks = "".join(f"[{n}]" for n in valid)
        stacks = {} if stacks is None else stacks  # one stack per list of cited sources
        key = tuple(valid)
        if key not in stacks:
            stacks[key] = stack_sources(srcs)
        prob, best, per_source = self.support(vec, tokens, srcs, stacks[key])
        quote = best.text if best is not None else ""
        if best is not None and negated(body) != negated(best.text):
            which = "the sentence" if negated(body) else "its source"
            reason = f"negation flip: {which} is negated ({marks}: {quote!r})"
            return self._fail(piece, body, reason, prob, quote)
        if best is not None:
            wrong = _misrelated(body, best.text, srcs, marks)
            if wrong:
                return self._fail(piece, body, wrong, prob, quote)
        if prob < self.model.threshold:
            reason = (
                f"not supported in meaning by {marks}: P={prob:.2f} < {self.model.threshold:.2f}"
            )
            if any(s.instructions for s in srcs):
                reason += (
                    f" ({marks} holds instructions to an AI assistant: quoted data, never support)"
                )
            return self._fail(piece, body, reason, prob, quote)
        reason = f"supported by {marks} (P={prob:.2f})"
        if unknown:
            reason += f"; unknown marker(s) {', '.join(f'[{n}]' for n in unknown)} dropped"
        return SentenceCheck(
            piece, CheckedSentence(piece.text, True, reason, cited, prob, quote), body, per_source
        )

    def support(self, vec, tokens, srcs: list[Source], stacked=None):
        """P(supported), the best unit, and for each source the units that support the sentence
        (its best unit, and any unit scoring within 0.05 of the overall best)."""
        units, cos, align, align_all = features(vec, tokens, srcs, stacked)
        if not units:
            return 0.0, None, {}
        scores = self.model.unit_scores(cos, align)
        b = int(np.argmax(scores))
        prob = self.model.probability([float(cos.max()), float(align.max()), align_all])
        per_source: dict[int, list[int]] = {}
        margin = 0.05 * max(sum(self.model.weights[:2]), 1e-6)
        for j, (n, i, _) in enumerate(units):
            if scores[j] >= scores[b] - margin:
                per_source.setdefault(n, []).append(i)
        return prob, units[b][2], per_source


def _misrelated(body: str, best: str, srcs: list[Source], marks: str) -> str | None:
    """The reason when the sentence's facts are not where its sources put them
    (``rag.generate.relations``): an antonym, a role swap, a name or number moved between units."""
    from rag.generate.relations import antonym, misplaced, role_swap

    flip = antonym(body, best)
    if flip:
        return f"antonym: the sentence says {flip[0]!r} where {marks} says {flip[1]!r}"
    swap = role_swap(body, best)
    if swap:
        return f"role swap: {marks} says it of {swap[1]!r} and {swap[0]!r} the other way round"
    moved = misplaced(body, [u.text for s in srcs for u in s.units if not u.instruction], best)
    if moved:
        return (
            f"{moved[0]!r} is not where {marks} puts it: no sentence of {marks} that names it "
            f"says {moved[1]!r}"
        )
    return None


def computed_from(body: str, missing: list[float], text: str) -> tuple[list[str], float | None]:
    """The formulas by which each of ``missing`` (values of ``body`` that ``text`` does not
    print) follows from two figures of ``text``; and the first that follows from none (None when
    all do)."""
    written = figures(body)
    inputs = figures(text)
    formulas = []
    for value in missing:
        target = next(
            (f for f in written if _key(f.scaled) == value or _key(f.bare) == value), None
        )
        formula = derive(target, inputs) if target is not None else None
        if formula is None:
            return formulas, value
        formulas.append(formula)
    return formulas, None


def _only_quoted(held: _Held, word: str) -> str:
    """A reason's tail when what is missing is only in text addressed to an AI assistant."""
    key = squash(word)
    if key and key in held.quoted:
        return " (only in text addressed to an AI assistant, which is never support)"
    return ""


class _Held:
    """What a list of cited sources holds, for the cheap checks: computed once per list."""

    def __init__(self, srcs: list[Source]):
        self.marks = "".join(f"[{s.number}]" for s in srcs)
        text = " ".join(s.data_text for s in srcs)  # instructions to an assistant are not facts
        self.text = text
        self.quoted = squash(" ".join(u.text for s in srcs for u in s.instructions))
        headings = " ".join(s.heading for s in srcs)
        self.numbers = numbers_in(text)
        self.months = months_in(text)
        self.squashed = squash(f"{text} {headings}")
        self.words = set(re.findall(r"[0-9a-z]+", f"{text} {headings}".lower()))
        # and its name-shaped words squashed as a sentence's names are ("R&D" -> "rd")
        self.words |= {squash(w) for w in _WORD_RE.findall(f"{text} {headings}")}


_SENTENCE_END_RE = re.compile(r"[.!?][\"”’')]*\s+(?=[\[\"“(A-Z0-9])")


class Prefetcher:
    """Embeds the finished sentences of a streaming reply as they finish, in time linear in the
    reply: the text is cut after every finished sentence (a line end, or a sentence end that
    ``split_sentences`` also splits at), and only the text after the last cut is looked at again.
    A cut that ``check`` splits differently (a "[2]" opening the next line) only costs a cache
    miss: ``check`` embeds what it does not find."""

    def __init__(self, checker: GroundingChecker):
        self.checker = checker
        self._tail: list[str] = []  # tokens since the last cut

    def feed(self, token: str) -> None:
        self._tail.append(token)
        if not re.search(r"[.!?\]\n]", token):
            return
        tail = "".join(self._tail)
        cut = tail.rfind("\n") + 1
        for m in _SENTENCE_END_RE.finditer(tail, cut):
            if not _ABBREV_RE.search(tail[cut : m.start() + 1].rstrip("\"”’')")):
                cut = m.end()
        if cut:
            self.checker.prefetch(tail[:cut])
            self._tail = [tail[cut:]] if cut < len(tail) else []


def features(vec, tokens, srcs: list[Source], stacked=None):
    """The units of ``srcs`` as (source number, unit index, unit), and the sentence's cosine and
    token alignment with each, and its alignment with all their tokens together. One matrix product
    per sentence; ``stacked`` is ``stack_sources(srcs)``, computed here when not given."""
    units = [(s.number, i, u) for s in srcs for i, u in enumerate(s.units) if not u.instruction]
    if vec is None or not units:
        return [], np.zeros(0), np.zeros(0), 0.0
    matrix, toks, offsets = stacked or stack_sources(srcs)
    cos = matrix @ vec
    align = np.zeros(len(units), dtype=np.float32)
    align_all = 0.0
    if tokens is not None and len(tokens) and toks is not None and len(toks):
        sims = np.asarray(tokens, dtype=np.float32) @ toks.T  # (sentence tokens, unit tokens)
        has = np.diff(offsets) > 0
        best = np.maximum.reduceat(sims, offsets[:-1][has], axis=1)  # per unit with tokens
        align[has] = best.mean(axis=0)
        align_all = float(sims.max(axis=1).mean())
    return units, cos, align, align_all


def stack_sources(srcs: list[Source]):
    """The units' vectors as one matrix, their tokens as one matrix, and each unit's first token
    row (plus the end): what ``features`` multiplies a sentence with."""
    units = [u for s in srcs for u in s.units if not u.instruction]  # never support
    if not units:
        return np.zeros((0, 1), dtype=np.float32), None, np.zeros(1, dtype=np.int64)
    matrix = np.stack([u.vector for u in units]).astype(np.float32)
    if all(u.tokens is not None for u in units):
        sizes = [len(u.tokens) for u in units]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        parts = [np.asarray(u.tokens, dtype=np.float32) for u in units if len(u.tokens)]
        toks = np.concatenate(parts) if parts else None
    else:
        toks, offsets = None, np.zeros(len(units) + 1, dtype=np.int64)
    return matrix, toks, offsets


def _align(q: np.ndarray, t: np.ndarray) -> float:
    """Mean over the sentence's content tokens of the best cosine with a token of ``t``."""
    if not len(q) or t is None or not len(t):
        return 0.0
    return float((q @ np.asarray(t, dtype=np.float32).T).max(axis=1).mean())


def _show(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"
