"""Conflicting sources: when another document answers the question as strongly as the quoted
one, but with other words, the answer says so and cites it too.

A planted or outdated document can answer "Who founded X?" with another name. The answer stage
quotes its best units; this stage then takes the best unit of every *other* document among the
candidates, by the same ranking the answer used (the hand-set prior). It is a conflict when that
unit answers nearly as well and says something else:

* its prior and its evidence score are each at least ``conflict_ratio`` of the best quoted unit's,
  and it holds the kind of thing asked for whenever the quoted unit does (a name for "who");
* the words it adds to the question (content terms not in the question) share less than
  ``conflict_overlap`` of the smaller set with the quoted units' added words (two documents that
  name the same founder in other words agree).

It never changes the answer's own text or citations: the conflicting source is reported beside
them (``Answer.conflicts`` and a notice), so a reader sees both and decides. It does not judge
which document is right, and it compares only the single best unit of each side.
"""

from __future__ import annotations

from rag.answer.candidates import Candidate
from rag.lexical import terms


def added_terms(text: str, question: set[str]) -> set[str]:
    """The content terms of ``text`` that the question does not already hold."""
    return set(terms(text)) - question


def find_conflict(
    ranked: list[Candidate],
    quoted: list[tuple[int, object]],
    doc_of,
    question: str,
    ratio: float,
    overlap: float,
) -> Candidate | None:
    """The best candidate of another document that answers nearly as well as the quoted units but
    differently, or None. ``ranked``: the candidates in the answer's order; ``quoted``: (chunk
    index, unit) of the answer; ``doc_of(chunk index)`` names a chunk's document."""
    if not ranked or not quoted:
        return None
    keys = {(ci, getattr(u, "char_start", None)) for ci, u in quoted}
    mine = [c for c in ranked if (c.chunk_index, c.unit.char_start) in keys]
    if not mine:
        return None
    top = mine[0]
    docs = {doc_of(ci) for ci, _ in quoted}
    best = next((c for c in ranked if doc_of(c.chunk_index) not in docs), None)
    if best is None or best.prior < ratio * top.prior or best.evidence < ratio * top.evidence:
        return None
    if top.typed and not best.typed:
        return None
    q = set(terms(question))
    said = set().union(*(added_terms(c.unit.text, q) for c in mine))
    other = added_terms(best.unit.text, q)
    if not said or not other:
        return None
    if len(said & other) / min(len(said), len(other)) >= overlap:
        return None  # the other document says the same thing
    return best
