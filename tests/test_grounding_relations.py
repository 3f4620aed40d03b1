"""Grounding check errors of issue 21 (point 10), on hand-built sources with the deterministic
embedder of test_grounding: sentences kept though wrong (a name or year moved within the passage,
an antonym, a role swap) and sentences removed though right (a name spelled with "&", a list whose
last item alone carries the citation). The figures on a labelled set built from the profile and
the SQuAD train articles come from ``python -m bench.grounding`` (README)."""

from __future__ import annotations

import pytest
from test_grounding import MODEL, source

from rag.embedding import HashEmbedder
from rag.generate.grounding import GroundingChecker
from rag.generate.relations import antonym, misplaced, role_swap

HARBOUR = source(
    1,
    "Quayline was founded in 1901 by Mara Quist.",
    "Quayline was listed on the Nordic Exchange in 2011.",
    "The harbour office denies the smuggling report.",
    "Quayline acquired Pier Foods in 2015.",
    "Quayline puts 40% of its revenue into R&D.",
)


def verdicts(reply: str, sources=None) -> list[tuple[bool, str]]:
    checker = GroundingChecker(HashEmbedder(256), MODEL)
    return [
        (c.result.supported, c.result.reason) for c in checker.check(reply, sources or [HARBOUR])
    ]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Quayline was founded by the Nordic Exchange in 1901 [1].", "is not where [1] puts it"),
        ("Quayline was founded in 2011 by Mara Quist [1].", "is not where [1] puts it"),
        ("The harbour office admits the smuggling report [1].", "antonym"),
        ("Pier Foods acquired Quayline in 2015 [1].", "role swap"),
    ],
    ids=["name moved", "year moved", "antonym", "role swap"],
)
def test_a_sentence_whose_facts_are_not_where_the_source_puts_them_is_removed(reply, reason):
    [(kept, why)] = verdicts(reply)
    assert not kept and reason in why


@pytest.mark.parametrize(
    "reply",
    [
        "Quayline was founded in 1901 by Mara Quist [1].",
        "Quayline was listed on the Nordic Exchange in 2011 [1].",
        "Pier Foods was acquired by Quayline in 2015 [1].",
        "Quayline puts 40% of its revenue into R&D [1].",
    ],
    ids=["copy", "second copy", "passive", "R&D"],
)
def test_a_right_sentence_is_kept(reply):
    [(kept, why)] = verdicts(reply)
    assert kept, why


def test_a_list_with_one_citation_at_the_end_keeps_every_item():
    facts = source(1, "Founder: Mara Quist", "Founded: May 1901", "Website: quayline.example")
    reply = "- Founder: Mara Quist\n- Founded: May 1901\n- Website: quayline.example [1]"
    assert [kept for kept, _ in verdicts(reply, [facts])] == [True, True, True]


def test_the_relation_checks_on_their_own():
    assert antonym("Sales rose in May.", "Sales fell in May.") == ("rose", "fell")
    assert antonym("Sales rose in May.", "Sales rose in May.") is None
    assert role_swap("Pier Foods bought Quayline.", "Quayline bought Pier Foods.") == (
        "Pier Foods",
        "Quayline",
    )
    units = ["Founded: 1901", "Listed on the Nordic Exchange in 2011"]
    assert misplaced("It was founded by the Nordic Exchange", units, units[0]) == (
        "Nordic Exchange",
        "founded",
    )
    assert misplaced("It was listed on the Nordic Exchange in 2011", units, units[1]) is None
