"""The browser chat's logic: ``respond(message, history)`` and the rendering of answers and sources.

``respond`` is a plain function: it takes the question and the chat history (the browser's list of
``{"role", "content"}`` messages whose content is a list of blocks, or plain strings as
``gradio_client`` sends them), asks the bot, and returns a ``Reply``: a new history (the old one is
never modified) with the question, the answer and one collapsible message per cited source, plus the
``Answer`` itself. Nothing here imports Gradio, so tests call it with a fake bot.

Every piece of text that comes from a user or from the corpus goes through ``escape``, which turns
HTML *and* markdown syntax into character references: no tag, link, image, autolink or LaTeX from a
question or a document is ever rendered live in the browser; it shows as the literal text.

This module does not build the page (see ``ui.app``) or store votes (see ``rag.feedback``).
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field

from rag.answer_types import Answer, Citation
from rag.feedback import FeedbackLog, FeedbackRecord, vote_from_like
from rag.history import HistoryLimits, history_questions, text_of
from rag.unicode import strip_bidi

log = logging.getLogger(__name__)

MAX_K = 50  # passages per question the chat and /ask accept
ALL_DOCUMENTS = "All documents"  # the chat's document choice that sets no filter
MAX_SHOWN_CHARS = 4000  # a longer question is shown cut (the engine truncates it anyway)

# starter questions shown for the bundled profile (written for the page; none is in a question set)
EXAMPLES = [
    "Who is SenseTime's founder?",
    "What are the four platforms of the 1+4 plan?",
    "What does SenseCare offer hospitals?",
    "In which cities does SenseTime do research?",
    "Which US list is SenseTime on, and why?",
]

# Characters that mean something to HTML or to markdown (emphasis, links, images, lists, headings,
# tables, code, autolinks "www." / "http:" / "a@b", LaTeX "$$"). Each becomes "&#NN;": the browser
# shows the character, the markdown parser sees no syntax, and the sanitizer sees no tag.
_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "&<>\\`*_{}[]()#+-.!|~:@$=^\"'"}


def escape(text) -> str:
    """``text`` as inert display text for the chatbot: no HTML, markdown or LaTeX survives."""
    if text is None:
        return ""
    text = str(text).encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    return strip_bidi(text).translate(_ESCAPES)  # no bidi override reorders what is shown


def escape_block(text) -> str:
    """Like ``escape`` for multi-line text: runs of spaces become one, line ends become ``<br>``.

    Leading and trailing line ends are kept (as ``<br>``), so pieces of one passage can be escaped
    separately and joined around a ``<mark>`` without losing a line break.
    """
    lines = [re.sub(r"\s+", " ", line) for line in str(text or "").split("\n")]
    out = "<br>".join(escape(line) for line in lines)
    return re.sub(r"(<br>\s*){3,}", "<br><br>", out)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 page``, ``2 pages``, ``0 chunks``."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# ---- the documents panel --------------------------------------------------------------------------


def document_headers(owners: bool = False) -> list[str]:
    return ["document", "size", *(["added by"] if owners else [])]


def document_names(rows) -> list[str]:
    return [r["name"] for r in rows or [] if r.get("status") == "indexed"]


def document_table(rows, text: str = "", owners: bool = False) -> list[list]:
    """The compact table of the documents panel: one row per document whose name holds every
    word of ``text`` (case-insensitive), with its type and size in words ("pdf · 3 pages ·
    1 chunk") or its status, and who added it when ``owners``."""
    words = (text or "").lower().split()
    out = []
    for r in rows or []:
        name = r["name"]
        if any(w not in name.lower() for w in words):
            continue
        if r.get("status") == "indexed":
            kind = {"markdown": "md", "text": "txt"}.get(r.get("type", ""), r.get("type", ""))
            parts = [kind] if kind else []
            parts += [plural(r["pages"], "page")] if r.get("pages") else []
            parts.append(plural(r.get("chunks", 0), "chunk"))
            size = " \u00b7 ".join(parts)
        else:
            size = r.get("status", "")
        row = [name, size]
        if owners:
            row.append(r.get("owner", ""))
        out.append(row)
    return out


def documents_label(rows, text: str = "") -> str:
    """The table's label: how many documents, and how many the filter shows."""
    total = len(document_names(rows))
    if not total:
        return "No documents yet"
    shown = len(document_table(rows, text))
    label = plural(total, "document")
    return label if shown == len(rows or []) else f"{label} ({shown:,} shown)"


# ---- sources --------------------------------------------------------------------------------------


def _quote_pattern(quote: str) -> re.Pattern | None:
    tokens = quote.split()
    if not tokens:
        return None
    return re.compile(r"\s+".join(re.escape(t) for t in tokens))


def highlight_spans(passage: str, quotes: list[str]) -> list[tuple[int, int]]:
    """Character spans of ``passage`` that match one of ``quotes`` (whitespace-insensitive), merged."""
    spans = []
    for quote in quotes:
        pattern = _quote_pattern(quote)
        if pattern is None:
            continue
        m = pattern.search(passage)
        if m:
            spans.append((m.start(), m.end()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(passage: str, quotes: list[str]) -> tuple[str, bool]:
    """The passage as escaped HTML with each quote in ``<mark>``; and whether any quote was found."""
    spans = highlight_spans(passage, quotes)
    parts, pos = [], 0
    for start, end in spans:
        parts.append(escape_block(passage[pos:start]))
        parts.append(f"<mark>{escape_block(passage[start:end])}</mark>")
        pos = end
    parts.append(escape_block(passage[pos:]))
    body = "".join(parts)
    body = re.sub(r"^(\s|<br>)+|(\s|<br>)+$", "", body)
    return body, bool(spans)


def source_title(c: Citation) -> str:
    """``[1] Heading > Path · document · lines 8-9``, escaped (the title is rendered as markdown).
    A Word file has no line numbers a reader can find, so its place is the heading alone (or
    "before the first heading")."""
    heading = " \u203a ".join(c.heading_path)
    if getattr(c, "page", None) is not None:
        where = (
            f"p. {c.page}"
            if not c.page_end or c.page_end == c.page
            else f"pp. {c.page}\u2013{c.page_end}"
        )
    elif str(c.document).lower().endswith(".docx"):
        where = "" if heading else "before the first heading"
    else:
        where = (
            f"line {c.line_start}"
            if c.line_start == c.line_end
            else (f"lines {c.line_start}\u2013{c.line_end}")
        )
    if getattr(c, "changed", ""):
        note = escape("the file " + c.changed + " since it was indexed")
        where = f"{where} \u00b7 {note}" if where else note
    parts = [escape(f"[{c.number}]") + " " + escape(heading or "(no heading)"), escape(c.document)]
    if where:
        parts.append(where)
    return " \u00b7 ".join(parts)


def source_html(c: Citation) -> str:
    """The cited passage with the supporting sentences highlighted (or the quote alone)."""
    quotes = [q for q in (c.quotes or [c.quote]) if q and q.strip()]
    body, found = highlight(c.passage, quotes) if c.passage else ("", False)
    if not found:
        # the passage does not contain the quote verbatim: show the quote itself, highlighted
        quoted = " ".join(f"<mark>{escape_block(q)}</mark>" for q in quotes)
        body = quoted + (f"<br><br>{body}" if body else "")
    return f'<div class="rag-source">{body}</div>'


def source_message(c: Citation) -> dict:
    return {"role": "assistant", "content": source_html(c), "metadata": {"title": source_title(c)}}


# ---- answers --------------------------------------------------------------------------------------


def answer_html(answer: Answer) -> str:
    """The answer text (with its [n] markers), notices and how the question was understood."""
    parts = []
    if answer.abstained:
        parts.append(
            '<div class="rag-abstain"><strong>Not found in the documents.</strong> '
            f"{escape_block(answer.text)}</div>"
        )
        if answer.reason:
            parts.append(
                f'<div class="rag-reason">{escape_block(reason_in_words(answer.reason))}</div>'
            )
    else:
        parts.append(f'<div class="rag-answer">{escape_block(answer.text)}</div>')
    if getattr(answer, "generator", "extractive") == "llm":
        parts.append(
            '<div class="rag-generated">Written by the LLM; every sentence was checked against '
            "the sources it cites.</div>"
        )
    if getattr(answer, "quoted_from", ""):
        parts.append(f'<div class="rag-from">{escape_block(answer.quoted_from)}</div>')
    understood = ""
    for notice in answer.notices:
        if notice.startswith("Understood as"):  # said once, in its own line below
            understood = notice
            continue
        parts.append(f'<div class="rag-notice">Note: {escape_block(notice)}</div>')
    if answer.rewritten_query and answer.rewritten_query != answer.question:
        # the whole question as the engine read it says more than the notice's short form
        parts.append(
            f'<div class="rag-understood">Understood as: \u201c{escape(answer.rewritten_query)}'
            "\u201d</div>"
        )
    elif understood:
        parts.append(f'<div class="rag-understood">{escape_block(understood)}</div>')
    return "".join(parts)


_MODEL_SCORE = re.compile(r"score P\(answerable\) (\d*\.?\d+), threshold (\d*\.?\d+)")
_EVIDENCE_SCORE = re.compile(
    r"evidence score (\d*\.?\d+),? (?:\u2265 |>= |< )?threshold (\d*\.?\d+)"
)


def reason_in_words(reason: str, abstained: bool = True) -> str:
    """The engine's reason with its scores said in words: "score P(answerable) 0.02, threshold
    0.00" reads as if it should have answered; "the answer model gave it a 2% chance of being
    answered here (it answers from 0%), but the check above decided" does not."""

    def model(m: re.Match) -> str:
        p, t = float(m.group(1)), float(m.group(2))
        chance = f"the answer model gives a {p:.0%} chance that the documents answer this"
        if p >= t and abstained:
            return f"the check decided: alone, the answer model would have answered ({chance}; it answers from {t:.0%})"
        if p >= t:
            return f"{chance}, enough to answer (from {t:.0%})"
        return f"{chance}, below the {t:.0%} it needs to answer"

    def evidence(m: re.Match) -> str:
        e, t = float(m.group(1)), float(m.group(2))
        if e >= t and abstained:
            return f"the check decided, though the evidence scores {e:.2f} (enough from {t:.2f})"
        if e >= t:
            return f"the evidence scores {e:.2f}, enough to answer (from {t:.2f})"
        return f"the evidence scores {e:.2f}, below the {t:.2f} needed to answer"

    return _EVIDENCE_SCORE.sub(evidence, _MODEL_SCORE.sub(model, reason or ""))


def draft_html(draft: str) -> str:
    """The LLM's reply while it streams, before the check: shown as a draft."""
    return (
        f'<div class="rag-draft">{escape_block(draft)}</div>'
        '<div class="rag-checking">Checking each sentence against its sources…</div>'
    )


def error_html(message: str) -> str:
    return f'<div class="rag-error"><strong>Cannot answer:</strong> {escape_block(message)}</div>'


def answer_messages(answer: Answer) -> list[dict]:
    """The assistant messages of one answer: the answer, then one per source (none if abstained)."""
    messages = [{"role": "assistant", "content": answer_html(answer)}]
    if not answer.abstained:
        messages += [source_message(c) for c in answer.citations]
        messages += [source_message(c) for c in getattr(answer, "conflicts", None) or []]
    return messages


def debug_rows(answer: Answer | None) -> list[list]:
    """One row per retrieved passage: rank, fused score, dense and lexical rank/score, where."""
    if answer is None:
        return []
    rows = []
    for p in answer.passages:
        d = p.to_dict(with_text=False) if hasattr(p, "to_dict") else dict(p)
        rows.append(
            [
                d.get("rank"),
                _round(d.get("score")),
                d.get("dense_rank"),
                _round(d.get("dense_score")),
                d.get("lexical_rank"),
                _round(d.get("lexical_score")),
                d.get("heading") or " > ".join(d.get("heading_path") or []),
                f"{d.get('document')}:{d.get('line_start')}-{d.get('line_end')}",
            ]
        )
    return rows


DEBUG_HEADERS = [
    "rank",
    "fused score",
    "dense rank",
    "cosine",
    "lexical rank",
    "BM25",
    "heading",
    "where",
]


def debug_details(reply: Reply) -> dict:
    """How the last question was handled: rewritten query, abstention score and reason, timings."""
    a = reply.answer
    if a is None:
        return {"error": reply.error} if reply.error else {}
    details = {
        "question": a.question,
        "rewritten_query": a.rewritten_query,
        "abstained": a.abstained,
        "reason": a.reason,
        "score": _round(a.score),
        "threshold": a.threshold,
        "mode": a.mode,
        "k": a.k,
        "notices": list(a.notices),
        "timings_ms": {key: _round(v, 1) for key, v in a.timings_ms.items()},
    }
    checked = getattr(a, "checked_sentences", None) or []
    if checked or getattr(a, "fallback_reason", None) or getattr(a, "generator", None) == "llm":
        details["generator"] = a.generator
        details["fallback_reason"] = a.fallback_reason
        details["removed_sentences"] = [
            {"text": c.text, "reason": c.reason} for c in checked if not c.supported
        ]
        details["checked_sentences"] = [c.to_dict() for c in checked]
    return details


def _round(x, digits: int = 4):
    return None if x is None else round(float(x), digits)


# ---- the handler ------------------------------------------------------------------------------------


@dataclass
class Reply:
    """What one question turns into: the new chat history, and the answer or the error."""

    history: list[dict]
    answer: Answer | None = None
    error: str | None = None
    messages: list[dict] = field(default_factory=list)  # the messages this turn added
    draft: bool = False  # an LLM reply still streaming (not checked yet)

    def to_dict(self) -> dict:
        return {
            "history": self.history,
            "answer": None if self.answer is None else self.answer.to_dict(),
            "error": self.error,
        }


def _message_text(content, limits: HistoryLimits) -> str:
    return " ".join(text_of(content, limits).split())


def questions_of(history, limits: HistoryLimits | None = None) -> list[str]:
    """The user's earlier questions, oldest first, from either history shape.

    Chat messages (dicts) come from this app's own chatbot, where questions are stored escaped, so
    their text is unescaped back to what the user typed; plain strings are taken as they are.
    Raises ``rag.history.HistoryError`` (a ``ValueError``) for a history over ``limits``.
    """
    limits = limits or HistoryLimits()
    history_questions(history, limits)  # the limits, checked once, iteratively, before any work
    out = []
    for turn in history or []:
        if isinstance(turn, dict):
            if turn.get("role", "user") != "user":
                continue
            text = html.unescape(_message_text(turn.get("content"), limits))
        elif isinstance(turn, (list, tuple)) and turn:
            text = html.unescape(_message_text(turn[0], limits))
        else:
            text = turn if isinstance(turn, str) else ""
        text = " ".join(text.split())  # Chatbot.ask cleans each turn like a question
        if text:
            out.append(text)
    return out


def _as_messages(history) -> list[dict]:
    """A copy of ``history`` as chat messages; strings and (user, bot) pairs are escaped."""
    out = []
    for turn in history or []:
        if isinstance(turn, dict):
            out.append(dict(turn))
        elif isinstance(turn, str):
            out.append(user_message(turn))
        elif isinstance(turn, (list, tuple)) and turn:
            out.append(user_message(str(turn[0] or "")))
            if len(turn) > 1 and turn[1]:
                out.append({"role": "assistant", "content": escape_block(turn[1])})
    return out


def user_message(text: str) -> dict:
    """The user's question as shown in the chat: escaped, and cut when it is very long."""
    if len(text) > MAX_SHOWN_CHARS:
        text = f"{text[:MAX_SHOWN_CHARS]} [\u2026 {len(text):,} characters in all]"
    return {"role": "user", "content": escape_block(text.strip())}


def _check_k(k) -> int | None:
    """The number of passages from a slider, a form or JSON (None: the bot's default)."""
    if k is None or (isinstance(k, str) and not k.strip()):
        return None
    value = k
    if isinstance(k, float) and k.is_integer():
        value = int(k)
    elif isinstance(k, str) and k.strip().isdigit():
        value = int(k.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"k={k!r} is not a whole number of passages: use 1 to {MAX_K}")
    if not 1 <= value <= MAX_K:
        raise ValueError(f"k={value} is out of range: use a whole number from 1 to {MAX_K}")
    return value


def respond(
    message,
    history,
    *,
    bot,
    mode: str | None = None,
    k=None,
    generator=None,
    on_token=None,
    documents=None,
) -> Reply:
    """Answer ``message`` in the context of ``history``; never raises for a user's mistake.
    ``documents`` (names, or "" / None for all) limits the documents it is answered from.

    A blank message leaves the history as it is (with ``error`` set); a question the engine rejects
    (``ValueError``, e.g. ``QuestionError``) is answered in the chat with the reason.
    """
    before = _as_messages(history)
    if not isinstance(message, str) or not message.strip():
        return Reply(history=before, error="the question is empty: type a question first")
    user = user_message(message)
    extra = {}
    if generator or on_token is not None:  # rag/generate/: only with an LLM endpoint configured
        extra = {"generator": generator or None, "on_token": on_token}
    chosen = _check_documents(documents)
    if chosen:
        extra["filters"] = chosen
    try:
        limits = bot.settings.history_limits() if hasattr(bot, "settings") else None
        earlier = questions_of(history, limits)
        answer = bot.ask(message, history=earlier, k=_check_k(k), mode=mode or None, **extra)
    except ValueError as exc:  # QuestionError, SettingsError and bad mode/k are ValueErrors
        new = [user, {"role": "assistant", "content": error_html(str(exc))}]
        return Reply(history=before + new, error=str(exc), messages=new)
    except Exception as exc:  # a bug must not show a traceback to the user
        log.exception("chat: answering %r failed", message[:200])
        text = f"something went wrong ({type(exc).__name__}); the server log has the details"
        new = [user, {"role": "assistant", "content": error_html(text)}]
        return Reply(history=before + new, error=text, messages=new)
    new = [user, *answer_messages(answer)]
    return Reply(history=before + new, answer=answer, messages=new)


def _check_documents(documents) -> list[str] | None:
    """A document filter as the chat and ``/ask`` take it: a name, a list of names, or nothing
    ("", None, [] or "All documents": every document)."""
    if documents is None or documents == "" or documents == ALL_DOCUMENTS:
        return None
    if isinstance(documents, str):
        documents = [documents]
    if not isinstance(documents, (list, tuple)) or not all(isinstance(d, str) for d in documents):
        raise ValueError("documents must be a document name or a list of names (rag docs)")
    return [d for d in documents if d and d != ALL_DOCUMENTS] or None


def respond_stream(
    message,
    history,
    *,
    bot,
    mode: str | None = None,
    k=None,
    generator=None,
    documents=None,
):
    """``respond`` for an LLM answer, as a generator of ``Reply``: drafts (``draft=True``) while
    the LLM's tokens arrive, then the checked answer. The question is answered on a worker thread;
    tokens that arrive while the page is updated are shown together."""
    import queue
    import threading

    tokens: queue.Queue = queue.Queue()
    done: dict = {}

    def work():
        try:
            done["reply"] = respond(
                message,
                history,
                bot=bot,
                mode=mode,
                k=k,
                generator=generator,
                on_token=tokens.put,
                documents=documents,
            )
        finally:
            tokens.put(None)

    threading.Thread(target=work, daemon=True, name="chat-generate").start()
    before = _as_messages(history)
    user = user_message(message) if isinstance(message, str) else None
    draft, finished = "", False
    while not finished:
        token = tokens.get()
        parts = [token]
        while not tokens.empty():
            parts.append(tokens.get())
        finished = None in parts
        draft += "".join(p for p in parts if p)
        if draft and not finished:
            new = [user, {"role": "assistant", "content": draft_html(draft)}]
            yield Reply(history=before + new, messages=new, draft=True)
    yield done.get("reply") or Reply(history=before, error="the answer was lost; ask again")


def answer_record(answer: Answer | None) -> dict | None:
    """What a session keeps of an answer for feedback: ``Answer.to_dict()`` without passages, and
    an ``answer_id`` of its own (one vote per answer: see ``rag.feedback``)."""
    if answer is None:
        return None
    import uuid

    d = answer.to_dict()
    d.pop("passages", None)
    d["answer_id"] = uuid.uuid4().hex
    return d


def turn_of(history, index) -> int | None:
    """The 0-based question number that the message at ``index`` of ``history`` belongs to."""
    if isinstance(index, (list, tuple)):
        index = index[0]
    if not isinstance(index, int) or not 0 <= index < len(history or []):
        return None
    users = sum(1 for m in history[: index + 1] if isinstance(m, dict) and m.get("role") == "user")
    return users - 1 if users else None


def record_vote(
    history, answers: list, index, liked, feedback: FeedbackLog
) -> FeedbackRecord | None:
    """Append a like/dislike on the answer at message ``index`` to the feedback log.

    ``answers`` holds one ``answer_record`` per question asked in this session (None for a question
    that got an error), in order. Votes on errors or unknown messages are ignored (None returned),
    and so is a vote that repeats the latest one on the same answer (one vote per answer per
    session; a different vote replaces it).
    """
    turn = turn_of(history, index)
    if turn is None or turn >= len(answers or []) or answers[turn] is None:
        return None
    record = FeedbackRecord.from_answer(answers[turn], vote_from_like(liked))
    return record if feedback.vote(record) else None


def api_answer(
    bot,
    question: str,
    history=None,
    mode: str | None = None,
    k=None,
    generator=None,
    documents=None,
) -> dict:
    """The ``/ask`` endpoint: ``Answer.to_dict()``; raises ``ValueError`` with a readable message.
    ``generator`` ("extractive" or "llm") is honoured when the server has an LLM endpoint;
    ``documents`` (a name or a list of names) limits the documents it is answered from."""
    if not isinstance(question, str):
        raise ValueError(f"question must be text, not {type(question).__name__}")
    if history is not None and not isinstance(history, list):
        raise ValueError("history must be a list of the earlier questions, oldest first")
    settings = getattr(bot, "settings", None)
    if settings is not None and len(question) > settings.max_input_chars:
        from rag.chatbot import clean_question

        clean_question(question, settings.max_question_chars, settings.max_input_chars)  # raises
    limits = settings.history_limits() if settings is not None else None
    extra = {"generator": generator} if generator else {}
    chosen = _check_documents(documents)
    if chosen:
        extra["filters"] = chosen
    answer = bot.ask(
        question, history=questions_of(history, limits), k=_check_k(k), mode=mode or None, **extra
    )
    return answer.to_dict()
