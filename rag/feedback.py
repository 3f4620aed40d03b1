"""Feedback: an append-only JSONL log of likes and dislikes on answers, kept across restarts.

Each vote is one ``FeedbackRecord`` serialised as one JSON line (time, question, rewritten query,
answer, citations, vote, plus mode, k and abstention). ``FeedbackLog.append`` writes the whole line
with a single ``os.write`` on a file descriptor opened with ``O_APPEND``, under a lock, so concurrent
votes from many sessions (threads) or processes never interleave or lose a line.

One vote per answer: a record carries the ``vote_id`` of the answer it is about (one id per answer
shown in one chat session). ``vote`` appends a line only when the vote differs from that answer's
previous one (fifty clicks on Like are one line), and ``read`` and ``export`` keep only the latest
vote of each ``vote_id``: a later vote replaces the earlier.

This module never rewrites or truncates the log: ``export`` copies the valid lines elsewhere, and
``read`` skips (and counts) lines it cannot parse instead of failing on them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rag.atomic import write_atomic

FORMAT_VERSION = 1
VOTES = ("like", "dislike", "cleared")


class FeedbackError(ValueError):
    """A vote or a feedback file is unusable; the message names the value and the fix."""


def vote_from_like(liked) -> str:
    """The vote of a Gradio ``LikeData.liked`` value: True, False, "Like", "Dislike" or "" (undone)."""
    if liked is True or (isinstance(liked, str) and liked.strip().lower() == "like"):
        return "like"
    if liked is False or (isinstance(liked, str) and liked.strip().lower() == "dislike"):
        return "dislike"
    if liked is None or liked == "":
        return "cleared"
    raise FeedbackError(f"vote {liked!r} is not a vote: use True/'Like', False/'Dislike' or ''")


@dataclass
class FeedbackRecord:
    vote: str  # "like", "dislike", or "cleared" (the user took a vote back)
    question: str
    rewritten_query: str
    answer: str
    citations: list[dict] = field(default_factory=list)
    abstained: bool = False
    mode: str = ""
    k: int = 0
    time: str = ""  # ISO 8601, UTC; filled in when empty
    version: int = FORMAT_VERSION
    vote_id: str = ""  # the answer voted on, one per answer per session ("": not deduplicated)

    def __post_init__(self):
        if self.vote not in VOTES:
            raise FeedbackError(f"vote={self.vote!r} is not one of {', '.join(VOTES)}")
        if not self.time:
            self.time = datetime.now(UTC).isoformat(timespec="milliseconds")

    @classmethod
    def from_answer(cls, answer: dict, vote: str) -> FeedbackRecord:
        """A record for a vote on an answer given as ``Answer.to_dict()`` (passages are not kept)."""
        citations = [
            {
                key: c.get(key)
                for key in (
                    "number",
                    "document",
                    "heading",
                    "section_id",
                    "chunk_id",
                    "line_start",
                    "line_end",
                    "quote",
                )
            }
            for c in answer.get("citations", [])
        ]
        return cls(
            vote=vote,
            question=answer.get("question", ""),
            rewritten_query=answer.get("rewritten_query", ""),
            answer=answer.get("text", ""),
            citations=citations,
            abstained=bool(answer.get("abstained", False)),
            mode=answer.get("mode", ""),
            k=int(answer.get("k", 0) or 0),
            vote_id=str(answer.get("answer_id", "") or ""),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FeedbackRecord:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_line(self) -> bytes:
        # ensure_ascii keeps the line free of raw U+2028 and lone surrogates; one line, one record
        return (json.dumps(self.to_dict(), ensure_ascii=True, sort_keys=True) + "\n").encode()


class FeedbackLog:
    """The feedback file at ``path``; created (with its folder) on the first vote."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}  # vote_id -> the vote last written by this process

    def vote(self, record: FeedbackRecord) -> bool:
        """Append ``record`` unless it repeats the latest vote on its answer (``vote_id``);
        whether a line was written. Concurrent clicks on one answer write one line."""
        if not record.vote_id:
            self.append(record)
            return True
        with self._lock:
            if self._last.get(record.vote_id) == record.vote:
                return False
            self._last[record.vote_id] = record.vote
            if len(self._last) > 100_000:  # bounded: forget the oldest answers
                for key in list(self._last)[:50_000]:
                    del self._last[key]
        self.append(record)
        return True

    def append(self, record: FeedbackRecord) -> None:
        line = memoryview(record.to_line())
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # One write normally takes the whole line; should the OS take less (a signal, a
                # filling disk), the rest follows at once, so the line is never left torn (a torn
                # line would also swallow the next vote). A full disk raises OSError.
                while line:
                    written = os.write(fd, line)
                    if written <= 0:
                        raise OSError(f"feedback: cannot write to {self.path} (disk full?)")
                    line = line[written:]
            finally:
                os.close(fd)

    def records(self) -> Iterator[FeedbackRecord | None]:
        """Each line as a record, or None for a line that is not a valid record."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for raw in fh:
                try:
                    yield FeedbackRecord.from_dict(json.loads(raw))
                except (ValueError, TypeError, AttributeError):
                    yield None

    def read(self) -> tuple[list[FeedbackRecord], int]:
        """The valid records, oldest first, and the number of lines skipped as invalid; of the
        records of one ``vote_id`` only the latest is kept (in its place)."""
        good, bad = [], 0
        latest: dict[str, int] = {}
        for record in self.records():
            if record is None:
                bad += 1
                continue
            if record.vote_id:
                if record.vote_id in latest:
                    good[latest[record.vote_id]] = None
                latest[record.vote_id] = len(good)
            good.append(record)
        return [r for r in good if r is not None], bad

    def export(self, out: str | Path | None = None) -> tuple[str, int, int]:
        """The valid records as JSONL; written atomically to ``out`` when given.

        Returns ``(text, n_records, n_skipped)``.
        """
        records, skipped = self.read()
        text = "".join(r.to_line().decode() for r in records)
        if out is not None:
            out = Path(out)
            if out.resolve() == self.path.resolve():
                raise FeedbackError(f"--out {out} is the feedback log itself: choose another file")
            write_atomic(out, text)
        return text, len(records), skipped
