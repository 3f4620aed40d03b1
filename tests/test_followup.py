import pytest

from rag.followup import rewrite, topic
from rag.history import history_questions as normalise_history


@pytest.mark.parametrize(
    "history,question,expected",
    [
        ([], "When was it founded?", "When was it founded?"),
        (["Who founded SenseTime?"], "When was it founded?", "When was SenseTime founded?"),
        (
            ["Who founded SenseTime?"],
            "Where is its headquarters?",
            "Where is SenseTime's headquarters?",
        ),
        (["What is SenseAuto?"], "And SenseCare?", "What is SenseCare?"),
        (["What is SenseAuto?"], "what about SenseMARS", "What is SenseMARS?"),
        (
            ["What does Smart City include?"],
            "How about Smart Life?",
            "What does Smart Life include?",
        ),
        (["Who founded SenseTime?"], "Where?", "Where (founded SenseTime)?"),
        (["Who founded SenseTime?"], "What is SenseNova?", "What is SenseNova?"),
        (
            ["Who founded SenseTime?", "When was it founded?"],
            "Where is it based?",
            "Where is SenseTime based?",
        ),
        (
            ["Which car companies does SenseTime partner with?"],
            "And which universities?",
            "Which universities does SenseTime partner with?",
        ),
        (
            ["What email should investors use?"],
            "And for press enquiries?",
            "What email should press enquiries use?",
        ),
        (
            ["What was SenseTime's revenue in 2023?"],
            "How quickly is it growing?",
            "How quickly is SenseTime growing?",
        ),
        # he/she stand for a person: a company topic does not replace them
        (["Who founded SenseTime?"], "How old is he?", "How old is he?"),
        (["Who is Professor Tang?"], "What is his role?", "What is Professor Tang's role?"),
    ],
)
def test_rewrite(history, question, expected):
    assert rewrite(question, history) == expected


@pytest.mark.parametrize(
    "history,question,expected",
    [
        # a conjunction before a question of its own is dropped, not glued to the last one
        (["Who founded Acme?"], "And who is the CEO?", "Who is the CEO?"),
        (["Who founded Acme?", "And who is the CEO?"], "and the CFO?", "Who is the CFO?"),
        # "when was that?" asks about the event of the question before
        (["Who founded Acme?"], "And when was that?", "When was Acme founded?"),
        # the new phrase replaces what it stands for: a modifier, a name, a number
        (
            ["What is Acme's investor relations email?"],
            "and for the press?",
            "What is Acme's press email?",
        ),
        (
            ["Who are Acme's automotive partners?"],
            "and in technology?",
            "Who are Acme's technology partners?",
        ),
        (
            ["What does Acme's Smart City segment cover?"],
            "And the Smart Life one?",
            "What does Acme's Smart Life segment cover?",
        ),
        (["What was Acme's 2023 revenue?"], "What about 2022?", "What was Acme's 2022 revenue?"),
        (["What's Acme's Twitter account?"], "And LinkedIn?", "What's Acme's LinkedIn account?"),
        (["Who founded Acme?"], "And Globex?", "Who founded Globex?"),
        # pronouns: the name a question is about, not a possessive's noun or an adjective name
        (["What was Acme's 2023 revenue?"], "How fast is it growing?", "How fast is Acme growing?"),
        (
            ["Which US government list is Acme on?"],
            "Why was it put there?",
            "Why was Acme put there (US government)?",
        ),
        # "else" and "there" lean on the last question: its other words go along
        (
            ["Which regions will Acme expand into?"],
            "What else is in their plans?",
            "What else is in Acme's plans (regions expand)?",
        ),
        (["Who founded Acme?"], "Is there a CEO?", "Is there a CEO?"),  # existential "there"
    ],
)
def test_rewrite_ellipsis_and_pronouns(history, question, expected):
    assert rewrite(question, history) == expected


def test_topic():
    assert topic("Who founded SenseTime?") == "SenseTime"
    assert topic("What does Smart City include?") == "Smart City"
    assert topic("what are the revenue streams") == "revenue streams"
    assert topic("What was Acme's 2023 revenue?") == "Acme"
    assert topic("Which US government list is Acme on?") == "Acme"


def test_history_accepts_every_shape_and_does_not_mutate():
    # rag.history reads what callers send (it replaced followup.normalise_history, issue 14)
    browser = [
        {"role": "user", "content": [{"type": "text", "text": "Who founded SenseTime?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Xiao'ou Tang [1]"}]},
        {"role": "user", "content": "When?"},
    ]
    snapshot = repr(browser)
    assert normalise_history(browser) == ["Who founded SenseTime?", "When?"]
    assert repr(browser) == snapshot
    assert normalise_history(["a", "  b  "]) == ["a", "b"]
    assert normalise_history([("q1", "a1"), ["q2", None]]) == ["q1", "q2"]
    assert normalise_history(None) == []
    assert normalise_history([{"role": "user", "content": None}, 5]) == []


@pytest.mark.parametrize(
    "history,question,expected",
    [
        # a bare follow-up takes the last question's words along instead of bolting its topic on
        (
            ["Why is Acme on the trade blacklist?"],
            "When was that?",
            "When was that (Acme trade blacklist)?",
        ),
        # "how many are there" counts what the last question asked about
        (
            ["Which bridges does Oslo have?"],
            "How many are there?",
            "How many bridges does Oslo have?",
        ),
    ],
)
def test_bare_follow_ups_keep_the_last_questions_subject(history, question, expected):
    assert rewrite(question, history) == expected


def test_resolve_says_how_a_follow_up_was_understood():
    from rag.followup import resolve

    r = resolve("When was that?", ["Why is Acme on the trade blacklist?"])
    assert r.understood_as == r.query != "When was that?"
    assert resolve("Who founded Acme?", []).understood_as is None
