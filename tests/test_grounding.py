"""The grounding check's parts, exactly: normalised numbers, months, names, negation, sentences and
markers, and the check on hand-built sources with a deterministic embedder (the real-model flow is in
test_generate.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedding import HashEmbedder
from rag.generate.base import Source, SourceUnit
from rag.generate.grounding import (
    GroundingChecker,
    SupportModel,
    citations_of,
    months_in,
    names_in,
    negated,
    numbers_in,
    split_sentences,
    strip_markers,
)


@pytest.mark.parametrize(
    "a, b",
    [
        ("$1.2B", "$1.2 billion"),
        ("1.2 billion dollars", "1,200 million dollars"),
        ("12%", "12 percent"),
        ("seven offices", "7 offices"),
        ("3,400 staff", "3400 staff"),
        ("US$5bn", "5 billion"),
        ("the 21st", "21"),
    ],
)
def test_numbers_normalise_to_the_same_value(a, b):
    assert numbers_in(a) == numbers_in(b) and numbers_in(a)


@pytest.mark.parametrize(
    "a, b", [("$1.2B", "$1.3 billion"), ("2014", "2015"), ("12%", "1.2%"), ("5 million", "5")]
)
def test_different_numbers_differ(a, b):
    assert numbers_in(a) != numbers_in(b)


def test_one_is_not_a_count_and_version_like_text_reads_each_number():
    assert numbers_in("one of the leading firms") == set()
    assert numbers_in("0020.HK") == {20.0}


def test_months():
    assert months_in("Dec 2021") == months_in("December 2021") == {12}
    assert months_in("it may rain in May") == {5}
    assert months_in("no month here; a March of progress") == {3}  # capitalised: read as a month


def test_names_skip_common_first_words_and_keep_rare_ones():
    assert names_in("The company was founded by Professor Xiao'ou Tang [1].") == [
        "Professor",
        "Xiao'ou",
        "Tang",
    ]
    assert names_in("Acme builds rockets [1].") == ["Acme"]
    assert names_in("It sells to Honda and Toyota [2].") == ["Honda", "Toyota"]
    assert names_in("In 2014 it began [1].") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It is not profitable.", True),
        ("It isn't profitable.", True),
        ("It has never made a profit.", True),
        ("It was founded without outside money.", True),
        ("It is profitable.", False),
        ("It is not only fast but also cheap.", False),
        ("It ranks No. 1 in the market.", False),
    ],
)
def test_negation(text, expected):
    assert negated(text) is expected


def test_sentences_keep_trailing_markers_and_abbreviations():
    reply = "It is on the U.S. Entity List. [2] It was founded in 2014 [1].\n\n- Item one [3]"
    pieces = split_sentences(reply)
    assert [p.text for p in pieces] == [
        "It is on the U.S. Entity List. [2]",
        "It was founded in 2014 [1].",
        "Item one [3]",
    ]
    assert pieces[2].item and pieces[0].paragraph == pieces[1].paragraph != pieces[2].paragraph
    assert citations_of("a [1][2] b [1, 3]") == [1, 2, 3]
    assert strip_markers("**Acme** builds [1] rockets [2].") == "Acme builds rockets."


@pytest.mark.parametrize("reply", ["", "   ", "\n\n"])
def test_empty_reply_has_no_sentences(reply):
    assert split_sentences(reply) == []


# ---- the check on hand-built sources -------------------------------------------------------------

EMB = HashEmbedder(256)


def source(number: int, *sentences: str, heading: str = "Acme > Facts") -> Source:
    vecs = EMB.embed(list(sentences))
    toks = EMB.embed_tokens(list(sentences))
    units, pos = [], 0
    for s, v, t in zip(sentences, vecs, toks, strict=True):
        units.append(SourceUnit(s, pos, pos + len(s), 1, v, t))
        pos += len(s) + 1
    return Source(number, "\n".join(sentences), heading, None, units, "\n".join(sentences), 0)


# the hash embedder's scale differs from MiniLM's: a model fitted for it in this test only
MODEL = SupportModel(bias=-6.0, weights=(4.0, 4.0, 2.0), threshold=0.5)


@pytest.fixture
def checker():
    return GroundingChecker(EMB, MODEL)


SOURCES = [
    source(1, "Acme was founded in May 1999 by Jane Roe.", "Acme builds rockets in Texas."),
    source(2, "The company reported revenue of $1.2 billion in 2021."),
]


def verdicts(checker, reply):
    return [(c.result.supported, c.result.reason) for c in checker.check(reply, SOURCES)]


def test_faithful_sentences_pass(checker):
    out = verdicts(checker, "Acme builds rockets in Texas [1]. Revenue was $1.2B in 2021 [2].")
    assert [ok for ok, _ in out] == [True, True], out


@pytest.mark.parametrize(
    "sentence, reason",
    [
        ("Acme builds rockets in Texas.", "no [n] citation"),
        ("Acme builds rockets in Texas [4].", "not one of the 2 sources"),
        ("Revenue was $1.3 billion in 2021 [2].", "number 1,300,000,000"),
        ("Acme was founded in December 1999 by Jane Roe [1].", "month December"),
        ("Acme was founded in May 1999 by John Doe [1].", "name 'John'"),
        ("Acme does not build rockets in Texas [1].", "negation flip"),
        ("It builds rockets for space travel [2].", "not supported in meaning"),
    ],
)
def test_each_unfaithful_kind_fails_with_its_reason(checker, sentence, reason):
    [(ok, why)] = verdicts(checker, sentence)
    assert not ok and reason in why, why


def test_support_points_at_the_supporting_unit(checker):
    [c] = checker.check("Jane Roe founded Acme in May 1999 [1].", SOURCES)
    assert c.result.supported and c.result.quote == SOURCES[0].units[0].text
    assert c.support == {1: [0]}


def test_the_shipped_support_model_is_fitted_and_documented():
    m = SupportModel.load()
    assert 0 < m.threshold < 1 and len(m.weights) == 3
    assert m.meta["data"]["train"] == "squad2-train" and "eval" not in str(m.meta["data"])
    assert m.meta["command"] == "python -m rag.generate.fit"
    assert m.meta["train"]["supported_kept"] > 0.5 and m.meta["train"]["unsupported_removed"] > 0.5
    assert np.isfinite(m.bias)


def test_stacked_features_equal_the_per_unit_definition():
    """``features`` does one matrix product per sentence; it must equal the definition the support
    model was fitted with: per unit, the mean over the sentence's tokens of their best cosine."""
    from rag.generate.grounding import _align, features

    rng = np.random.default_rng(0)

    def unit(rows):
        return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)

    for _ in range(30):
        srcs = [
            Source(
                k + 1,
                "x",
                "h",
                None,
                [
                    SourceUnit(
                        "t", 0, 1, 1, unit(rng.normal(size=8)), unit(rng.normal(size=(m, 8)))
                    )
                    for m in rng.integers(0, 5, size=rng.integers(1, 6))
                ],
            )
            for k in range(rng.integers(1, 4))
        ]
        vec, tok = unit(rng.normal(size=8)), unit(rng.normal(size=(3, 8)))
        units, cos, align, align_all = features(vec, tok, srcs)
        every = np.concatenate([u.tokens for _, _, u in units])
        assert np.allclose(align, [_align(tok, u.tokens) for _, _, u in units], atol=1e-5)
        assert np.allclose(cos, [u.vector @ vec for _, _, u in units], atol=1e-5)
        assert abs(align_all - _align(tok, every)) < 1e-5


# ---- computed numbers (rag.arithmetic) ------------------------------------------------------------

FIN = [
    source(3, "Net sales were $120 million in fiscal 2022, up from $100 million in fiscal 2021.")
]


@pytest.mark.parametrize(
    "sentence, formula",
    [
        ("Net sales were $120 million in fiscal 2022, up 20% from fiscal 2021 [3].", "(120 − 100)"),
        ("Net sales were $220 million in fiscal 2021 and fiscal 2022 together [3].", "120 + 100"),
        ("Net sales were $20 million higher in fiscal 2022 than in fiscal 2021 [3].", "120 − 100"),
        ("Net sales were $0.22 billion in fiscal 2021 and fiscal 2022 together [3].", "120 + 100"),
    ],
)
def test_a_number_computed_from_the_cited_figures_is_kept_with_its_formula(
    checker, sentence, formula
):
    [c] = checker.check(sentence, FIN)
    assert c.result.supported, c.result.reason
    assert "computed:" in c.result.reason and formula in c.result.reason


@pytest.mark.parametrize(
    "sentence",
    [
        "Net sales were $120 million in fiscal 2022, up 25% from fiscal 2021 [3].",
        "Net sales were $230 million in fiscal 2021 and fiscal 2022 together [3].",
        # three figures would be needed: not derived, so removed (the safe side)
        "Net sales were $340 million over fiscal 2020 to fiscal 2022 [3].",
    ],
)
def test_a_number_that_does_not_follow_is_removed(checker, sentence):
    [c] = checker.check(sentence, FIN)
    assert not c.result.supported
    assert "does not follow from its figures" in c.result.reason, c.result.reason
