"""The user's earlier questions from a chat history, read iteratively and within limits.

A history comes as a list of strings, of ``{"role", "content"}`` messages whose content is a string
or a list of blocks (``{"type": "text", "text": ...}``, possibly nested), of ``(user, bot)`` pairs,
or a mix. It may come from a browser or an API client nobody here controls, so it is read with an
explicit stack (no recursion: a block nested 100,000 deep cannot raise ``RecursionError``) and
refused with a ``HistoryError`` naming the limit and the fix when it has too many turns, too many
characters of text, or blocks nested deeper than the limit. Nothing is modified.

This module reads histories; it does not decide what a follow-up means (see ``rag.followup``).
"""

from __future__ import annotations

from dataclasses import dataclass


class HistoryError(ValueError):
    """The history is too long, too large or too deeply nested; the message says what to send."""


@dataclass(frozen=True)
class HistoryLimits:
    max_turns: int = 500  # messages (or strings, or pairs) in the history
    max_chars: int = 200_000  # characters of user text, all turns together
    max_depth: int = 8  # content blocks nested inside a message


def text_of(content, limits: HistoryLimits = HistoryLimits(), budget: int | None = None) -> str:
    """The text of one message's content, its blocks' texts joined by spaces (depth-first order).

    Raises ``HistoryError`` when blocks are nested deeper than ``limits.max_depth`` or the text
    passes ``budget`` characters (default ``limits.max_chars``).
    """
    budget = limits.max_chars if budget is None else budget
    parts: list[str] = []
    used = 0
    stack: list[tuple[object, int]] = [(content, 0)]
    while stack:
        item, depth = stack.pop()
        if item is None:
            continue
        if depth > limits.max_depth:
            raise HistoryError(
                f"a history message has content nested more than {limits.max_depth} levels deep: "
                "send each earlier question as a string, or as a message whose content is a string "
                'or a list of {"type": "text", "text": ...} blocks'
            )
        if isinstance(item, str):
            text = item
        elif isinstance(item, dict):
            if "text" in item:
                stack.append((item["text"], depth + 1))
            elif "content" in item:
                stack.append((item["content"], depth + 1))
            continue
        elif isinstance(item, (list, tuple)):
            if len(item) > limits.max_turns:
                raise _too_many(len(item), limits)
            stack.extend((c, depth + 1) for c in reversed(item))
            continue
        else:
            text = str(item)
        used += len(text)
        if used > budget:
            raise _too_long(limits)
        if text:
            parts.append(text)
    return " ".join(parts)


def history_questions(history, limits: HistoryLimits = HistoryLimits()) -> list[str]:
    """The user's earlier questions, oldest first, whitespace collapsed; assistant turns skipped.

    Raises ``HistoryError`` when the history breaks one of ``limits``; checks the number of turns
    before reading any of them.
    """
    if not history:
        return []
    if not isinstance(history, (list, tuple)):
        raise HistoryError(
            f"the history must be a list of earlier questions, not {type(history).__name__}"
        )
    if len(history) > limits.max_turns:
        raise _too_many(len(history), limits)
    out: list[str] = []
    used = 0
    for turn in history:
        if isinstance(turn, str):
            content = turn
        elif isinstance(turn, dict):
            if turn.get("role", "user") != "user":
                continue
            content = turn.get("content")
        elif isinstance(turn, (list, tuple)) and turn:
            content = turn[0]
        else:
            continue
        text = text_of(content, limits, limits.max_chars - used)
        used += len(text)
        text = " ".join(text.split())
        if text:
            out.append(text)
    return out


def _too_many(n: int, limits: HistoryLimits) -> HistoryError:
    return HistoryError(
        f"the history has {n:,} turns; the limit is {limits.max_turns:,}: send only the most "
        "recent questions (a follow-up needs the last few)"
    )


def _too_long(limits: HistoryLimits) -> HistoryError:
    return HistoryError(
        f"the history holds more than {limits.max_chars:,} characters of questions: send only "
        "the most recent questions (a follow-up needs the last few)"
    )
