"""Issue 21, point 1 (the library side): under a login each uploaded document records who added
it, the documents list shows it, and only they can remove it; where the corpus cannot be
changed (the bundled profile, a chat exposed without a login) the page offers no upload or
removal. The fake embedder and tiny files."""

from __future__ import annotations

import pytest

from rag.settings import Settings
from tests.conftest import TINY_DOC
from tests.test_removal_trash import HARBOUR, make_bot
from ui import chat, uploads


def test_an_upload_under_a_login_has_an_owner_who_alone_may_remove_it(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "acme.md").write_text(TINY_DOC)
    bot = make_bot(corpus, tmp_path).warm_up()
    upload = tmp_path / "upload" / "harbour.md"
    upload.parent.mkdir()
    upload.write_text(HARBOUR)
    (added,) = uploads.add_uploads(bot, [str(upload)], user="alice")
    assert added.status == "added"
    rows = {r["name"]: r for r in uploads.rows(bot)}
    assert rows["harbour.md"]["owner"] == "alice" and rows["acme.md"]["owner"] == ""
    table = chat.document_table(list(rows.values()), owners=True)
    assert ["harbour.md", "md \u00b7 1 chunk", "alice"] in table
    assert chat.document_headers(True)[-1] == "added by"
    with pytest.raises(ValueError, match="was added by alice; only they can remove it"):
        uploads.remove(bot, "harbour.md", user="mallory")
    assert (corpus / "harbour.md").exists()
    assert uploads.remove(bot, "harbour.md", user="alice").startswith("removed harbour.md")
    assert "harbour.md" not in uploads.owners(bot.settings)


def test_where_documents_cannot_change_the_page_says_why_once(tmp_path):
    from ui.app import library_note

    bundled = Settings.make(data_dir=tmp_path)
    assert "read-only" in library_note(bundled)
    own = Settings.make(corpus_dir=tmp_path, data_dir=tmp_path / "data")
    assert library_note(own) is None  # loopback
    exposed = library_note(own, host="0.0.0.0")
    assert "without a login" in exposed and "--auth-file" in exposed
    assert library_note(own, host="0.0.0.0", login=True) is None
