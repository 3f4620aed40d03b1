"""What a question asks to compute, the figures of a text, and which numbers follow from them."""

import pytest

from rag.arithmetic import computation, derive, figures


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much did revenue grow from 2021 to 2022?", "change"),
        ("By what percentage did costs increase year over year?", "change"),
        ("What is the operating margin for fiscal 2022?", "ratio"),
        ("What was capex as a percentage of revenue?", "ratio"),
        ("What was the combined revenue of both segments?", "sum"),
        ("What is the difference between the two segments' sales?", "difference"),
        ("What was revenue in fiscal 2022?", None),
        ("What is the dividend per share?", None),
        ("Who is the chief executive?", None),
    ],
)
def test_what_a_question_asks_to_compute(question, kind):
    c = computation(question)
    assert (c.kind if c else None) == kind
    if c:
        assert c.line.startswith("Compute the")


def test_figures_leave_years_out_and_read_scales_signs_and_percents():
    found = figures("In 2022 sales were $1,234 million (2021: 1,100), a loss of (56) and 12.5%.")
    assert [f.bare for f in found] == [1234.0, 1100.0, -56.0, 12.5]
    assert found[0].scaled == 1.234e9 and found[3].percent and found[3].decimals == 1
    assert figures("") == [] and figures("fiscal 2019 and 2020") == []


@pytest.mark.parametrize(
    ("written", "follows"),
    [
        ("10%", True),  # (110 - 100) / 100
        ("9.1%", True),  # (110 - 100) / 110, rounded
        ("210", True),
        ("1.1", True),
        ("$0.21 billion", True),  # 210 in millions, at another scale
        ("11%", False),
        ("215", False),
        ("0.21", False),  # a bare figure is compared at its own scale
    ],
)
def test_numbers_follow_within_rounding_or_not_at_all(written, follows):
    inputs = figures("Sales were $110 million, against $100 million a year before.")
    assert (derive(figures(written)[0], inputs) is not None) is follows
