from pathlib import Path

import pytest

from rag.documents import CorpusError, load_corpus, parse_sections
from tests.conftest import PROFILE


def test_profile_ships_byte_identical_to_seed():
    seed = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_7ef685683aa46a24.txt"
    if not seed.exists():
        pytest.skip("shared/seed is not beside this checkout")
    assert PROFILE.read_bytes() == seed.read_bytes()


def test_heading_paths_and_repeated_heading_on_profile():
    (doc,) = load_corpus(PROFILE.parent)
    sections = parse_sections(doc)
    heads = [s.heading for s in sections]
    assert "SenseTime > Key Products & Foundation Models > Core Platforms" in heads
    assert "SenseTime > Global Presence & Partnerships > Research Centers" in heads
    repeated = [s for s in sections if s.heading == "SenseTime > Controversies & Challenges"]
    assert [s.ordinal for s in repeated] == [1, 2]
    assert repeated[0].section_id != repeated[1].section_id
    assert repeated[0].line_start == 42 and repeated[1].line_start == 101
    assert "USanctions" in repeated[0].text and "US trade restrictions" in repeated[1].text


def test_section_offsets_map_back_to_source(tiny_corpus):
    docs = load_corpus(tiny_corpus)
    assert [d.doc_id for d in docs] == ["acme.md", "notes.txt"]
    for doc in docs:
        lines = doc.text.splitlines(keepends=True)
        for s in parse_sections(doc):
            assert doc.text[s.char_start : s.char_end] == s.text
            assert "".join(lines[s.line_start - 1 : s.line_end]) == s.text


def test_text_before_first_heading_is_a_section(tiny_corpus):
    docs = load_corpus(tiny_corpus)
    (notes,) = [d for d in docs if d.doc_id == "notes.txt"]
    (section,) = parse_sections(notes)
    assert section.heading_path == ("notes",) and section.level == 0


def test_headings_inside_code_fences_are_not_sections(tmp_path):
    (tmp_path / "a.md").write_text("# T\n```\n# not a heading\n```\n## Real\ntext\n")
    (doc,) = load_corpus(tmp_path)
    assert [s.heading for s in parse_sections(doc)] == ["T", "T > Real"]


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="holds no non-empty"):
        load_corpus(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="no such corpus folder"):
        load_corpus(tmp_path / "nope")


def test_non_utf8_file_is_named(tmp_path):
    (tmp_path / "good.md").write_text("# ok\ntext\n")
    (tmp_path / "bad.md").write_bytes(b"# caf\xe9\n")
    with pytest.raises(CorpusError, match=r"bad\.md: is not UTF-8"):
        load_corpus(tmp_path)


def test_symlink_outside_corpus_is_refused(tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text("# secret\n")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.md").write_text("# ok\ntext\n")
    (corpus / "link.md").symlink_to(outside)
    with pytest.raises(CorpusError, match="outside the corpus folder"):
        load_corpus(corpus)


def test_empty_files_are_skipped_and_other_suffixes_ignored(tmp_path):
    (tmp_path / "a.md").write_text("# A\nalpha\n")
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    assert [d.doc_id for d in load_corpus(tmp_path)] == ["a.md"]
