import pytest

from rag.filters import Filters


def test_empty_filters_allow_everything():
    f = Filters.make()
    assert f.empty
    assert f.allows("a.pdf") and f.allows("b.md", {"type": "10-K"})


@pytest.mark.parametrize(
    ("filters", "doc", "record", "allowed"),
    [
        (Filters.make(documents="A.pdf"), "a.pdf", None, True),
        (Filters.make(documents=["a.pdf"]), "b.pdf", None, False),
        (Filters.make(doc_types="10-K"), "a.pdf", {"type": "10-k"}, True),
        (Filters.make(doc_types="10-K"), "a.pdf", {"type": "10-Q"}, False),
        (Filters.make(doc_types="10-K"), "a.pdf", None, False),
        (Filters.make(periods="FY2022"), "a.pdf", {"periods": ["FY2021", "FY2022"]}, True),
        (Filters.make(periods="FY2022"), "a.pdf", {"period": "FY2022"}, True),
        (Filters.make(periods="FY2022"), "a.pdf", {"period": "FY2023"}, False),
    ],
)
def test_each_field_restricts(filters, doc, record, allowed):
    assert filters.allows(doc, record) is allowed


def test_bad_values_are_refused_and_blank_ones_dropped():
    with pytest.raises(ValueError, match="strings"):
        Filters.make(documents=[3])
    assert Filters.make(documents=["", "  "]).empty
    assert Filters.make(documents="a").to_dict()["documents"] == ["a"]
