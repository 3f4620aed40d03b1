"""Table rows as quotable units: label, column headers, values and unit (rag.table_rows), and the
chunker giving each row of a read table one unit with that text."""

from __future__ import annotations

import pytest

from rag.chunking import Chunker
from rag.documents import Document
from rag.table_rows import compose, header_tokens, is_header_row, row_cells, table_texts, unit_of


def test_a_statement_row_gets_the_years_from_the_line_above_and_the_unit():
    above = "Statement of Widgets (in thousands)\n\nYear 2024 2023\n"
    rows = [
        ["Widget income", "$", "1,250", "", "$", "980"],
        ["Gadget costs", "(310)", "", "", "(295)", ""],
        ["Margin", "41.5", "%", "", "39.9", "%"],
    ]
    (texts,) = table_texts([(above, rows)])
    assert texts == [
        "Widget income — 2024: $1,250; 2023: $980 (thousands)",
        "Gadget costs — 2024: (310); 2023: (295) (thousands)",
        "Margin — 2024: 41.5%; 2023: 39.9%",  # percentages carry no currency unit
    ]


def test_header_rows_inside_the_table_name_the_columns():
    rows = [
        ["", "Revenue Mix", "", "", "Growth", ""],
        ["", "June 30, 2025", "", "June 30, 2024", "", "2025"],
        ["Apples", "10", "", "12", "", "(3.0) %"],
        ["Pears", "5", "", "4", "", "1.1 %"],
    ]
    texts = table_texts([("", rows)])[0]
    assert texts[0] == "Revenue Mix | Growth"  # header rows stay as their cells
    assert (
        texts[2]
        == "Apples — Revenue Mix June 30, 2025: 10; Revenue Mix June 30, 2024: 12; Growth 2025: (3.0) %"
    )


def test_a_labelled_header_row_of_periods_is_a_header():
    assert is_header_row(["Fiscal Years Ended", "January 31, 2025", "February 1, 2024"])
    assert is_header_row(["", "Staff"])
    assert not is_header_row(["Revenue", "1,200", "1,100"])
    rows = [["Fiscal Years Ended", "March 2, 2025", "March 3, 2024"], ["Sales", "7", "8"]]
    assert table_texts([("", rows)])[0][1] == "Sales — March 2, 2025: 7; March 3, 2024: 8"


@pytest.mark.parametrize(
    ("cells", "text"),
    [
        (["Operating items", "", "", ""], "Operating items"),  # a label alone
        (["4.1", "Deed of trust", "S-3", "3/8/2011"], "4.1 | Deed of trust | S-3 | 3/8/2011"),
        (["Plain", "1", "2"], "Plain — 1; 2"),  # no headers known: values in order
    ],
)
def test_rows_without_headers_or_figures_keep_their_cells(cells, text):
    assert compose(cells) == text


def test_header_tokens_and_units():
    assert header_tokens("2025 2024 2023") == ["2025", "2024", "2023"]
    assert header_tokens("In millions, except per share amounts 2025 2024") == ["2025", "2024"]
    assert header_tokens("Sales grew in 2025 over 2024 thanks to new stores") == []
    assert unit_of("(Dollars in Millions Except Per Share Amounts)") == "millions"
    assert unit_of("no unit here") == ""
    assert row_cells("- a | b |  | c") == ["a", "b", "", "c"]
    assert row_cells("- a plain item") is None


def test_the_chunker_makes_each_row_one_unit_with_its_headers():
    text = (
        "# Results\n\nAmounts in millions.\n\n2025 2024\n\n"
        "- Net widgets | $ | 1,234.5 |  | $ | 1,100.0\n"
        "- Other items. Really | 3 |  |  | 4 | \n\n"
        "After the table.\n"
    )
    doc = Document(doc_id="r.md", path=None, text=text, sha256="x")
    (chunk,) = Chunker().chunk_document(doc)
    rows = [u for u in chunk.units if u.kind == "item"]
    assert [u.text for u in rows] == [
        "Net widgets — 2025: $1,234.5; 2024: $1,100.0 (millions)",
        "Other items. Really — 2025: 3; 2024: 4 (millions)",  # not split at the full stop
    ]
    assert text[rows[0].char_start : rows[0].char_end].startswith("- Net widgets | $")
    # the line of years is the rows' header now, not a quotable unit of its own
    assert [u.text for u in chunk.units if u.kind != "item"] == [
        "Amounts in millions.",
        "After the table.",
    ]
