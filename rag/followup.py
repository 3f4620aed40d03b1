"""Follow-up questions: rewrite an elliptic question into a standalone one, using earlier turns.

Three kinds of follow-up are recognised, with rules that name no word of any corpus:

* pronouns — "When was it founded?" after "Who founded SenseTime?" -> "When was SenseTime founded?"
  (it/its/they/them/their/he/his/she/her are replaced by the topic of the previous question);
* ellipsis — "And SenseCare?" / "What about Smart City?" after "What is SenseAuto?" -> "What is
  SenseCare?" (the previous question with its topic swapped for the new one);
* bare questions with no content word ("Where?", "Why?") -> the previous topic is appended.

The topic of a question is its first run of capitalised words after the question word (a name),
else its content words. Anything else is returned unchanged. No model is used.
"""

from __future__ import annotations

import re

from rag.lexical import STOPWORDS, words

QUESTION_WORDS = {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "is",
    "are",
    "was",
    "were",
    "do",
    "does",
    "did",
    "can",
    "could",
    "tell",
    "list",
    "name",
    "give",
    "and",
    "so",
    "please",
    "describe",
    "explain",
    "show",
    "in",
    "on",
    "for",
    "about",
}
PRONOUNS = {
    "it": "{t}",
    "its": "{t}'s",
    "they": "{t}",
    "them": "{t}",
    "their": "{t}'s",
    "he": "{t}",
    "him": "{t}",
    "his": "{t}'s",
    "she": "{t}",
    "her": "{t}'s",
    "itself": "{t}",
    "theirs": "{t}'s",
}
ELLIPSIS_RE = re.compile(
    r"^\s*(?:and|but|also|then)?\s*(?:what|how)\s+about\s+(?P<x>.+?)\s*[?.!]*\s*$"
    r"|^\s*(?:and|but|also)\s+(?:for\s+|of\s+|in\s+)?(?P<y>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
PERSONAL = {"he", "him", "his", "she", "her"}  # replaced only by a person's name
WH = "what|which|who|whom|whose|where|when|why|how"
AUX = "does|do|did|is|are|was|were|can|could|will|would|has|have|had|should|may|might"
NAME_RE = re.compile(r"[A-Z0-9][\w'’&.-]*(?:\s+(?:of\s+|&\s+|and\s+)?[A-Z0-9][\w'’&.-]*)*")


def _text_of(content) -> str:
    """Text of a message content: a string, a list of blocks ({"type": "text", "text": ...}), a dict."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if "text" in content:
            return _text_of(content["text"])
        if "content" in content:
            return _text_of(content["content"])
        return ""
    if isinstance(content, (list, tuple)):
        return " ".join(t for t in (_text_of(c) for c in content) if t)
    return str(content)


def normalise_history(history) -> list[str]:
    """The user's earlier questions, oldest first, from any of the shapes callers send.

    Accepts None; a list of strings (each a user question); a list of ``{"role", "content"}``
    messages whose content is a string or a list of blocks (Gradio 6 browser); a list of
    ``(user, bot)`` pairs; or a mix. Assistant messages are skipped. The input is not modified.
    """
    if not history:
        return []
    out: list[str] = []
    for turn in history:
        if isinstance(turn, str):
            text = turn
        elif isinstance(turn, dict):
            role = turn.get("role", "user")
            if role != "user":
                continue
            text = _text_of(turn.get("content"))
        elif isinstance(turn, (list, tuple)) and turn:
            text = _text_of(turn[0])
        else:
            continue
        text = " ".join(text.split())
        if text:
            out.append(text)
    return out


def topic(question: str) -> str:
    """The thing a question is about: its first name-like run of words, else its content words."""
    q = question.strip().rstrip("?.! ")
    for m in NAME_RE.finditer(q):
        phrase = m.group(0)
        tokens = phrase.split()
        # drop a leading question word ("What", "Who") that is capitalised only by position
        while tokens and tokens[0].lower() in QUESTION_WORDS | STOPWORDS:
            tokens = tokens[1:]
        while tokens and tokens[-1].lower() in {"of", "and", "&"}:
            tokens = tokens[:-1]
        if tokens:
            return re.sub(r"['’]s$", "", " ".join(tokens))
    content = [w for w in words(q) if w not in STOPWORDS and w not in QUESTION_WORDS]
    return " ".join(content)


def _is_person(name: str) -> bool:
    """Looks like a person's name: two or more capitalised words, or an honorific."""
    parts = name.split()
    return (
        len(parts) >= 2
        and all(p[:1].isupper() for p in parts)
        or bool(re.match(r"(professor|prof|dr|mr|mrs|ms|sir|dame)\b", name, re.I))
    )


def _has_own_name(question: str) -> bool:
    return bool(topic(question)) and any(ch.isupper() for ch in topic(question))


def rewrite_one(question: str, previous: str) -> str:
    """Rewrite ``question`` given the previous standalone question."""
    prev_topic = topic(previous)
    if not prev_topic:
        return question
    m = ELLIPSIS_RE.match(question)
    if m:
        new = (m.group("x") or m.group("y") or "").strip()
        prep = (
            re.match(r"(?i)(for|of|in|on|with|about)\s+", question.split(None, 1)[-1])
            if m.group("y")
            else None
        )
        if new and new.lower() not in PRONOUNS:
            wh = re.match(rf"(?i)({WH})\b", new)
            if wh:
                # "And which universities?" after "Which car companies does X partner with?":
                # the new question phrase replaces the old one
                old_wh = re.match(rf"(?i)\s*({WH})\b.*?(?=\s+({AUX})\b)", previous)
                if old_wh:
                    return new[0].upper() + new[1:] + previous[old_wh.end() :]
            if prev_topic in previous:
                return previous.replace(prev_topic, new, 1)
            glue = f" {prep.group(1).lower()} " if prep else " "
            return f"{previous.rstrip('?.! ')}{glue}{new}?"
    tokens = re.split(r"(\W+)", question)
    lowered = [t.lower() for t in tokens]
    if not _has_own_name(question) and any(t in PRONOUNS for t in lowered):
        out = []
        replaced = False
        for tok, low in zip(tokens, lowered, strict=True):
            if not replaced and low in PRONOUNS and (low not in PERSONAL or _is_person(prev_topic)):
                out.append(PRONOUNS[low].format(t=prev_topic))
                replaced = True
            else:
                out.append(tok)
        return "".join(out)
    content = [w for w in words(question) if w not in STOPWORDS and w not in QUESTION_WORDS]
    if not content:
        return f"{question.rstrip('?.! ')} {prev_topic}?"
    return question


def rewrite(question: str, history: list[str]) -> str:
    """The standalone form of ``question`` after the user questions in ``history`` (oldest first)."""
    if not history:
        return question
    previous = history[0]
    for turn in history[1:]:
        previous = rewrite_one(turn, previous)
    return rewrite_one(question, previous)
