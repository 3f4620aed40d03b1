"""Selection: which units make the answer, once the question is judged answerable.

Strategies, tried in order; each is a small function that returns the answer's lines or nothing:

- ``excluding``: "besides X, what ...?" gets the rest of the list X is in;
- ``outline``: a question about a parent heading whose sub-sections are its parts gets one line per
  part;
- ``overview``: a question that names only a section's heading gets that short section whole (a long
  one its opening sentence);
- ``list_answer``: a list item near the top stands for its list when the question asks for a list,
  when the question's words are in the heading rather than the item, or when the item is short and
  bare and shares little with the question;
- ``two_dates``: a time between two events, with no length written, quotes both dates;
- ``single``: the best unit (after the first sentence of its list item when it is a later one), with
  a second unit of the same section when it covers words of the question the first lacks.

Margins compare candidates' ``prior`` scores (``rag.answer.candidates``), the scale they were set on.
"""

from __future__ import annotations

from rag.answer.candidates import Candidate
from rag.answer.config import AnswerConfig
from rag.answer.kinds import DURATION_RE, LABEL_RE, STRICT_KINDS, has_kind
from rag.answer.matching import QTerm, coverage, known_terms, matches, soft_equal
from rag.answer.question import LIGHT_STEMS, LIGHT_VERB_STEMS, QuestionAnalysis
from rag.answer.render import Line
from rag.arithmetic import Computation, computation, figures
from rag.chunking import Unit
from rag.corpus_stats import CorpusStats
from rag.index import Index
from rag.lexical import terms

MAX_INPUTS = 3  # figure lines an answer to "compute X" quotes as its inputs

Row = tuple[int, int, Unit]  # (chunk index, unit row, unit)


class Selector:
    def __init__(self, index: Index, stats: CorpusStats, config: AnswerConfig):
        self.index = index
        self.stats = stats
        self.config = config

    # ---- section helpers ----------------------------------------------------------------------

    def label(self, chunk_index: int) -> str:
        """The section's own heading as displayed (repaired), for list leads and bare items."""
        return self.index.chunks[chunk_index].search_heading.split(" > ")[-1]

    def section_units(self, chunk_index: int) -> list[Row]:
        """Every unit of the chunk's section, in document order, deduplicated."""
        section = self.index.chunks[chunk_index].section_id
        seen, out = set(), []
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
    def first_of_blocks(units: list[Row]) -> list[Row]:
        seen, out = set(), []
        for t in units:
            if t[2].block not in seen:
                seen.add(t[2].block)
                out.append(t)
        return out

    def items(self, section: list[Row], list_id, depth, parent, exclude=frozenset()) -> list:
        """The items of one list of a section (first sentence of each), as (chunk, unit)."""
        items = [
            t
            for t in section
            if t[2].list_id == list_id
            and t[2].depth == depth
            and t[2].parent == parent
            and not (exclude and exclude <= self.stats.own_terms[t[1]])
        ]
        return [(ci, u) for ci, _, u in self.first_of_blocks(items)[: self.config.max_list_items]]

    def same_heading_sections(self, chunk_index: int) -> list[int]:
        """First chunk of every other section whose heading path repeats this chunk's."""
        chunk = self.index.chunks[chunk_index]
        out = []
        for section_id, cis in self.index.by_section.items():
            other = self.index.chunks[cis[0]]
            if other.heading_path == chunk.heading_path and section_id != chunk.section_id:
                out.append(cis[0])
        return out

    def same_section(self, a: Candidate, b: Candidate) -> bool:
        chunks = self.index.chunks
        return chunks[a.chunk_index].section_id == chunks[b.chunk_index].section_id

    def single(self, chunk_index: int, unit: Unit) -> Line:
        # a bare list item ("Urban planning") says little without its section's name
        bare = unit.kind == "item" and not LABEL_RE.match(unit.text)
        return Line([(chunk_index, unit)], label=self.label(chunk_index) if bare else None)

    def item_lead(self, c: Candidate) -> Unit | None:
        """The first sentence of the list item whose later sentence ``c`` is, else None."""
        if c.unit.list_id is None:
            return None
        for unit in self.index.chunks[c.chunk_index].units:
            if unit.block == c.unit.block and unit.list_id == c.unit.list_id:
                return unit if unit.char_start < c.unit.char_start else None
        return None

    # ---- strategies ---------------------------------------------------------------------------

    def excluding(self, a: QuestionAnalysis, ranked: list[Candidate]) -> list[Line]:
        if not a.excluded:
            return []
        for c in ranked[:6]:
            if c.unit.list_id is None or not a.excluded <= self.stats.own_terms[c.row]:
                continue
            if len(c.unit.text.split()) > self.config.short_item_words:
                return []  # a long item enumerates inside itself: answer it as it is
            section = self.section_units(c.chunk_index)
            items = self.items(section, c.unit.list_id, c.unit.depth, c.unit.parent, a.excluded)
            if items:
                return [Line([], lead=self.label(c.chunk_index))] + [
                    Line([t], item=True) for t in items
                ]
        return []

    def outline(self, best: Candidate, q_terms: list[QTerm], enumerating: bool) -> list[Line]:
        chunk = self.index.chunks[best.chunk_index]
        if len(chunk.heading_path) < 3:
            return []
        parent = chunk.heading_path[:-1]
        kids: dict[str, int] = {}
        for section_id, cis in self.index.by_section.items():
            if self.index.chunks[cis[0]].heading_path[:-1] == parent:
                kids.setdefault(section_id, cis[0])
        if len(kids) < self.config.min_outline_parts:
            return []  # two sub-sections are a pair of topics more often than parts of a whole
        shown = chunk.search_heading.split(" > ")
        known = known_terms(q_terms, self.stats)
        cov_parent = coverage(known, set(terms(shown[-2])))
        cov_leaf = coverage(known, set(terms(shown[-1])))
        own = coverage(known, self.stats.own_terms[best.row])
        if not (enumerating or cov_parent >= self.config.heading_list_coverage):
            return []
        if cov_parent <= max(cov_leaf, own):
            return []
        lines = [Line([], lead=shown[-2])]
        for ci in sorted(kids.values(), key=lambda i: self.index.chunks[i].char_start):
            units = self.section_units(ci)
            first = [(c, u) for c, _, u in self.first_of_blocks(units)]
            first = first[: self.config.max_outline_items]
            lines.append(Line(first, item=True, label=self.label(ci), joiner="; "))
        return lines

    def overview(self, a: QuestionAnalysis, best: Candidate, q_terms: list[QTerm]) -> list[Line]:
        if a.yes_no or a.kind in STRICT_KINDS:
            return []
        leaf = set(terms(self.label(best.chunk_index)))
        wanted = [
            t
            for t in q_terms
            if t[0] not in self.stats.ubiquitous_stems
            and t[0] not in LIGHT_STEMS
            and t[0] not in LIGHT_VERB_STEMS
        ]
        if not wanted or not leaf:
            return []
        if not all(any(soft_equal(x, h) for x in alts for h in leaf) for _, _, alts in wanted):
            return []
        section = self.section_units(best.chunk_index)
        if len(section) > self.config.max_overview_units:
            ci, _, first = section[0]
            if best.unit.depth >= 1 and first.list_id is None:
                return [Line([(ci, first)])]
            return []
        if len(section) < 2:
            return []
        lines = [Line([(ci, u)], item=u.list_id is not None) for ci, _, u in section]
        if lines[0].item:
            lines.insert(0, Line([], lead=self.label(best.chunk_index)))
        return lines

    def list_answer(
        self, c: Candidate, q_terms: list[QTerm], enumerating: bool, yes_no: bool
    ) -> list[Line]:
        unit = c.unit
        section = self.section_units(c.chunk_index)
        children = [
            t for t in section if t[2].parent == unit.block and t[2].depth == unit.depth + 1
        ]
        if children and (enumerating or unit.text.rstrip().endswith(":")):
            items = self.first_of_blocks(children)[: self.config.max_list_items]
            return [Line([(c.chunk_index, unit)])] + [
                Line([(ci, u)], item=True) for ci, _, u in items
            ]
        known = known_terms(q_terms, self.stats)
        own = coverage(known, self.stats.own_terms[c.row])
        head = coverage(known, self.stats.heading_terms[c.chunk_index])
        bare = (
            unit.kind == "item"
            and not LABEL_RE.match(unit.text)
            and len(unit.text.split()) <= self.config.short_item_words
        )
        stands_for_list = bare and not yes_no and own < self.config.bare_item_coverage
        if (
            head > own and (enumerating or head >= self.config.heading_list_coverage)
        ) or stands_for_list:
            items = self.items(section, unit.list_id, unit.depth, unit.parent)
            if len(items) > 1:
                lines = [Line([], lead=self.label(c.chunk_index))]
                lines += [Line([t], item=True) for t in items]
                if enumerating:
                    for other in self.same_heading_sections(c.chunk_index):
                        more = self.section_units(other)
                        top = [t for t in more if t[2].list_id is not None and t[2].depth == 0]
                        if top:
                            first = top[0][2]
                            lines += [
                                Line([t], item=True)
                                for t in self.items(more, first.list_id, 0, None)
                            ]
                return lines
        return []

    def two_dates(self, a: QuestionAnalysis, ranked: list[Candidate], threshold: float):
        best = ranked[0]
        if a.kind != "duration" or DURATION_RE.search(best.unit.text):
            return []
        other = next(
            (
                c
                for c in ranked[1:6]
                if has_kind(c.unit.text, "date")
                and c.unit.text != best.unit.text
                and (c.evidence >= threshold or self.same_section(c, best))
            ),
            None,
        )
        if other is None:
            return []
        first, second = sorted((best, other), key=lambda c: (c.chunk_index, c.unit.char_start))
        return [
            self.single(first.chunk_index, first.unit),
            self.single(second.chunk_index, second.unit),
        ]

    def single_answer(self, ranked: list[Candidate], q_terms: list[QTerm]) -> list[Line]:
        best = ranked[0]
        picked = [self.single(best.chunk_index, best.unit)]
        lead = self.item_lead(best)
        if lead is not None:
            picked.insert(0, self.single(best.chunk_index, lead))
        uncovered = [t for t in q_terms if not matches(t[2], self.stats.unit_terms[best.row])]
        for c in ranked[1:4]:
            if c.prior < best.prior - self.config.second_unit_margin:
                break
            if c.unit.block == best.unit.block and c.chunk_index == best.chunk_index:
                continue
            if not self.same_section(c, best):
                continue  # supporting detail comes from the same section, or not at all
            if uncovered and coverage(uncovered, self.stats.unit_terms[c.row]) > 0:
                picked.append(self.single(c.chunk_index, c.unit))
                break
        return picked

    # ---- the order they are tried in ----------------------------------------------------------

    def figure_inputs(
        self, a: QuestionAnalysis, ranked: list[Candidate], lines: list[Line]
    ) -> tuple[list[Line], Computation | None]:
        """A question that asks to compute a figure (``rag.arithmetic.computation``) whose answer
        does not print it: the answer's lines plus the close runners-up that hold figures (the
        inputs, each quoted, so each gets its page), up to ``MAX_INPUTS`` figure lines; and the
        computation. A ratio or change already printed as a percentage needs none."""
        comp = computation(a.query)
        if comp is None or not ranked:
            return lines, None
        said = [u for line in lines for _, u in line.units]
        if comp.kind in ("ratio", "change") and any(
            f.percent for u in said for f in figures(u.text)
        ):
            return lines, None
        have = sum(1 for u in said if figures(u.text))
        best = ranked[0]
        out = list(lines)
        for c in ranked[1:8]:
            if have >= MAX_INPUTS or c.prior < best.prior - self.config.list_margin:
                break
            if c.unit in said or not figures(c.unit.text):
                continue
            out.append(Line([(c.chunk_index, c.unit)]))
            said.append(c.unit)
            have += 1
        return out, comp

    def run(
        self, a: QuestionAnalysis, ranked: list[Candidate], q_terms: list[QTerm], threshold: float
    ) -> list[Line]:
        best = ranked[0]
        rest = self.excluding(a, ranked)
        if rest:
            return rest
        enumerating = a.enumerating(self.stats.heading_terms[best.chunk_index])
        lines = self.outline(best, q_terms, enumerating) or self.overview(a, best, q_terms)
        if lines:
            return lines
        # the best list item close to the top stands for its list; a better-scoring sentence of
        # the same section (an introduction) is said first
        for c in ranked[:6]:
            if c.prior < best.prior - self.config.list_margin:
                break
            if c.unit.list_id is None:
                continue
            items = self.list_answer(c, q_terms, enumerating, a.yes_no)
            if items:
                if c is not best and best.unit.list_id is None and self.same_section(c, best):
                    return [Line([(best.chunk_index, best.unit)])] + items
                return items
            break
        return self.two_dates(a, ranked, threshold) or self.single_answer(ranked, q_terms)
