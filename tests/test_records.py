"""Several documents at once: periods, abbreviations, document records, and answering from the
document a question names (issue 17, points 3 and 4). Tiny invented filings, fake embedder."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rag.abbreviations import STANDARD, defined, expand
from rag.answer.question import analyse
from rag.periods import Period, find_periods, normalise_query, parse_label, periods_of
from rag.records import describe, key, match_documents, named_entities, short_name

# ---- periods --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("FY2022", ["FY2022"]),
        ("FY22", ["FY2022"]),
        ("FY '19", ["FY2019"]),
        ("fiscal 2022", ["FY2022"]),
        ("fiscal year 2021", ["FY2021"]),
        ("for the year ended December 31, 2020", ["FY2020"]),
        ("the fiscal year ended June 30, 2018", ["FY2018"]),
        ("Q2 FY23", ["Q2 FY2023"]),
        ("Q3 2021", ["Q3 FY2021"]),
        ("2Q24", ["Q2 FY2024"]),
        ("2024Q1", ["Q1 FY2024"]),
        ("second quarter of 2023", ["Q2 FY2023"]),
        ("Third-Quarter 2019 results", ["Q3 FY2019"]),
        ("the fourth quarter of fiscal 2020", ["Q4 FY2020"]),
        ("2021 fourth-quarter sales", ["Q4 FY2021"]),
        ("2022 vs 2021", ["FY2022", "FY2021"]),
    ],
)
def test_periods_in_any_form_get_one_label(text, labels):
    assert [p.label for p in periods_of(text, plain_years=True)] == labels


@pytest.mark.parametrize("text", ["", "$2022.5 million", "the F-35 jet", "12,022 units", "2022%"])
def test_amounts_and_non_years_are_not_periods(text):
    assert periods_of(text, plain_years=True) == [] or text == "the F-35 jet"
    assert [p.label for p in periods_of(text)] == []


def test_plain_years_are_periods_only_when_asked():
    assert periods_of("sales in 2022") == []
    assert periods_of("sales in 2022", plain_years=True) == [Period(2022)]


def test_compact_forms_are_written_as_filings_print_them():
    assert normalise_query("FY22 capex") == "fiscal 2022 capex"
    assert normalise_query("Q2 FY23 sales?") == "second quarter fiscal 2023 sales?"
    # the forms filings print stay as they are
    for text in ("fiscal 2022 sales", "second quarter of 2023", "the year ended May 31, 2020"):
        assert normalise_query(text) == text


def test_labels_parse_back():
    assert parse_label("Q2 FY2023") == Period(2023, 2)
    assert parse_label("FY2022") == Period(2022)
    assert parse_label("not a period") is None
    assert find_periods("FY2022 and FY2021")[1].period.label == "FY2021"


# ---- abbreviations --------------------------------------------------------------------------------


def test_standard_abbreviations_are_written_out_once():
    text, found = expand("What drove M&A and capex, and how did EPS move YoY?")
    assert "M&A (mergers and acquisitions)" in text
    assert "capex (capital expenditures)" in text
    assert "EPS (earnings per share)" in text and "YoY (year over year)" in text
    assert set(found) == {"M&A", "capex", "EPS", "YoY"}
    # the long form already there: nothing added; "eps" in lower case is not the abbreviation
    assert expand("earnings per share (EPS)")[0] == "earnings per share (EPS)"
    assert expand("the eps value")[1] == {}
    assert {"M&A", "EPS", "capex", "D&A", "SG&A", "YoY", "EBITDA"} <= set(STANDARD)


def test_documents_define_their_own_abbreviations():
    text = (
        'Our Adjusted Operating Margin ("AOM") grew. The Plan (the Plan) is new. '
        "Selling, general and administrative (SG&A) costs fell. See Note (4)."
    )
    assert defined(text) == {
        "AOM": "Adjusted Operating Margin",
        "SG&A": "Selling general and administrative",
    }


def test_an_abbreviation_is_not_read_as_a_missing_word():
    a = analyse("What was the M&A spend in FY22?")
    assert "mergers and acquisitions" in a.query and "fiscal 2022" in a.query
    named = [t for t, _ in a.named]
    assert "M&A" not in named and "FY22" not in named
    assert ("2022", ["2022"]) in a.named  # the year is a number the text must hold


# ---- document records -----------------------------------------------------------------------------

COVER = """UNITED STATES
SECURITIES AND EXCHANGE COMMISSION
FORM 10-K
ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934
For the fiscal year ended January 2, 2022
Commission File Number 001-00000
ZEPHYR KITE WORKS, INC.
(Exact name of registrant as specified in its charter)
Common Stock (NYSE: ZKW)
Zephyr Kite Works, Inc. ("Zephyr" or "ZKite") designs kites. Our Net Kite Revenue ("NKR") grew.
"""


def test_a_filing_cover_gives_entity_aliases_period_and_type():
    r = describe("reports/zephyr-annual.pdf", COVER, "pdf")
    assert r.entity == "Zephyr Kite Works, Inc."
    assert r.aliases[:2] == ["Zephyr Kite Works, Inc", "Zephyr Kite Works"]
    assert {"Zephyr", "ZKite", "ZKW"} <= set(r.aliases)
    # a 52/53-week year that ends in the first days of January is the year before
    assert r.period == "FY2021" and r.periods == ["FY2021"]
    assert r.type == "10-K"
    assert r.title == "Zephyr Kite Works 10-K FY2021"
    assert r.abbreviations == {"NKR": "Net Kite Revenue"}


def test_a_quarter_in_the_file_name_and_an_earnings_release():
    text = "Quokka Foods, Inc. reports Second-Quarter 2023 results\nNet sales rose 4%."
    r = describe("QUOKKA_2024Q2_EARNINGS.pdf", text, "pdf")
    assert r.period == "Q2 FY2024" and r.periods == ["Q2 FY2024", "FY2024"]
    assert r.type == "earnings release"
    assert "QUOKKA" in r.aliases and "Quokka Foods" in r.aliases


def test_a_plain_note_has_an_empty_record_not_a_guess():
    r = describe("notes.txt", "some notes about the weather\nand more", "text")
    assert (r.entity, r.period, r.type) == ("", "", "text")
    assert r.title == "some notes about the weather"
    assert describe("a.md", "# Rockets\nA page.", "markdown").title == "Rockets"


def test_names_compare_without_case_or_punctuation():
    assert key("Coca-Cola") == key("COCACOLA") == "cocacola"
    assert short_name("The Acme Widget Company") == "Acme Widget"
    assert short_name("Bolt Gadgets, Inc.") == "Bolt Gadgets"


RECORDS = {
    "zeta_2021.pdf": {
        "aliases": ["Zeta Corp", "Zeta"],
        "entity": "Zeta Corp",
        "periods": ["FY2021"],
    },
    "zeta_2022.pdf": {
        "aliases": ["Zeta Corp", "Zeta"],
        "entity": "Zeta Corp",
        "periods": ["FY2022"],
    },
    "omega_2022q2.pdf": {
        "aliases": ["Omega Holdings", "Omega", "OMG"],
        "entity": "Omega Holdings",
        "periods": ["Q2 FY2022", "FY2022"],
    },
}


@pytest.mark.parametrize(
    ("question", "docs"),
    [
        ("What was Zeta's revenue?", ["zeta_2021.pdf", "zeta_2022.pdf"]),
        ("What was Zeta's FY2022 revenue?", ["zeta_2022.pdf"]),
        ("What was Zeta revenue in fiscal 2021?", ["zeta_2021.pdf"]),
        ("OMG capex in Q2 FY22?", ["omega_2022q2.pdf"]),
        # Zeta reported no 2019 filing: all its filings stay (one may report the year before)
        ("Zeta revenue in 2019?", ["zeta_2021.pdf", "zeta_2022.pdf"]),
        # a period alone: the documents of that period
        ("Revenue in fiscal 2021?", ["zeta_2021.pdf"]),
        ("What is revenue?", []),
    ],
)
def test_questions_name_documents_by_entity_and_period(question, docs):
    assert sorted(match_documents(question, RECORDS)[0]) == docs


def test_naming_every_documents_entity_tells_nothing_apart():
    records = {"a": {"aliases": ["Acme"]}, "b": {"aliases": ["Acme"]}}
    assert named_entities("Acme sales?", records) == []


# ---- the engine: several documents at once --------------------------------------------------------

ACME = """# Acme Widget Company annual report 2022

## Overview
The Acme Widget Company ("Acme" or "AWC") makes widgets. This report covers the fiscal year ended
December 31, 2022.

## Results
Net sales in fiscal 2022 were $120 million, up from $100 million in 2021.
Capital expenditures were $15 million in 2022.
"""
BOLT = """# Bolt Gadgets Inc. annual report 2023

## Overview
Bolt Gadgets Inc. ("Bolt") sells gadgets. This report covers the fiscal year ended December 31,
2023.

## Results
Net sales in fiscal 2023 were $80 million, up from $60 million in 2022.
Capital expenditures were $9 million in 2023.
"""


@pytest.fixture
def two_reports(tmp_path):
    corpus = tmp_path / "reports"
    corpus.mkdir()
    (corpus / "acme_2022.md").write_text(ACME, encoding="utf-8")
    (corpus / "bolt_2023.md").write_text(BOLT, encoding="utf-8")
    return corpus


@pytest.fixture
def reports_bot(two_reports, tmp_path):
    from rag.chatbot import Chatbot
    from rag.embedding import HashEmbedder

    return Chatbot.from_corpus(
        two_reports,
        embedder=HashEmbedder(64),
        model="hash-64",
        data_dir=tmp_path / "data",
        abstain_threshold=0.1,
    )


def test_records_are_in_the_manifest(reports_bot):
    docs = reports_bot.documents()
    assert docs["acme_2022.md"]["entity"] == "Acme Widget Company"
    assert {"Acme", "AWC"} <= set(docs["acme_2022.md"]["aliases"])
    assert docs["bolt_2023.md"]["period"] == "FY2023"
    assert docs["bolt_2023.md"]["type"] == "annual report"


def test_a_question_naming_a_company_is_answered_from_its_report(reports_bot):
    a = reports_bot.ask("What were Bolt's net sales?")
    assert not a.abstained and "$80 million" in a.text
    assert {c.document for c in a.citations} == {"bolt_2023.md"}
    assert a.scope["documents"] == ["bolt_2023.md"] and "Bolt" in a.scope["reason"]
    assert a.documents[0]["document"] == "bolt_2023.md"
    assert a.quoted_from.startswith("From: Bolt Gadgets Inc. annual report 2023 (bolt_2023.md)")
    # by a short name the report defines, with a compact period and an abbreviation
    a = reports_bot.ask("What was AWC's capex in FY22?")
    assert not a.abstained and "$15 million" in a.text
    assert {c.document for c in a.citations} == {"acme_2022.md"}
    assert "capital expenditures" in a.rewritten_query and "fiscal 2022" in a.rewritten_query


def test_a_filter_by_document_and_its_errors(reports_bot):
    a = reports_bot.ask("What were net sales?", filters=["acme_2022.md"])
    assert {c.document for c in a.citations} == {"acme_2022.md"} and "$120 million" in a.text
    from rag.filters import Filters

    a = reports_bot.ask("What were net sales?", filters=Filters.make(documents="bolt_2023.md"))
    assert {c.document for c in a.citations} == {"bolt_2023.md"}
    passages = reports_bot.retrieve("net sales", filters="acme_2022.md")
    assert passages and {p.chunk.doc_id for p in passages} == {"acme_2022.md"}
    with pytest.raises(ValueError, match="no document called 'nope.md'.*acme_2022.md"):
        reports_bot.ask("What were net sales?", filters=["nope.md"])
    with pytest.raises(ValueError, match="Filters value or document names"):
        reports_bot.ask("What were net sales?", filters=3)


def test_cli_doc_option_and_docs_listing(two_reports, tmp_path):
    from rag.cli import app

    env = {"RAG_DATA_DIR": str(tmp_path / "d"), "RAG_MODEL": "hash-64"}
    env["RAG_ABSTAIN_THRESHOLD"] = "0.1"
    runner = CliRunner()
    r = runner.invoke(app, ["docs", "--corpus", str(two_reports)], env=env)
    assert r.exit_code == 0, r.output
    assert "Acme Widget Company" in r.stdout and "FY2023" in r.stdout and "also: " in r.stdout
    r = runner.invoke(app, ["docs", "--json", "--corpus", str(two_reports)], env=env)
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["bolt_2023.md"]["entity"] == "Bolt Gadgets Inc"
    args = ["ask", "What were net sales?", "--corpus", str(two_reports), "--json"]
    r = runner.invoke(app, [*args, "--doc", "acme_2022.md"], env=env)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {c["document"] for c in d["citations"]} == {"acme_2022.md"}
    assert d["documents"][0]["entity"] == "Acme Widget Company"
    r = runner.invoke(app, [*args[:-1], "--doc", "acme_2022.md"], env=env)
    assert "From: Acme Widget Company annual report 2022 (acme_2022.md)" in r.stdout
    r = runner.invoke(app, [*args, "--doc", "missing.md"], env=env)
    assert r.exit_code == 2 and "no document called 'missing.md'" in r.stderr
    assert "Traceback" not in r.output


def test_ask_endpoint_and_chat_take_a_document(reports_bot):
    from ui import chat

    d = chat.api_answer(reports_bot, "What were net sales?", documents=["bolt_2023.md"])
    assert {c["document"] for c in d["citations"]} == {"bolt_2023.md"}
    assert d["scope"]["documents"] == ["bolt_2023.md"]
    reply = chat.respond("What were net sales?", [], bot=reports_bot, documents="acme_2022.md")
    assert {c.document for c in reply.answer.citations} == {"acme_2022.md"}
    assert 'rag-from">From&#58; Acme Widget Company' in chat.answer_html(reply.answer)
    # "All documents" sets no filter
    reply = chat.respond("What were net sales?", [], bot=reports_bot, documents=chat.ALL_DOCUMENTS)
    assert reply.answer.scope is None
    with pytest.raises(ValueError, match="document name"):
        chat.api_answer(reports_bot, "What were net sales?", documents=[3])


# ---- one missing term is evidence, not a verdict ---------------------------------------------------


def _model(tmp_path, intercept: float, missing_weight: float):
    from rag.answer.features import QUESTION_FEATURES, UNIT_FEATURES
    from rag.answer.model import AnswerModel, Head

    def head(names, coef=None, b=0.0):
        n = len(names)
        return Head(list(names), np.zeros(n), np.ones(n), np.zeros(n) if coef is None else coef, b)

    coef = np.zeros(len(QUESTION_FEATURES))
    coef[QUESTION_FEATURES.index("check_missing")] = missing_weight
    model = AnswerModel(
        head(UNIT_FEATURES),
        head(QUESTION_FEATURES, coef, intercept),
        0.0,
        {"embedding_model": "hash-64"},
        {"rules+model": 0.0, "model": 0.5},
    )
    return model.save(tmp_path / f"m{intercept}_{missing_weight}.json")


@pytest.mark.parametrize(("weight", "answered"), [(0.0, True), (-8.0, False)])
def test_one_missing_term_is_weighed_by_the_model(two_reports, tmp_path, weight, answered):
    from rag.chatbot import Chatbot
    from rag.embedding import HashEmbedder

    bot = Chatbot.from_corpus(
        two_reports,
        embedder=HashEmbedder(64),
        model="hash-64",
        data_dir=tmp_path / "data",
        abstain_threshold=0.1,
        answer_model=_model(tmp_path, 3.0, weight),
    )
    # "Quarkonium" is in neither report: the check fails, and the model decides
    a = bot.ask("What were Bolt's Quarkonium net sales?")
    assert a.abstained is not answered
    if not answered:
        assert "never mention 'Quarkonium'" in a.reason and "threshold 0.50" in a.reason
    # two terms no document holds still decide on their own
    a = bot.ask("What were Bolt's Quarkonium Zyxwv net sales?")
    assert a.abstained and "'Quarkonium', 'Zyxwv'" in a.reason
