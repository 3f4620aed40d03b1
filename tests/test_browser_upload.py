"""Upload and removal in a real headless Chromium: several files through the file picker and one
dropped on the upload area, a progress indicator while indexing, the document list with a remove
removal (with its confirmation) per document, and an answer citing the uploaded PDF by page. The real model; the corpus is
a temporary folder (never the bundled one)."""

from __future__ import annotations

import base64
import re
import socket
import time

import pytest

from tests.test_browser_chat import ask, browser, open_page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
GARDEN = "# Garden notes\n\n## Roses\nRoses need pruning in late winter and feeding in spring.\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def upload_server(real_bot, tmp_path_factory):
    from rag.chatbot import Chatbot
    from ui.app import serve

    root = tmp_path_factory.mktemp("upload-chat")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "garden.md").write_text(GARDEN)
    bot = Chatbot.from_corpus(corpus, data_dir=root / "data", watch_seconds=1)
    bot._embedder = real_bot.embedder  # the loaded model, shared
    demo, url = serve(bot, host="127.0.0.1", port=free_port())
    yield bot, url, corpus
    demo.close()


def doc_names(page) -> list[str]:
    """The listed documents, in order (the first column of the documents table)."""
    from tests.test_browser_documents import table_names

    return table_names(page)


def expect_documents(page, n: int) -> None:
    page.locator("#doc-table", has_text=f"{n} document{'s' if n != 1 else ''}").wait_for(
        timeout=120_000
    )


def test_upload_ask_cite_page_and_remove(browser, upload_server, profile_files):  # noqa: F811
    from playwright.sync_api import expect

    bot, url, corpus = upload_server
    with open_page(browser, url) as page:
        expect_documents(page, 1)
        assert doc_names(page) == ["garden.md"]
        t0 = time.perf_counter()
        page.locator("#upload input[type=file]").set_input_files(
            [str(profile_files["pdf"]), str(profile_files["docx"])]
        )
        # a progress indicator shows while the upload is indexed
        page.wait_for_selector(
            "#upload-status .progress-text, #upload-status .eta-bar, .progress-bar", timeout=20_000
        )
        expect(page.locator("#upload-status")).to_contain_text(
            "sensetime_profile.pdf: added", timeout=120_000
        )
        expect(page.locator("#upload-status")).to_contain_text("sensetime_profile.docx: added")
        expect_documents(page, 3)
        answer = ask(page, "Who founded SenseTime?")
        elapsed = time.perf_counter() - t0
        assert "Xiao'ou Tang" in answer.inner_text()
        titles = page.locator("#chat").inner_text()
        assert re.search(r"sensetime_profile\.(pdf \u00b7 p\. 1|docx)", titles), titles
        print(f"upload of the profile PDF + DOCX to the first cited answer: {elapsed:.1f}s")

        # drag and drop a third file onto the upload area (empty again after the upload)
        page.wait_for_selector("#upload button.upload-container")
        html = profile_files["html"].read_bytes()
        page.evaluate(
            """([name, b64]) => {
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], name, {type: 'text/html'}));
                const target = document.querySelector('#upload button.upload-container');
                for (const type of ['dragenter', 'dragover', 'drop']) {
                    target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
                }
            }""",
            ["dropped.html", base64.b64encode(html).decode()],
        )
        expect(page.locator("#upload-status")).to_contain_text("dropped.html", timeout=120_000)
        # the same content as the markdown profile's HTML twin is new to this corpus: added
        expect_documents(page, 4)

        # remove the PDF: pick it (a click on its row), Remove, then confirm
        page.locator("#doc-table .body-cell", has_text="sensetime_profile.pdf").first.click()
        expect(page.locator("#remove-choice input")).to_have_value("sensetime_profile.pdf")
        page.locator("#remove").click()
        page.locator("#remove-yes").click()
        expect(page.locator("#upload-status")).to_contain_text(
            "removed sensetime_profile.pdf", timeout=60_000
        )
        expect_documents(page, 3)
        assert "sensetime_profile.pdf" not in doc_names(page)
        assert not (corpus / "sensetime_profile.pdf").exists()
        again = ask(page, "Where is SenseTime headquartered?")
        assert "Hong Kong" in again.inner_text()
        assert "sensetime_profile.pdf" not in bot.index.manifest["corpus"]
