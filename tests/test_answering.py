"""Answer composition: lists complete, citations only for used text, abstention rules.

Most tests use a small purpose-made corpus and the deterministic fake embedder, so the expected
answers are exact; a few run on the real profile and model (marked slow)."""

import pytest

from rag.answer import question as question_analysis
from rag.answer.kinds import has_kind, question_kind
from rag.answer.matching import query_terms, soft_equal
from rag.answer.render import shorten as _shorten
from rag.chatbot import Chatbot
from rag.embedding import HashEmbedder
from rag.retrieval import align_rows


def focus_noun(question):
    return question_analysis.focus_noun(question, question_kind(question))


def is_enumerating(question, heading_terms=frozenset()):
    return question_analysis.analyse(question).enumerating(heading_terms)


DOC = """# Zeta Corp

## Overview
Zeta Corp makes industrial robots. It sells them to carmakers.

## Facts
- **Founder**: Dr. Ada Quill
- **Founded**: March 2001
- **Support email**: help@zeta.example

## Product Lines
### 1. Welding
- Arc welders
- Spot welders
- Laser welders

### 2. Painting
- Spray arms
- Drying tunnels

### 3. Assembly
- Screw robots

## Offices
1. **Oslo** (Headquarters)
2. **Lima** (Sales Hub)
3. **Pune** (Research Lab)
"""


@pytest.fixture
def zeta(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "zeta.md").write_text(DOC, encoding="utf-8")
    return Chatbot.from_corpus(
        corpus,
        embedder=HashEmbedder(256),
        model="hash-256",
        data_dir=tmp_path / "d",
        abstain_threshold=0.05,
    )


def test_list_question_gets_every_item_of_the_section(zeta):
    a = zeta.ask("List the offices")
    assert not a.abstained
    for city in ("Oslo", "Lima", "Pune"):
        assert city in a.text
    assert len(a.citations) == 1 and a.citations[0].heading_path[-1] == "Offices"
    assert a.citations[0].quotes == [
        "Oslo (Headquarters)",
        "Lima (Sales Hub)",
        "Pune (Research Lab)",
    ]


def test_parent_heading_question_gets_one_line_per_part(zeta):
    a = zeta.ask("What are the product lines?")
    lines = a.text.splitlines()
    assert lines[0] == "Product Lines:"
    assert lines[1].startswith("- 1. Welding: Arc welders; Spot welders; Laser welders")
    assert lines[2].startswith("- 2. Painting: Spray arms; Drying tunnels")
    assert lines[3].startswith("- 3. Assembly: Screw robots")
    assert [c.heading_path[-1] for c in a.citations] == ["1. Welding", "2. Painting", "3. Assembly"]


def test_besides_drops_the_excluded_item(zeta):
    a = zeta.ask("Besides arc welders, which welders are in the welding line?")
    assert "Spot welders" in a.text and "Laser welders" in a.text
    assert "Arc welders" not in a.text


def test_citations_cover_exactly_the_text_used_and_are_numbered_in_order(zeta):
    a = zeta.ask("Who is the founder?")
    assert a.text == "Founder: Dr. Ada Quill [1]"
    (c,) = a.citations
    assert c.quotes == ["Founder: Dr. Ada Quill"] and c.line_start == c.line_end == 7
    markers = [int(m) for m in __import__("re").findall(r"\[(\d+)\]", a.text)]
    assert (
        sorted(set(markers))
        == [c.number for c in a.citations]
        == list(range(1, len(a.citations) + 1))
    )


def test_bare_item_is_named_by_its_section(zeta):
    a = zeta.ask("Does the painting line include drying tunnels?")
    assert a.text.startswith("2. Painting: Drying tunnels")


def test_abstains_when_the_asked_kind_is_missing(zeta):
    a = zeta.ask("What is the support phone number?")
    assert a.abstained and "phone number" in a.reason
    b = zeta.ask("What is the support email?")
    assert not b.abstained and "help@zeta.example" in b.text


def test_abstains_on_a_year_the_documents_never_mention(zeta):
    a = zeta.ask("What did Zeta Corp sell in 1999?")
    assert a.abstained and "'1999'" in a.reason


def test_abstains_on_the_present_moment(zeta):
    a = zeta.ask("What is Zeta Corp's share price today?")
    assert a.abstained and "present moment" in a.reason


def test_role_question_needs_a_unit_naming_the_role(zeta):
    a = zeta.ask("Who is the treasurer of Zeta Corp?")
    assert a.abstained and "treasurer" in a.reason
    assert "Ada Quill" not in a.text


@pytest.mark.parametrize(
    "question,kind",
    [
        ("When was it founded?", "date"),
        ("How many offices are there?", "quantity"),
        ("How much of its tech is in-house?", "other"),
        ("What is the support email?", "email"),
        ("What is their phone number?", "phone"),
        ("How does it work with phone makers?", "other"),
        ("What's the website?", "web"),
        ("Who founded it?", "person"),
        ("How many years after its founding did it list?", "duration"),
        ("How long after the IPO did it expand?", "duration"),
        ("How many days does the office open?", "quantity"),  # not a time between events
        ("Which Zeta product is meant for shipyards?", "name"),
        ("What business model does it use?", "other"),
    ],
)
def test_question_kind(question, kind):
    assert question_kind(question) == kind


@pytest.mark.parametrize(
    "text,kind,expected",
    [
        ("Founded: March 2001", "date", True),
        ("SenseCare: An AI-powered medical imaging platform", "name", True),
        ("Healthcare: Major hospitals and medical research institutions", "name", False),
        ("Spot welders", "name", False),
        ("Founder: Dr. Ada Quill", "date", False),
        ("Growth Rate: 45% YoY", "quantity", True),
        ("IPO: December 2021 (0020.HK)", "quantity", False),
        ("Global Customer Base: 1,200+ enterprises", "quantity", True),
        ("Careers: talent@zeta.example", "email", True),
        ("Call +44 20 7946 0958", "phone", True),
        ("Website: https://zeta.example", "web", True),
    ],
)
def test_has_kind(text, kind, expected):
    assert has_kind(text, kind) is expected


def test_focus_noun_and_enumeration_cues():
    assert focus_noun("What is Zeta's market capitalisation?") == (
        "market capitalisation",
        "capitalisation",
    )
    assert focus_noun("How many patents does it hold?") == ("patents", "patents")
    assert focus_noun("Why is the sky blue?") is None
    # generic words say what sort of answer is wanted, not what it is about
    assert focus_noun("What are the main points of Zeta's outlook?") is None
    assert focus_noun("What is the latest revenue figure?") == ("latest revenue figure", "revenue")
    assert is_enumerating("Name the four platforms")
    assert is_enumerating("Where are its research centers?", {"research", "center"})
    assert not is_enumerating("Who founded it?")
    assert is_enumerating("What falls under the life segment?")
    assert is_enumerating("What does the smart city segment include?")
    assert not is_enumerating("Does the painting line include drying tunnels?")  # yes/no


def test_shorten_keeps_label_and_first_clause():
    long = (
        "Smart City: Large-scale urban management systems, including intelligent traffic "
        "management, public safety monitoring, and environmental analysis."
    )
    assert _shorten(long) == "Smart City: Large-scale urban management systems…"
    assert _shorten("Short: item") == "Short: item"


@pytest.mark.slow
@pytest.mark.parametrize(
    "question,items",
    [
        (
            "What falls under the smart city segment?",
            ["Public safety", "Traffic management", "Urban planning", "Emergency response"],
        ),
        (
            "How is SenseTime's business divided into segments?",
            ["Smart Business", "Smart City", "Smart Life", "Smart Auto"],
        ),
        ("Which social networks is SenseTime on?", ["LinkedIn", "Twitter", "WeChat"]),
        (
            "In which cities are the research centres?",
            ["Shanghai", "Beijing", "Shenzhen", "Singapore", "Tokyo"],
        ),
    ],
)
def test_real_list_answers_are_complete(real_bot, question, items):
    a = real_bot.ask(question)
    assert not a.abstained
    for item in items:
        assert item in a.text, (item, a.text)


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "Who is SenseTime's chief financial officer?",
        "What is SenseTime's market capitalisation?",
        "What is SenseTime's share price today?",
        "When was Xiao'ou Tang born?",
    ],
)
def test_real_near_misses_abstain_and_never_name_the_founder(real_bot, question):
    a = real_bot.ask(question)
    assert a.abstained, a.text
    assert "Tang" not in a.text


@pytest.mark.parametrize(
    "question",
    [
        "Tell me about Zeta Corp",
        "What does Zeta Corp do?",
        "In a nutshell, what does Zeta Corp do?",
        "Briefly, what is Zeta Corp?",
    ],
)
def test_a_question_about_the_subject_alone_gets_the_lead(zeta, question):
    a = zeta.ask(question)
    assert a.text == "Zeta Corp makes industrial robots. [1]"
    assert a.citations[0].heading_path == ["Zeta Corp", "Overview"]
    assert a.passages[0].chunk.heading_path == ("Zeta Corp", "Overview")


def test_a_question_about_something_in_particular_does_not_get_the_lead(zeta):
    a = zeta.ask("Who is the founder of Zeta Corp?")
    assert "Ada Quill" in a.text


@pytest.mark.slow
@pytest.mark.parametrize(
    "question,named",
    [
        ("How many enterprise customers did SenseTime have in 2014?", "2014"),
        ("What is Toyota's growth rate?", "toyota"),
        ("How much revenue did Tencent make in 2023?", "tencent"),
    ],
)
def test_real_names_and_years_the_passage_lacks_make_the_bot_abstain(real_bot, question, named):
    """The corpus knows the year or the name, but not in the passage that would answer: that
    passage answers a neighbouring question (another year, another company)."""
    a = real_bot.ask(question)
    assert a.abstained, a.text
    assert repr(named) in a.reason


@pytest.mark.slow
@pytest.mark.parametrize(
    "question,expected",
    [
        ("Which rivals does SenseTime face in China?", "Alibaba"),  # "Chinese" supports "China"
        ("What happened to SenseTime in December 2021?", "December 2021"),
        pytest.param(
            "Which Japanese carmakers does SenseTime work with?",
            "Toyota",
            marks=pytest.mark.xfail(
                strict=True,
                reason="known miss since token alignment: 'Japanese' aligns with 'Tokyo' more "
                "than with 'Honda, Toyota', so the research-centre list is given (README: limits)",
            ),
        ),
    ],
)
def test_real_names_supported_by_the_passage_are_answered(real_bot, question, expected):
    a = real_bot.ask(question)
    assert not a.abstained, a.reason
    assert expected in a.text


@pytest.mark.slow
def test_real_common_words_also_match_their_closest_corpus_words_but_names_do_not(real_bot):
    real_bot.warm_up()
    stats, threshold = real_bot._stats, real_bot.settings.answer.synonym_threshold
    q = "How many business customers are there?"
    alts = {t: a for t, _, a in query_terms(q, stats, threshold)}
    assert "enterpris" in alts["busi"]  # "business" also matches "enterprises"
    alts = {t: a for t, _, a in query_terms("Are its rivals only in China?", stats, threshold)}
    assert alts["china"] == {"china"}  # a name is not widened to other names ("Shanghai")


def test_references_to_the_subject_are_not_matched_against_headings(zeta):
    composer = zeta.warm_up()._stats
    assert composer.subject_free("When did the company start?") == "When did start?"
    assert composer.subject_free("Who is the firm's founder?") == "Who is founder?"
    # a corpus word after it makes a compound ("the business lines"), and "enterprise-facing"
    # is one word
    assert composer.subject_free("What are the business lines?") == "What are the business lines?"
    assert composer.subject_free("Who uses the enterprise-facing arm?") == (
        "Who uses the enterprise-facing arm?"
    )
    assert composer.subject_free("the company") == "the company"  # nothing would be left
    assert "company" not in composer.focus("Where does the company have offices?")


@pytest.mark.slow
def test_real_a_short_bare_item_found_as_an_example_stands_for_its_list(real_bot):
    a = real_bot.ask("What could a mayor buy from SenseTime?")
    for item in ("Public safety", "Traffic management", "Urban planning", "Emergency response"):
        assert item in a.text, a.text
    a = real_bot.ask("Is fleet management offered?")  # yes/no: the item itself
    assert "Fleet management" in a.text and "Smart parking" not in a.text


def test_a_yes_no_question_about_an_item_is_answered_by_the_item(zeta):
    a = zeta.ask("Does Zeta Corp make spot welders?")
    assert not a.abstained
    assert "Spot welders" in a.text
    assert "Arc welders" not in a.text


def test_token_alignment_of_a_chunk_equals_the_per_unit_definition(zeta):
    import numpy as np

    bot = zeta.warm_up()
    index = bot.index
    q = bot.embedder.embed_tokens(["welders for robots in Oslo"])[0]
    for ci in range(len(index.chunks)):
        rows = index.unit_rows(ci)
        fast = align_rows(index, q, rows)
        for i, row in enumerate(rows):
            unit = index.unit_tokens(row)
            slow = float(np.mean(np.max(q @ unit.T, axis=1))) if len(unit) else 0.0
            assert abs(fast[i] - slow) < 1e-5
    assert align_rows(index, None, range(0, 1))[0] == 0.0


@pytest.mark.slow
def test_real_token_alignment_recognises_a_paraphrase(real_bot):
    index = real_bot.index
    rows = {
        u.text: row
        for ci, c in enumerate(index.chunks)
        for row, u in zip(index.unit_rows(ci), c.units, strict=True)
    }
    origin = next(r for t, r in rows.items() if t.startswith("Originating from"))
    founded = rows["Founded: October 2014"]
    q = real_bot.embedder.embed_tokens(["Which university lab did it spin out of?"])[0]

    def align(q, row):
        return float(align_rows(index, q, range(row, row + 1))[0])

    assert align(q, origin) > align(q, founded) + 0.05


@pytest.mark.slow
def test_real_a_later_sentence_of_a_list_item_comes_after_the_items_first(real_bot):
    a = real_bot.ask("What concern did the U.S. government cite?")
    first, second = a.text.splitlines()[:2]
    assert first.startswith("US Sanctions: SenseTime has been placed on the U.S. Entity List")
    assert "surveillance programs in Xinjiang" in second
    assert len(a.citations) == 1 and len(a.citations[0].quotes) == 2


def test_a_question_naming_only_a_short_section_gets_it_whole(zeta):
    a = zeta.ask("Tell me about welding")
    assert a.text.splitlines() == [
        "1. Welding:",
        "- Arc welders [1]",
        "- Spot welders [1]",
        "- Laser welders [1]",
    ]
    # a question asking something in particular about it does not
    b = zeta.ask("Does Zeta Corp sell laser welders?")
    assert "Arc welders" not in b.text


@pytest.mark.slow
def test_real_a_time_between_two_events_is_answered_with_both_dates(real_bot):
    a = real_bot.ask("How many years passed between SenseTime's founding and its listing?")
    assert not a.abstained, a.reason
    assert "October 2014" in a.text and "December 2021" in a.text
    assert real_bot.ask("How many days a week does SenseTime's office open?").abstained


@pytest.mark.slow
def test_real_a_near_synonym_with_an_unknown_modifier_is_another_thing(real_bot):
    """ "profit" is close to "revenue", but "operating profit" is not the revenue the profile gives."""
    a = real_bot.ask("What was SenseTime's operating profit?")
    assert a.abstained and "operating profit" in a.reason
    b = real_bot.ask("What were SenseTime's 2023 sales?")
    assert not b.abstained and "$1.2B" in b.text


@pytest.mark.slow
def test_real_a_question_naming_a_long_section_gets_its_opening_sentence(real_bot):
    a = real_bot.ask("What business model does SenseTime use?")
    assert a.text.startswith("SenseTime's strategy is built around a central infrastructure")
    assert "Smart Business: AI solutions" not in a.text  # not a sub-item that shares a word


def test_british_and_american_spellings_match():
    from rag.lexical import stem

    _soft_equal = soft_equal

    for a, b in [("centres", "centers"), ("colour", "color"), ("organise", "organize")]:
        assert _soft_equal(stem(a), stem(b)), (a, b)
    assert not _soft_equal(stem("basis"), stem("bias"))


@pytest.mark.slow
def test_real_how_many_is_answered_by_a_written_count_or_a_list_and_must_count_the_thing(real_bot):
    a = real_bot.ask("How many platforms does SenseTime have?")
    assert not a.abstained and "four key" in a.text
    b = real_bot.ask("How many research centres does SenseTime have?")  # the list is the count
    assert not b.abstained and "Tokyo" in b.text and "Shanghai" in b.text
    c = real_bot.ask("How many patents has SenseTime filed?")  # "hundreds of papers" is no answer
    assert c.abstained and "patents" in c.reason
