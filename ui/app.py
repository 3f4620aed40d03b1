"""The browser chat page: Gradio components wired to ``ui.chat``, and ``serve`` to launch it.

The page has a chat (answers with their [n] markers, one collapsible message per cited source, the
supporting sentences highlighted), example questions, a clear button, a settings panel (retrieval
mode, number of passages), a retrieval-debug view and like/dislike votes appended to the feedback
log. One public API endpoint, ``/ask``, returns ``Answer.to_dict()``; every other event is private.

All logic lives in ``ui.chat`` (a plain ``respond(message, history)``) and in the ``rag`` engine;
this module only wires components. Gradio is imported inside the functions, after the offline
environment (no telemetry, no hub) is set, so importing this module is cheap.

    bot = Chatbot.from_corpus(None).warm_up()
    demo, url = serve(bot, host="127.0.0.1", port=7860)   # returns once the server is up
"""

import functools
import ipaddress
import os
import shutil
import sys
from pathlib import Path

from rag.feedback import FeedbackLog
from rag.settings import apply_offline_env
from ui import chat, uploads

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_CONCURRENCY = 4  # questions answered at once (shared model, one per worker thread)

CSS = """
.rag-answer, .rag-abstain, .rag-error { line-height: 1.5; }
.rag-abstain { border-left: 4px solid #d97706; padding-left: .6em; }
.rag-error { border-left: 4px solid #dc2626; padding-left: .6em; }
.rag-reason, .rag-understood, .rag-notice { opacity: .75; font-size: .9em; margin-top: .4em; }
.rag-source { font-size: .92em; line-height: 1.45; }
.rag-draft { opacity: .8; }
.rag-checking, .rag-generated { opacity: .7; font-size: .85em; margin-top: .4em; font-style: italic; }
#doc-table td, #doc-table th { overflow-wrap: anywhere; word-break: break-word; }
#documents, #doc-table, #upload-status, #remove-choice { min-width: 0; max-width: 100%; }
#upload-status { overflow-wrap: anywhere; }
.rag-source mark {
    background: #fde68a; color: #1f2937; font-size: inherit; padding: 0 .1em; border-radius: 2px;
}
"""


# ---- serving settings -----------------------------------------------------------------------------


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:password"`` -> ``("user", "password")``; None or "" -> None (no login)."""
    if value is None or not value.strip():
        return None
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise ValueError(
            f"auth {_mask(value)!r} is not USER:PASSWORD: pass e.g. --auth alice:s3cret "
            "(or set RAG_AUTH=alice:s3cret)"
        )
    return user.strip(), password


def _mask(value: str) -> str:
    user, sep, _ = value.partition(":")
    return f"{user}{sep}***" if sep else value


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(port) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port={port!r} is not a TCP port: use a number from 1 to 65535")
    return port


def check_port_free(host: str, port: int) -> None:
    """Refuse a port that something already listens on, before anything slow (the model) loads."""
    import socket

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host.strip("[]"), port))
    except OSError as exc:
        raise ValueError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): pass another --port, "
            "or stop what uses it"
        ) from None


def check_concurrency(concurrency) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(
            f"concurrency={concurrency!r} must be a whole number of at least 1, e.g. 4"
        )
    return concurrency


def bind_warning(host: str, auth) -> str | None:
    """The warning to print when the chat is reachable from other machines without a login."""
    if is_loopback(host) or auth:
        return None
    return (
        f"warning: binding to {host} makes the chat reachable from other machines, and no login "
        "is set: anyone who can reach this address can use it. Pass --auth USER:PASSWORD (or set "
        "RAG_AUTH), or bind to 127.0.0.1."
    )


def library_note(settings, host: str = DEFAULT_HOST, login: bool = False) -> str | None:
    """Why documents cannot be added or removed in this chat, or None when they can: the
    bundled profile is read-only, a folder the server cannot write, and a chat reachable from
    other machines without a login (anyone could plant or delete documents)."""
    from rag.settings import BUNDLED_CORPUS

    corpus = Path(settings.corpus_dir)
    if corpus.resolve() == BUNDLED_CORPUS.resolve():
        return (
            "This is the bundled SenseTime profile, which is read-only: to add or remove "
            f"documents, copy it into a folder of your own (mkdir my_docs && cp "
            f"{BUNDLED_CORPUS.resolve()}/* my_docs/) and start the chat with "
            "rag chat --corpus my_docs."
        )
    if corpus.is_dir() and not os.access(corpus, os.W_OK):
        return (
            "The documents folder is read-only for this server, so documents cannot be added or "
            "removed here; make it writable, or start the chat on a copy."
        )
    if not is_loopback(host) and not login:
        return (
            "Adding and removing documents is off: this chat is reachable from other machines "
            "without a login. Restart it with --auth-file (each document then shows who added it)."
        )
    return None


def _username(request) -> str | None:
    return getattr(request, "username", None) or None


# ---- the page ---------------------------------------------------------------------------------------


def build_app(
    bot,
    feedback: FeedbackLog,
    *,
    examples: list[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    title: str = "Ask the documents",
    library: str | None = None,
    login: bool = False,
):
    """The Gradio ``Blocks`` of the chat, answering with ``bot`` and logging votes to ``feedback``.

    ``library``: why documents cannot be added or removed here ("" when they can; None: worked
    out from the settings, ``library_note``); then the page shows that, once, instead of the
    upload and remove controls. ``login``: the server has a login (the list shows who added each
    document)."""
    check_concurrency(concurrency)
    apply_offline_env()
    import gradio as gr

    settings = bot.settings
    private = {"api_visibility": "private"}
    note = library_note(settings) if library is None else (library or None)
    has_login = bool(login)

    def on_submit(message, history, answers, mode, k, documents=None):
        reply = chat.respond(message, history, bot=bot, mode=mode, k=k, documents=documents)
        if not reply.messages:  # blank question: nothing to add
            gr.Warning(reply.error or "type a question first")
            return message, reply.history, answers, gr.skip(), gr.skip()
        answers = [*(answers or []), chat.answer_record(reply.answer)]
        return "", reply.history, answers, chat.debug_rows(reply.answer), chat.debug_details(reply)

    def on_submit_llm(message, history, answers, mode, k, documents, generator):
        """With an LLM endpoint: the reply streams as a draft, then the checked answer replaces it."""
        for reply in chat.respond_stream(
            message, history, bot=bot, mode=mode, k=k, generator=generator, documents=documents
        ):
            if reply.draft:
                yield gr.skip(), reply.history, gr.skip(), gr.skip(), gr.skip()
                continue
            if not reply.messages:
                gr.Warning(reply.error or "type a question first")
                yield message, reply.history, answers, gr.skip(), gr.skip()
                return
            answers = [*(answers or []), chat.answer_record(reply.answer)]
            yield (
                "",
                reply.history,
                answers,
                chat.debug_rows(reply.answer),
                chat.debug_details(reply),
            )

    def on_example(history, answers, mode, k, documents, evt: gr.SelectData):
        text = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)
        return on_submit(text, history, answers, mode, k, documents)

    def on_example_llm(history, answers, mode, k, documents, generator, evt: gr.SelectData):
        text = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)
        yield from on_submit_llm(text, history, answers, mode, k, documents, generator)

    def on_like(history, answers, evt: gr.LikeData):
        record = chat.record_vote(history, answers, evt.index, evt.liked, feedback)
        if record is not None and record.vote != "cleared":
            gr.Info(f"Thanks: your {record.vote} is saved.", duration=2)

    def on_clear():
        return "", [], [], [], {}

    def on_upload(files, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        paths = [f if isinstance(f, str) else getattr(f, "path", str(f)) for f in files or []]
        if not paths:
            return gr.skip(), gr.skip(), None
        if note:  # read-only: the page shows no upload box, and a direct call is refused too
            for path in paths:
                Path(path).unlink(missing_ok=True)
            return "\u2716 " + chat.escape(note), gr.skip(), None
        progress(0.05, desc=f"Reading {chat.plural(len(paths), 'file')}")

        def embedding(done: int, total: int) -> None:  # the build's own count, batch by batch
            progress(
                (done, max(total, 1)),
                desc=f"Indexing: {done:,} of {total:,} texts embedded",
                unit="texts",
            )

        results = uploads.add_uploads(bot, paths, user=_username(request), on_progress=embedding)
        progress(1.0, desc="Indexed")
        lines = [
            (
                "\u2714 "
                if r.status == "added"
                else "\u2139 "
                if r.status == "duplicate"
                else "\u2716 "
            )
            + chat.escape(r.message)
            for r in results
        ]
        return "<br>".join(lines), uploads.rows(bot), None

    def on_remove_ask(name):
        if not name:
            return gr.Warning("pick a document to remove first") or gr.skip(), gr.skip()
        return (
            gr.update(visible=True),
            f"Remove **{chat.escape(name)}**? It goes to the trash in the data folder; "
            f"`rag restore {chat.escape(name)}` brings it back.",
        )

    def on_remove(name, request: gr.Request):
        if note:
            return "\u2716 " + chat.escape(note), gr.skip(), gr.update(visible=False)
        try:
            message = chat.escape(uploads.remove(bot, name, user=_username(request)))
        except ValueError as exc:
            message = "\u2716 " + chat.escape(str(exc))
        return message, uploads.rows(bot), gr.update(visible=False)

    def on_rows(rows, text):
        names = chat.document_names(rows)
        table = gr.update(
            value=chat.document_table(rows, text, owners=has_login),
            label=chat.documents_label(rows, text),
        )
        if remove_choice is None:
            return table, gr.skip()
        return table, gr.update(choices=names, value=None)

    def on_filter(rows, text):
        return gr.update(
            value=chat.document_table(rows, text, owners=has_login),
            label=chat.documents_label(rows, text),
        )

    def on_pick(rows, text, evt: gr.SelectData):
        shown = chat.document_table(rows, text, owners=has_login)
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else None
        if row is None or not 0 <= row < len(shown):
            return gr.skip()
        return gr.update(value=shown[row][0])

    def on_tick(shown):
        current = uploads.rows(bot)
        return gr.skip() if current == shown else current

    def on_load():
        return uploads.rows(bot)  # the list as it is now, not as it was at server start

    def ask(
        question: str,
        history: list[str] | None = None,
        mode: str | None = None,
        k: int | None = None,
        documents: list[str] | None = None,
    ) -> dict:
        """Answer a question from the documents, with numbered citations.

        history: the earlier questions of the conversation, oldest first (for follow-ups).
        mode: dense, bm25 or hybrid (default: the server's). k: passages to retrieve (1-50).
        documents: answer only from these documents (names as the document list shows them).
        Returns Answer.to_dict(): text with [n] markers, citations, abstained, reason, passages,
        documents (the ones quoted), scope.
        """
        try:
            return chat.api_answer(bot, question, history, mode, k, documents=documents)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def ask_llm(
        question: str,
        history: list[str] | None = None,
        mode: str | None = None,
        k: int | None = None,
        generator: str | None = None,
        documents: list[str] | None = None,
    ) -> dict:
        """Answer a question from the documents, with numbered citations.

        history: the earlier questions of the conversation, oldest first (for follow-ups).
        mode: dense, bm25 or hybrid (default: the server's). k: passages to retrieve (1-50).
        generator: llm (the server's LLM; each sentence checked against its sources, the default)
        or extractive (quoted sentences).
        documents: answer only from these documents (names as the document list shows them).
        Returns Answer.to_dict(): text with [n] markers, citations, abstained, reason, passages,
        generator, checked_sentences, fallback_reason, documents (the ones quoted), scope.
        """
        try:
            return chat.api_answer(bot, question, history, mode, k, generator, documents)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    # uploaded files never added (older than 15 minutes) are deleted every 5 minutes, and all of
    # them at shutdown
    with gr.Blocks(title=title, fill_width=False, delete_cache=(300, 900)) as demo:
        gr.Markdown(
            f"## {chat.escape(title)}\n"
            "Answers are sentences quoted from the documents; each shows its sources. "
            "When the documents do not say, the chat says so."
        )
        answers = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    label="Chat",
                    height="72vh",
                    min_height=420,
                    render_markdown=True,
                    sanitize_html=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    buttons=[],
                    feedback_options=("Like", "Dislike"),
                    group_consecutive_messages=True,
                    placeholder="Ask a question about the documents, or pick an example.",
                    examples=[{"text": q} for q in (examples or [])] or None,
                    elem_id="chat",
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask a question (Enter to send)",
                        show_label=False,
                        lines=1,
                        max_lines=4,
                        scale=5,
                        elem_id="question",
                        autofocus=True,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                    clear = gr.Button("Clear", scale=1, min_width=80, elem_id="clear")
            with gr.Column(scale=1, min_width=220):
                with gr.Accordion("Settings", open=True):
                    mode = gr.Radio(
                        ["hybrid", "dense", "bm25"],
                        value=settings.mode,
                        label="Retrieval mode",
                        info="hybrid fuses dense (embeddings) and bm25 (keywords)",
                    )
                    k = gr.Slider(
                        1, 20, value=min(settings.k, 20), step=1, label="Passages to retrieve (k)"
                    )
                    generator = None
                    if settings.has_llm:  # no endpoint: nothing about LLMs on the page
                        generator = gr.Radio(
                            ["llm", "extractive"],
                            value="llm",
                            label="Answers",
                            info=f"llm: written by {settings.llm_model}, each sentence checked "
                            "against its sources; extractive: quoted sentences",
                            elem_id="generator",
                        )
                with gr.Accordion("Documents", open=True, elem_id="documents"):
                    shown_rows = uploads.rows(bot)
                    doc_rows = gr.State(shown_rows)
                    upload = None
                    if note:  # read-only: said once, and no control that would fail
                        gr.Markdown(chat.escape(note), elem_id="library-note")
                    else:
                        upload = gr.File(
                            label="Add documents (PDF, Word, HTML, markdown, text): drop files "
                            "here",
                            file_count="multiple",
                            file_types=list(uploads.ALLOWED_SUFFIXES),
                            type="filepath",
                            height=120,
                            elem_id="upload",
                        )
                    upload_status = gr.Markdown("", elem_id="upload-status")
                    doc_choice = gr.Dropdown(
                        document_choices(shown_rows),
                        value=chat.ALL_DOCUMENTS,
                        label="Answer from",
                        info="one document, or all (a question naming a company or a year "
                        "is answered from its documents)",
                        elem_id="answer-from",
                    )
                    doc_filter = gr.Textbox(
                        placeholder="Filter documents by name",
                        show_label=False,
                        lines=1,
                        max_lines=1,
                        elem_id="doc-filter",
                    )
                    doc_table = gr.Dataframe(
                        value=chat.document_table(shown_rows, "", owners=has_login),
                        headers=chat.document_headers(has_login),
                        interactive=False,
                        wrap=True,
                        max_height=320,
                        column_widths=["62%", "38%", "25%"][: 3 if has_login else 2],
                        label=chat.documents_label(shown_rows),
                        elem_id="doc-table",
                        elem_classes=["rag-doc-table"],
                    )
                    remove_choice = remove_button = confirm = yes = no = None
                    if not note:
                        with gr.Row(equal_height=True):
                            remove_choice = gr.Dropdown(
                                choices=chat.document_names(shown_rows),
                                value=None,
                                label="Remove a document",
                                filterable=True,
                                scale=3,
                                elem_id="remove-choice",
                            )
                            remove_button = gr.Button(
                                "Remove…", size="sm", scale=1, min_width=80, elem_id="remove"
                            )
                        with gr.Group(visible=False, elem_id="remove-confirm") as confirm:
                            confirm_text = gr.Markdown("", elem_id="remove-question")
                            with gr.Row():
                                yes = gr.Button(
                                    "Yes, remove", variant="stop", size="sm", elem_id="remove-yes"
                                )
                                no = gr.Button("Cancel", size="sm", elem_id="remove-no")

        with gr.Accordion(
            "Retrieval debug: the passages retrieved for the last question", open=False
        ):
            debug_table = gr.Dataframe(
                headers=chat.DEBUG_HEADERS,
                datatype=["number"] * 6 + ["str", "str"],
                interactive=False,
                wrap=True,
                column_widths=["6%", "9%", "8%", "8%", "8%", "8%", "33%", "20%"],
                label="Retrieved passages",
                elem_id="debug",
            )
            debug_json = gr.JSON(label="Answer details (rewritten query, scores, timings)")

        outputs = [question, chatbot, answers, debug_table, debug_json]
        submit, example, extra, limit = on_submit, on_example, [doc_choice], {}
        if generator is not None:
            # with an LLM, Gradio's queue does not bound these events (an answer waiting on the
            # endpoint would hold a queue slot for up to llm_timeout): the bot bounds the
            # extractive stage, the generator the answers waiting on the endpoint
            submit, example, extra = on_submit_llm, on_example_llm, [doc_choice, generator]
            limit = {"concurrency_limit": None}
            bot.limit_answers(concurrency)
        gr.on(
            [question.submit, send.click],
            submit,
            inputs=[question, chatbot, answers, mode, k, *extra],
            outputs=outputs,
            **private,
            **limit,
        )
        chatbot.example_select(
            example,
            inputs=[chatbot, answers, mode, k, *extra],
            outputs=outputs,
            **private,
            **limit,
        )
        doc_rows.change(
            lambda rows, chosen: gr.update(
                choices=document_choices(rows),
                value=chosen if chosen in document_choices(rows) else chat.ALL_DOCUMENTS,
            ),
            inputs=[doc_rows, doc_choice],
            outputs=[doc_choice],
            **private,
        )
        chatbot.like(on_like, inputs=[chatbot, answers], outputs=None, **private)
        clear.click(on_clear, outputs=outputs, **private)
        if upload is not None:
            upload.upload(
                on_upload, inputs=[upload], outputs=[upload_status, doc_rows, upload], **private
            )
            remove_button.click(
                on_remove_ask, inputs=[remove_choice], outputs=[confirm, confirm_text], **private
            )
            yes.click(
                on_remove,
                inputs=[remove_choice],
                outputs=[upload_status, doc_rows, confirm],
                **private,
            )
            no.click(lambda: gr.update(visible=False), outputs=[confirm], **private)
            doc_table.select(on_pick, inputs=[doc_rows, doc_filter], outputs=[remove_choice],
                             **private)  # fmt: skip
        row_outputs = [doc_table, remove_choice if remove_choice is not None else doc_filter]
        doc_rows.change(on_rows, inputs=[doc_rows, doc_filter], outputs=row_outputs, **private)
        doc_filter.change(on_filter, inputs=[doc_rows, doc_filter], outputs=[doc_table], **private)
        gr.Timer(5).tick(on_tick, inputs=[doc_rows], outputs=[doc_rows], **private)
        demo.load(on_load, outputs=[doc_rows], **private)
        chatbot.clear(on_clear, outputs=outputs, **private)
        if settings.has_llm:
            gr.api(ask_llm, api_name="ask", api_visibility="public", **limit)
        else:
            gr.api(ask, api_name="ask", api_visibility="public")

    # gr.render registers its re-render event as "undocumented" (callable by API clients); the
    # page's own events are all private
    for fn in demo.fns.values():
        if fn.api_visibility == "undocumented":
            fn.api_visibility = "private"
    demo.queue(default_concurrency_limit=concurrency)
    return demo


def document_choices(rows) -> list[str]:
    """The chat's "Answer from" choices: every document, or one of the indexed ones."""
    return [chat.ALL_DOCUMENTS] + [r["name"] for r in rows or [] if r["status"] == "indexed"]


def serve(
    bot,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    auth: tuple[str, str] | None = None,
    feedback: FeedbackLog | None = None,
    examples: list[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    title: str = "Ask the documents",
    warn=None,
    throttle=None,
    allowed_hosts: list[str] | tuple[str, ...] = (),
):
    """Load the bot, build the page and start the server; returns ``(demo, url)`` once it is up.

    Prints ``bind_warning`` (to stderr, or through ``warn``) when the address is not loopback and
    no login is set. Every route passes through ``ui.guard.Guard`` (login on everything but the
    login page, back-off on wrong passwords, request-size limits from ``bot.settings``); ``throttle``
    is the guard's ``LoginThrottle`` (default: 5 free attempts, then 1 s doubling to 60 s; 30
    attempts at once across all addresses, then 2 a second). Requests are answered only for the
    ``Host`` names 127.0.0.1, localhost, ``host`` and ``allowed_hosts`` (``--allowed-host``).
    ``auth`` is one ``(user, password)`` or a list of them.
    Call ``demo.block_thread()`` to serve until interrupted, ``demo.close()`` to stop.
    """
    check_port(port)
    check_concurrency(concurrency)
    message = bind_warning(host, auth)
    if message:
        (warn or functools.partial(print, file=sys.stderr))(message)
    bot.warm_up()  # model and index load once, here, and are shared by every session
    feedback = feedback or FeedbackLog(bot.settings.feedback_path())
    demo = build_app(
        bot,
        feedback,
        examples=examples,
        concurrency=concurrency,
        title=title,
        library=library_note(bot.settings, host, bool(auth)) or "",
        login=bool(auth),
    )
    import gradio as gr
    from starlette.middleware import Middleware

    from ui.guard import Guard
    from ui.guard import allowed_hosts as host_names

    settings = bot.settings
    max_file = int(settings.upload_max_mb * 2**20)
    # outermost first: the login (and request limits) guard, then the upload checks
    guard = Middleware(
        Guard,
        login=bool(auth),
        throttle=throttle,
        max_body_bytes=settings.max_request_bytes,
        max_upload_bytes=max_file * uploads.MAX_FILES + 2**16,  # files plus multipart headers
        max_json_depth=settings.max_history_depth + 8,  # {"data": [...]} and a message's fields
        hosts=host_names(host, allowed_hosts),
    )
    # Gradio keeps uploads in GRADIO_TEMP_DIR, read when the server app is made: a private
    # folder per server, removed at exit and on SIGTERM (and each upload deleted once copied
    # into the corpus); the upload guard spools request bodies there too
    upload_dir = uploads.private_upload_dir()
    os.environ["GRADIO_TEMP_DIR"] = str(upload_dir)
    upload_guard = Middleware(
        uploads.UploadGuard,
        max_file_bytes=max_file,
        quota_bytes=int(settings.upload_quota_mb * 2**20),
        total_quota_bytes=int(settings.upload_total_quota_mb * 2**20),
        spool_dir=str(upload_dir),
        closed=library_note(settings, host, bool(auth)),
    )
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            share=False,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            footer_links=["api"],
            run_history=False,
            ssr_mode=False,
            pwa=False,
            mcp_server=False,
            enable_monitoring=False,
            theme=gr.themes.Default(primary_hue="indigo", secondary_hue="amber"),
            css=CSS,
            max_file_size=max_file,
            app_kwargs={"middleware": [guard, upload_guard]},
        )
    except OSError as exc:
        raise ValueError(
            f"cannot listen on {host}:{port} ({exc}): pass another --port, or stop what uses it"
        ) from None
    if getattr(demo, "server_app", None) is not None:  # None: a test double
        _guards_outermost(demo.server_app, (Guard, uploads.UploadGuard))
    close = demo.close

    def close_and_clean(*args, **kwargs):
        try:
            return close(*args, **kwargs)
        finally:
            shutil.rmtree(upload_dir, ignore_errors=True)

    demo.close = close_and_clean
    demo.upload_dir = upload_dir
    uploads.clean_on_sigterm(upload_dir)
    shown = f"[{host}]" if ":" in host else host
    return demo, f"http://{shown}:{demo.server_port}/"


def _guards_outermost(app, classes) -> None:
    """Put the guards in front of Gradio's own middleware (its CORS layer, added after ours, would
    otherwise sit outside them and echo a foreign ``Origin`` on their refusals). Starlette builds
    its middleware stack on the first request; clearing it makes the next request rebuild it in
    this order."""
    ours = [m for m in app.user_middleware if m.cls in classes]
    app.user_middleware = ours + [m for m in app.user_middleware if m.cls not in classes]
    app.middleware_stack = None


def page_for(corpus_dir: Path | None) -> dict:
    """Title and example questions: SenseTime ones for the bundled profile, generic otherwise.

    The title never carries the corpus folder's name or path: it is shown before the login (in the
    page title and the web manifest), and a folder name can itself be confidential.
    """
    from rag.settings import BUNDLED_CORPUS

    if corpus_dir is None or Path(corpus_dir).resolve() == BUNDLED_CORPUS.resolve():
        return {"title": "Ask the SenseTime company profile", "examples": list(chat.EXAMPLES)}
    return {"title": "Ask the documents", "examples": []}
