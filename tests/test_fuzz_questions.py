"""Fuzzing the evaluation-file parser (``rag.evaluation.load_questions``) with hypothesis.

Whatever bytes a question file holds, ``load_questions`` either returns the questions or raises
``QuestionSetError`` whose message starts with the file and, when one line is at fault, that line's
number (as an editor counts lines). It never raises anything else, never accepts text that cannot
be written back out as UTF-8, and reads every well-formed file back exactly. The regressions at the
end are the inputs the fuzzer found first.
"""

from __future__ import annotations

import csv
import io
import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.evaluation import QUESTION_FIELDS, Question, QuestionSetError, load_questions

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# characters JSON and CSV treat specially, and the ones str.splitlines breaks lines at
TRICKY = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e\r\n\t\x00\"',;[]{}|\\\ufeff"
chars = st.characters(
    codec=None, categories=["L", "N", "P", "S", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs"]
)
tricky_text = st.text(st.one_of(chars, st.sampled_from(TRICKY)), max_size=20)
plain_text = st.text(string.ascii_letters + string.digits + " ?", min_size=1, max_size=12).filter(
    str.strip
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    tricky_text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def records(draw) -> dict:
    """A question record: sometimes valid, often with a wrong type, missing or unknown field."""
    rec = {}
    for name in QUESTION_FIELDS:
        if draw(st.booleans()):
            rec[name] = draw(json_value)
    if draw(st.booleans()):
        rec["id"] = draw(st.one_of(plain_text, st.integers(0, 30)))
    if draw(st.booleans()):
        rec["question"] = draw(st.one_of(plain_text, tricky_text))
    if draw(st.integers(0, 9)) == 0:
        rec[draw(tricky_text)] = draw(json_value)
    return rec


@st.composite
def valid_records(draw) -> dict:
    """A record the parser must accept, holding the characters that break naive line splitting."""
    rec = {"id": draw(st.one_of(plain_text, st.integers(0, 5))), "question": draw(plain_text)}
    rec["question"] += draw(st.text(st.sampled_from("\u2028\u2029\x85 \u00e9\u5546"), max_size=3))
    if draw(st.booleans()):
        rec["must_include"] = draw(st.lists(plain_text, max_size=2))
    if draw(st.booleans()):
        rec["history"] = draw(st.lists(plain_text, max_size=2))
    if draw(st.booleans()):
        rec["answerable"] = draw(st.booleans())
    if draw(st.booleans()):
        rec["notes"] = draw(st.text(st.characters(codec="utf-8"), max_size=10))
    return rec


def jsonl_line(draw, value) -> str:
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


@st.composite
def jsonl_files(draw) -> tuple[str, int]:
    """The text of a .jsonl file (records, garbage and blank lines) and its number of lines."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["record", "record", "value", "garbage", "blank"]))
        if kind == "record":
            lines.append(jsonl_line(draw, draw(records())))
        elif kind == "value":
            lines.append(jsonl_line(draw, draw(json_value)))
        elif kind == "garbage":
            lines.append(draw(st.text(st.characters(codec="utf-8", exclude_characters="\r\n"))))
        else:
            lines.append(draw(st.sampled_from(["", " ", "\t"])))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    text = bom + end.join(lines) + draw(st.sampled_from(["", end]))
    return text, len(re.split(r"\r\n|\r|\n", text))


@st.composite
def csv_files(draw) -> tuple[str, int]:
    """The text of a .csv file with a header of known (and sometimes unknown) columns."""
    header = draw(
        st.lists(st.sampled_from([*QUESTION_FIELDS, "extra"]), min_size=1, max_size=5, unique=True)
    )
    cell = st.one_of(plain_text, tricky_text, st.sampled_from(["true", "no", "[", '["a"]', "a;b"]))
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=len(header) + 1), max_size=5))
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    return text, len(re.split(r"\r\n|\r|\n", text))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def check_outcome(path: Path, n_lines: int) -> list[Question] | None:
    """Load ``path``; a success must be usable, a failure a QuestionSetError naming a real line."""
    try:
        questions = load_questions(path)
    except QuestionSetError as exc:
        message = str(exc)
        assert message.startswith(f"{path}:"), message
        m = re.match(re.escape(str(path)) + r":(\d+): ", message)
        if m:
            assert 1 <= int(m.group(1)) <= n_lines, message
        else:
            assert message.startswith(f"{path}: the file has no questions"), message
        return None
    assert questions
    ids = [q.id for q in questions]
    assert len(ids) == len(set(ids))
    for q in questions:
        assert isinstance(q.question, str) and q.question.strip()
        assert 1 <= q.line <= n_lines
        # everything accepted can be written to results.jsonl and hashed (UTF-8)
        json.dumps(q.to_dict(), ensure_ascii=False).encode("utf-8")
    return questions


@FUZZ
@given(data=jsonl_files())
def test_any_jsonl_file_loads_or_names_the_line(tmp_path, data):
    text, n_lines = data
    check_outcome(write(tmp_path, "q.jsonl", text), n_lines)


@FUZZ
@given(data=csv_files())
def test_any_csv_file_loads_or_names_the_line(tmp_path, data):
    text, n_lines = data
    check_outcome(write(tmp_path, "q.csv", text), n_lines)


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".jsonl", ".csv"]))
def test_arbitrary_bytes_never_crash_the_parser(tmp_path, data, suffix):
    path = tmp_path / f"q{suffix}"
    path.write_bytes(data)
    check_outcome(path, len(re.split(rb"\r\n|\r|\n", data)))


@FUZZ
@given(
    recs=st.lists(valid_records(), min_size=1, max_size=6),
    end=st.sampled_from(["\n", "\r\n"]),
    ascii_only=st.booleans(),
)
@example(recs=[{"id": "q1", "question": "a\u2028b"}], end="\n", ascii_only=False)
def test_well_formed_jsonl_reads_back_exactly(tmp_path, recs, end, ascii_only):
    """Valid records come back as they were written, on the line they were written on; a repeated
    id is reported on the line of its second use."""
    text = end.join(json.dumps(r, ensure_ascii=ascii_only) for r in recs) + end
    path = write(tmp_path, "q.jsonl", text)
    seen: dict[str, int] = {}
    duplicate = None
    for n, r in enumerate(recs, 1):
        key = str(r["id"]).strip()
        if key in seen:
            duplicate = (n, key, seen[key])
            break
        seen[key] = n
    if duplicate:
        n, key, first = duplicate
        with pytest.raises(QuestionSetError) as exc:
            load_questions(path)
        assert str(exc.value).startswith(f"{path}:{n}: duplicate id {key!r}")
        assert f"line {first}" in str(exc.value)
        return
    questions = load_questions(path)
    assert [q.line for q in questions] == list(range(1, len(recs) + 1))
    for q, r in zip(questions, recs, strict=True):
        assert q.id == str(r["id"]).strip()
        assert q.question == r["question"].strip()
        assert q.answerable == r.get("answerable", True)
        assert q.history == [h.strip() for h in r.get("history", [])]


# ---- what the fuzzer found first (each a regression test) ----------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # Python refuses to convert integers of more than 4300 digits (a ValueError, not a
        # JSONDecodeError): the error used to escape without the line
        ('{"id": ' + "1" * 5000 + ', "question": "x"}', "not valid JSON"),
        # json.loads recurses once per nesting level: RecursionError used to escape
        ('{"id": "q", "question": "x", "notes": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested"),
        # a lone surrogate escape is valid JSON, but results.jsonl (UTF-8) cannot hold it: the run
        # used to crash after asking every question, when it hashed and wrote the questions
        ('{"id": "q", "question": "x \\ud800"}', "lone surrogate"),
        ('{"id": "q", "question": "x", "tags": ["\\udfff"]}', "lone surrogate"),
    ],
)
def test_found_jsonl_inputs_are_errors_that_name_the_line(tmp_path, line, message):
    path = write(tmp_path, "q.jsonl", '{"id": "ok", "question": "fine"}\n' + line + "\n")
    with pytest.raises(QuestionSetError) as exc:
        load_questions(path)
    assert str(exc.value).startswith(f"{path}:2: ") and message in str(exc.value)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_line_separators_inside_json_strings_do_not_split_the_line(tmp_path, separator):
    """``json.dumps(..., ensure_ascii=False)`` writes U+2028/U+2029/U+0085 raw; str.splitlines
    breaks lines there, so such a valid file used to be refused as "not valid JSON"."""
    recs = [{"id": "a", "question": f"one{separator}two"}, {"id": "b", "question": "three"}]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)
    path = write(tmp_path, "q.jsonl", text + '{"id": "a", "question": "dup"}\n')
    with pytest.raises(QuestionSetError, match=r":3: duplicate id 'a' \(already used on line 1\)"):
        load_questions(path)
    questions = load_questions(write(tmp_path, "ok.jsonl", text))
    assert [(q.id, q.question, q.line) for q in questions] == [
        ("a", f"one{separator}two", 1),
        ("b", "three", 2),
    ]


def test_old_mac_line_ends_still_count_lines(tmp_path):
    path = write(
        tmp_path, "q.jsonl", '{"id": "a", "question": "x"}\r{"id": "a", "question": "y"}\r'
    )
    with pytest.raises(QuestionSetError, match=r":2: duplicate id 'a'"):
        load_questions(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a cell above csv's field size limit raised csv.Error, which is not a QuestionSetError
        ("id,question\nq1," + "x" * 200_000 + "\n", ":2: "),
        ('id,question,tags\nq1,x,"' + "[" * 50_000 + '"\n', ":2: 'tags'"),
    ],
)
def test_found_csv_inputs_are_errors_that_name_the_line(tmp_path, text, message):
    path = write(tmp_path, "q.csv", text)
    with pytest.raises(QuestionSetError) as exc:
        load_questions(path)
    assert str(exc.value).startswith(f"{path}{message}")
