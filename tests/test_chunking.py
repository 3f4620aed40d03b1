import pytest

from rag.chunking import Chunker, clean_inline, count_tokens, sentence_spans
from rag.documents import Document, load_corpus
from tests.conftest import PROFILE


@pytest.fixture(scope="module")
def profile_chunks():
    docs = load_corpus(PROFILE.parent)
    return docs[0], Chunker().chunk_corpus(docs)


def test_every_chunk_within_token_bound_and_maps_to_source(profile_chunks):
    doc, chunks = profile_chunks
    assert len(chunks) >= 20
    for c in chunks:
        assert c.n_tokens == count_tokens(c.text) <= 200
        assert doc.text[c.char_start : c.char_end] == c.text
        lines = doc.text.splitlines(keepends=True)
        assert "".join(lines[c.line_start - 1 : c.line_end]).strip() == c.text.strip()
        for u in c.units:
            assert c.char_start <= u.char_start < u.char_end <= c.char_end


@pytest.mark.parametrize("limit", [16, 24, 40, 64])
def test_small_limits_split_at_boundaries_never_mid_sentence(profile_chunks, limit):
    doc, _ = profile_chunks
    chunks = Chunker(chunk_tokens=limit).chunk_document(doc)
    ends = set()
    for c in chunks:
        assert c.n_tokens <= limit or len(c.units) <= 1, (c.n_tokens, c.text)
        ends.add(c.char_end)
    # a chunk ends where a unit (sentence or list item) ends, unless one sentence alone was too long
    unit_ends = {
        u.char_end for c in Chunker(chunk_tokens=8192).chunk_document(doc) for u in c.units
    }
    long_cut = [c for c in chunks if c.char_end not in unit_ends]
    for c in long_cut:
        assert count_tokens(c.text) <= limit


def test_overlap_repeats_trailing_blocks():
    text = "# T\n## S\n" + "".join(f"- item number {i} has some words here.\n" for i in range(30))
    doc = Document("t.md", None, text, "x")
    plain = Chunker(chunk_tokens=40).chunk_document(doc)
    overlapped = Chunker(chunk_tokens=40, chunk_overlap=12).chunk_document(doc)
    assert len(overlapped) > len(plain)
    for a, b in zip(overlapped, overlapped[1:], strict=False):
        assert b.char_start < a.char_end  # shares text with the previous chunk


def test_chunk_ids_are_stable_and_distinct(profile_chunks):
    doc, chunks = profile_chunks
    again = Chunker().chunk_document(doc)
    assert [c.id for c in chunks] == [c.id for c in again]
    assert len({c.id for c in chunks}) == len(chunks)


def test_repeated_heading_gives_distinct_chunks(profile_chunks):
    _, chunks = profile_chunks
    cc = [c for c in chunks if c.heading == "SenseTime > Controversies & Challenges"]
    assert len({c.section_id for c in cc}) == 2


def test_bold_labels_kept_and_markdown_removed(profile_chunks):
    _, chunks = profile_chunks
    texts = [u.text for c in chunks for u in c.units]
    assert "Founder: Professor Xiao'ou Tang" in texts
    assert "Investor relations: ir@sensetime.com" in texts  # fused word repaired
    assert "Website: https://www.sensetime.com" in texts
    assert not any("**" in t for t in texts)


def test_nested_items_know_their_parent(profile_chunks):
    _, chunks = profile_chunks
    units = [u for c in chunks for u in c.units]
    (platforms,) = [u for u in units if u.text.startswith("4 (Platforms)")]
    children = [
        u.text.split(":")[0]
        for u in units
        if u.parent == platforms.block
        and u.depth == 1
        and u.line > platforms.line
        and u.line < platforms.line + 6
    ]
    assert children == ["Smart Business", "Smart City", "Smart Life", "Smart Auto"]


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("- **Founder**: Jane", "Founder: Jane"),
        ("1.  **Shanghai** (Headquarters)", "Shanghai (Headquarters)"),
        ("[ir@x.com](mailto:ir@x.com)", "ir@x.com"),
        ("[Site](https://x.com/a)", "Site (x.com/a)"),
        ("", ""),
        ("é", "é"),
        ("商汤科技", "商汤科技"),
        ("🙂 *hi*", "🙂 hi"),
    ],
)
def test_clean_inline(raw, expected):
    assert clean_inline(raw) == expected


@pytest.mark.parametrize(
    "text,n",
    [
        ("", 0),
        ("One.", 1),
        ("The U.S. government acts. It denies it.", 2),
        ("Top conferences (e.g., CVPR, ICCV) matter. Yes.", 2),
        ("Revenue was $1.2B in 2023. Growth was 45%.", 2),
        ("No. 1098, Changle Road, Shanghai", 1),
        ("汉字句子。", 1),
    ],
)
def test_sentence_spans(text, n):
    spans = sentence_spans(text)
    assert len(spans) == n
    assert all(text[s:e].strip() == text[s:e] for s, e in spans)


def test_bad_chunker_settings_are_rejected():
    with pytest.raises(ValueError, match="chunk_overlap"):
        Chunker(chunk_tokens=10, chunk_overlap=10)


def test_repair_off_keeps_source_words_and_on_maps_edits_to_source():
    (doc,) = load_corpus(PROFILE.parent)
    raw = [u for c in Chunker(repair=False).chunk_document(doc) for u in c.units]
    assert "Investorelations: ir@sensetime.com" in [u.text for u in raw]
    assert all(u.repairs == () for u in raw)
    fixed = [u for c in Chunker().chunk_document(doc) for u in c.units]
    edits = [r for u in fixed for r in u.repairs]
    assert ("globaleader", "global leader") in [(r[2], r[3]) for r in edits]
    for u in fixed:
        for start, end, original, replacement in u.repairs:
            assert u.char_start <= start < end <= u.char_end
            assert doc.text[start:end] == original and replacement in u.text
    # applying the edits to the source span gives back the unit's words
    for u in fixed:
        if not u.repairs:
            continue
        src, pos, parts = doc.text, u.char_start, []
        for start, end, _, replacement in u.repairs:
            parts.append(src[pos:start])
            parts.append(replacement)
            pos = end
        parts.append(src[pos : u.char_end])
        rebuilt = "".join(parts).replace("**", "")
        for word in u.text.split():
            assert word.strip("()") in rebuilt


def test_manifest_repair_list_points_at_source():
    (doc,) = load_corpus(PROFILE.parent)
    repairs = Chunker().repairs([doc])
    originals = [r["original"] for r in repairs]
    assert "Businessegments" in originals and "Investorelations" in originals
    for r in repairs:
        assert doc.text[r["char_start"] : r["char_end"]] == r["original"]
        assert doc.text.splitlines()[r["line"] - 1].find(r["original"]) >= 0
    assert Chunker(repair=False).repairs([doc]) == []
