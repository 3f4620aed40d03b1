"""The answer stage's parts on their own: answer types for any text, question analysis,
answerability checks, the trained model's artifact and its training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.answer.config import AnswerConfig
from rag.answer.features import QUESTION_FEATURES, UNIT_FEATURES
from rag.answer.kinds import has_kind, question_kind
from rag.answer.model import AnswerModel, Head, ModelError
from rag.answer.question import analyse, named_tokens
from rag.chatbot import Chatbot
from rag.corpus_stats import initialisms
from rag.embedding import HashEmbedder
from rag.settings import Settings, SettingsError


@pytest.mark.parametrize(
    "text",
    [
        "The abbey was consecrated in 1066.",
        "The city fell in 1526 after a siege.",
        "Sparta rose around 430 BC.",
        "Pompeii was buried in AD 79.",
        "Printing spread in the 16th century.",
        "Trade grew in the third century BC.",
        "Jazz boomed in the 1920s.",
        "The war lasted 1914–18.",
        "It opened on 12/05/1998.",
        "It opened in March.",
    ],
)
def test_dates_of_any_era_are_dates(text):
    assert has_kind(text, "date"), text


@pytest.mark.parametrize(
    "text", ["May I help you?", "There are 12 rooms.", "Chapter 3 explains it.", "A2 paper"]
)
def test_non_dates_are_not_dates(text):
    assert not has_kind(text, "date"), text


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Gamma LLC employs 57 engineers.", True),  # a plain whole number counts
        ("Only two ships survived.", True),  # a count written as a word
        ("A single gate guards it.", True),
        ("It costs $1.2B.", True),
        ("The museum opened in 1998.", False),  # a year is not a count
        ("1 (Infrastructure): the base layer", False),  # a list number is not a count
    ],
)
def test_figures_in_digits_or_words(text, expected):
    assert has_kind(text, "quantity") is expected


@pytest.mark.parametrize(
    "question,kind",
    [
        ("Who led the revolt when the tax rose?", "person"),  # a "when" clause is not the question
        ("What did the king do when the city fell?", "other"),
        ("When did the city fall?", "date"),
        ("In what year did the bridge open?", "date"),
        ("And when was it built?", "date"),
        ("Where do penguins live?", "other"),
        ("How many engineers does Gamma LLC employ?", "quantity"),
    ],
)
def test_question_kind_reads_the_questions_own_wh_word(question, kind):
    assert question_kind(question) == kind


def test_live_is_not_the_present_moment():
    assert not analyse("Where do penguins live?").realtime
    assert analyse("What is the share price right now?").realtime


def test_identifiers_are_names_not_numbers():
    assert ("H100", None) in named_tokens("Does the cluster use H100 GPUs?")
    assert ("ISO27001", None) in named_tokens("Is it ISO27001 certified?")
    assert ("2023", ["2023"]) in named_tokens("What was revenue in 2023?")


def test_initialisms_of_multi_word_names():
    found = initialisms("The Scottish Parliament met. The Bank of England rose.")
    assert {"sp", "boe", "be"} <= found


NOTES = """# Gamma LLC

## Staff
Gamma LLC employs 57 engineers in its Oslo office.

## Hardware
The training cluster uses H100 GPUs and is ISO27001 certified.

## Government
The Scottish Parliament funds part of the research.

## Wildlife
Penguins live on the southern coast, near the research station.
"""


@pytest.fixture
def gamma(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gamma.md").write_text(NOTES, encoding="utf-8")
    bot = Chatbot.from_corpus(
        corpus, embedder=HashEmbedder(256), model="hash-256", data_dir=tmp_path / "d"
    )
    return bot.warm_up()


@pytest.mark.parametrize(
    "question",
    [
        "Does the cluster use H100 GPUs?",
        "Is the cluster ISO27001 certified?",
        "What does the SP fund?",  # an abbreviation of a name the document spells out
    ],
)
def test_identifiers_and_defined_abbreviations_are_known(gamma, question):
    a = analyse(question)
    assert gamma._composer.checker.missing_terms(a) == []


def test_unknown_identifiers_are_still_missing(gamma):
    assert gamma._composer.checker.missing_terms(analyse("Does it use A100 GPUs?")) == ["A100"]


def test_plain_whole_number_answers_how_many(gamma):
    a = gamma.ask("How many engineers does Gamma LLC employ?")
    assert not a.abstained, a.reason
    assert "57 engineers" in a.text


def test_answer_config_is_validated_and_lives_in_settings():
    assert Settings.make(answer={"list_margin": 0.3}).answer.list_margin == 0.3
    with pytest.raises(SettingsError, match="list_margin"):
        Settings.make(answer={"list_margin": -1})
    with pytest.raises(SettingsError):
        Settings.make(answer={"no_such_knob": 1})
    assert isinstance(Settings.make().answer, AnswerConfig)


# ---- the model artifact ----------------------------------------------------------------------


def _head(names, weight=1.0):
    n = len(names)
    coef = np.zeros(n)
    coef[0] = weight
    return Head(list(names), np.zeros(n), np.ones(n), coef, 0.0)


def test_model_round_trips_and_its_version_follows_its_weights(tmp_path):
    model = AnswerModel(_head(UNIT_FEATURES), _head(QUESTION_FEATURES), 0.4, {"k": 1})
    path = model.save(tmp_path / "m.json")
    back = AnswerModel.load(path)
    assert back.version == model.version and back.threshold == 0.4 and back.card == {"k": 1}
    x = np.ones((3, len(UNIT_FEATURES)))
    assert np.allclose(back.unit_probs(x), model.unit_probs(x))
    other = AnswerModel(_head(UNIT_FEATURES, 2.0), _head(QUESTION_FEATURES), 0.4)
    assert other.version != model.version


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda d: d.update(format_version=99), "answer model"),
        (lambda d: d.update(feature_version=99), "feature version"),
        (lambda d: d["unit"]["features"].pop(), "features do not match"),
        (lambda d: d["answerable"].update(scale=[0.0] * len(QUESTION_FEATURES)), "damaged"),
        (lambda d: d.update(threshold=1.5), "not a probability"),
        (lambda d: d.pop("unit"), "damaged"),
    ],
)
def test_model_load_refuses_a_bad_artifact_naming_the_fix(tmp_path, edit, match):
    model = AnswerModel(_head(UNIT_FEATURES), _head(QUESTION_FEATURES), 0.4)
    d = model.to_dict()
    edit(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ModelError, match=match) as err:
        AnswerModel.load(path)
    assert "rag train" in str(err.value)


def test_model_load_names_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(ModelError, match="rag train"):
        AnswerModel.load(tmp_path / "none.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ModelError, match="rag train"):
        AnswerModel.load(tmp_path / "junk.json")


def test_the_bundled_model_loads_and_is_small():
    from rag.answer.model import DEFAULT_PATH

    model = AnswerModel.load()
    assert DEFAULT_PATH.stat().st_size < 30 * 2**20
    assert 0 <= model.threshold < 1
    assert model.card["embedding_model"] == Settings.make().model
    for held_out in model.card["held_out_dev_articles"]:
        for s in model.card["data"]:
            assert held_out not in s["tags"]


def test_a_model_trained_for_another_embedder_is_not_used(tmp_path, tiny_corpus):
    bot = Chatbot.from_corpus(
        tiny_corpus, embedder=HashEmbedder(64), model="hash-64", data_dir=tmp_path / "d"
    )
    assert bot.answer_model is None  # the bundled model was trained on MiniLM scores


# ---- training, on a tiny set -------------------------------------------------------------------


QUESTIONS = [
    ("How many engineers does Gamma LLC employ?", "57 engineers", True),
    ("Which GPUs does the training cluster use?", "H100", True),
    ("Who funds part of the research?", "Scottish Parliament", True),
    ("Where do penguins live?", "southern coast", True),
    ("What is the certification of the cluster?", "ISO27001", True),
    ("How many engineers work in the Oslo office?", "57", True),
    ("What is the CEO's salary?", "", False),
    ("When will the Lima office open?", "", False),
    ("Which bank lent the company money?", "", False),
    ("How many tigers live near the station?", "", False),
]


def test_training_on_a_tiny_set_loads_and_ranks_a_known_pair(tmp_path):
    from rag import train as training

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gamma.md").write_text(NOTES, encoding="utf-8")
    qfile = tmp_path / "q.jsonl"
    with qfile.open("w") as f:
        for i, (q, gold, ok) in enumerate(QUESTIONS * 3):
            rec = {"id": f"q{i}", "question": q, "answerable": ok, "tags": ["gamma"]}
            if ok:
                rec["must_include"] = [gold]
            f.write(json.dumps(rec) + "\n")
    sets = [training.TrainingSet("tiny", corpus, qfile)]
    out = tmp_path / "model.json"
    training.train(sets, out, progress=lambda m: None, embedder=HashEmbedder(256), folds=2)
    model = AnswerModel.load(out)
    assert model.card["questions"] == 30 and model.card["embedding_model"]
    # the known pair: the unit that holds the answer outranks one that does not
    bot = Chatbot.from_corpus(
        corpus, embedder=HashEmbedder(256), model="hash-256", data_dir=tmp_path / "d"
    ).warm_up()
    a = analyse("How many engineers does Gamma LLC employ?")
    passages, fvec, q_tokens, _ = bot._search(a.query, 5, "hybrid")
    j = bot._composer.judge(a, fvec, passages, q_tokens)
    probs = model.unit_probs(j.unit_x)
    texts = [c.unit.text for c in j.ranked]
    gold = texts.index("Gamma LLC employs 57 engineers in its Oslo office.")
    other = texts.index("Penguins live on the southern coast, near the research station.")
    assert probs[gold] > probs[other]
