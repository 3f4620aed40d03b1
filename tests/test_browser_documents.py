"""Issue 21, points 6, 15 and 16 in a real headless Chromium: the read-only bundled profile shows
no control that would fail, and says why once; a writable folder of 100 documents (one with a
120-character name) gets a compact table with a filter, and no horizontal overflow; removal
asks for a confirmation and moves the file into the trash; a freshly loaded page lists the
documents as they are now. The fake embedder (the point is the page)."""

from __future__ import annotations

import time

import pytest

from tests.test_browser_chat import browser, open_page  # noqa: F401  (fixture)
from tests.test_uploads_http import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LONG = "quarterly_report_" + "x" * 95 + "_final.md"  # 120 characters


def make_bot(corpus, data, **settings):
    from rag.chatbot import Chatbot
    from rag.embedding import HashEmbedder

    return Chatbot.from_corpus(
        corpus, embedder=HashEmbedder(64), model="hash-64", data_dir=data, abstain_threshold=0.1,
        watch_seconds=0, **settings,
    )  # fmt: skip


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from ui.app import serve

    root = tmp_path_factory.mktemp("library")
    corpus = root / "corpus"
    corpus.mkdir()
    for i in range(99):
        (corpus / f"doc-{i:02d}.md").write_text(
            f"# Note {i}\n\nItem {i} weighs {i + 3} kilograms.\n"
        )
    (corpus / LONG).write_text("# Report\n\nThe report has seven parts.\n")
    bot = make_bot(corpus, root / "data")
    demo, url = serve(bot, port=free_port())
    yield bot, url, corpus, root / "data"
    demo.close()


def table_names(page) -> list[str]:
    """The document names the table shows (its first column), in order."""
    return page.evaluate(
        """() => { const out = [];
        for (const row of document.querySelectorAll('#doc-table .virtual-row')) {
            const cell = row.querySelector('.body-cell .cell-wrap');
            const text = cell ? cell.innerText.trim() : '';
            if (text && !out.includes(text)) out.push(text);
        }
        return out; }"""
    )


def test_the_bundled_profile_shows_no_control_that_fails(browser, tmp_path):  # noqa: F811
    from ui.app import page_for, serve

    bot = make_bot(None, tmp_path / "data")
    demo, url = serve(bot, port=free_port(), **page_for(None))
    try:
        with open_page(browser, url) as page:
            page.wait_for_selector("#doc-table")
            assert page.locator("#upload").count() == 0
            assert page.locator("#remove, #remove-choice, button:has-text('Remove')").count() == 0
            note = page.locator("#library-note")
            assert note.count() == 1 and "read-only" in note.inner_text()
            assert "rag chat --corpus my_docs" in note.inner_text()
            assert page.get_by_text("read-only").count() == 1  # said once
            page.locator("#doc-table", has_text="sensetime_profile.md").wait_for()
            assert table_names(page) == ["sensetime_profile.md"]
        # the upload route refuses too (no file reaches the temporary folder)
        import httpx

        r = httpx.post(
            url + "gradio_api/upload", files=[("files", ("a.md", b"# A\n\nText.\n"))], timeout=10
        )
        assert r.status_code == 403 and "read-only" in r.json()["error"]
    finally:
        demo.close()


def test_a_hundred_documents_fit_a_compact_filtered_table(browser, library):  # noqa: F811
    bot, url, corpus, _ = library
    with open_page(browser, url) as page:
        page.locator("#doc-table", has_text="doc-00.md").wait_for()
        table = page.locator("#doc-table").bounding_box()
        assert table["height"] < 450, table  # the table scrolls; it does not grow with the list
        label = page.locator("#doc-table").inner_text()
        assert "100 documents" in label
        # a 120-character name wraps inside the panel instead of widening it
        overflow = page.evaluate(
            "() => { const d = document.querySelector('#documents');"
            " return [d.scrollWidth, d.clientWidth]; }"
        )
        assert overflow[0] <= overflow[1] + 1, overflow
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        # the filter narrows the list
        page.locator("#doc-filter textarea, #doc-filter input").first.fill("doc-4")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(table_names(page)) != 10:
            time.sleep(0.2)
        label = " ".join(page.locator("#doc-table").inner_text().split())
        assert "100 documents (10 shown)" in label, label
        names = table_names(page)
        assert names and all("doc-4" in n for n in names), names
        # sizes are said in words, with plurals right
        text = page.locator("#doc-table").inner_text()
        assert "1 chunk" in text and "1 chunks" not in text


def test_removal_asks_first_and_goes_to_the_trash(browser, library):  # noqa: F811
    bot, url, corpus, data = library
    with open_page(browser, url) as page:
        page.locator("#doc-table", has_text="doc-00.md").wait_for()
        choice = page.locator("#remove-choice input")
        choice.click()
        choice.fill("doc-07")
        page.locator("[role=option]", has_text="doc-07.md").first.click()
        page.locator("#remove").click()
        question = page.locator("#remove-question")
        question.wait_for()
        assert "doc-07.md" in question.inner_text() and "rag restore" in question.inner_text()
        time.sleep(0.5)
        assert (corpus / "doc-07.md").exists()  # nothing happens before the confirmation
        page.locator("#remove-no").click()
        page.wait_for_selector("#remove-question", state="hidden")
        assert (corpus / "doc-07.md").exists()
        page.locator("#remove").click()
        page.locator("#remove-yes").click()
        page.locator("#upload-status", has_text="removed doc-07.md").wait_for()
        assert not (corpus / "doc-07.md").exists()
        assert list((data / "trash").glob("*/doc-07.md"))
        page.locator("#doc-table", has_text="99 documents").wait_for()
        assert "doc-07.md" not in table_names(page)


def test_a_freshly_loaded_page_lists_the_documents_as_they_are_now(browser, library):  # noqa: F811
    bot, url, corpus, _ = library
    (corpus / "late-arrival.md").write_text("# Late\n\nIt came after the server started.\n")
    bot.refresh(wait=True)
    from ui import uploads

    n = len(uploads.rows(bot))
    with open_page(browser, url) as page:
        t0 = time.perf_counter()
        # the page's own refresh runs every 5 s: within 4 s, the list must come from the load
        page.locator("#doc-table", has_text=f"{n} documents").wait_for(timeout=4000)
        page.locator("#doc-filter textarea, #doc-filter input").first.fill("late")
        page.locator("#doc-table", has_text="late-arrival.md").wait_for(timeout=4000)
        print(f"listed {time.perf_counter() - t0:.1f} s after the page was ready")
