"""The feedback log under load: many sessions (threads) voting through the chat's own handler,
several processes appending to one file, and a write the OS cuts short. Every vote must end up as
exactly one whole, parseable line; nothing is lost, duplicated or torn.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

import rag.feedback
from rag.feedback import FeedbackLog, FeedbackRecord
from ui import chat

N_THREADS, VOTES_PER_THREAD = 32, 50


def parse_all(path: Path) -> list[dict]:
    """Every line of the log parsed; fails on a torn or merged line."""
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "the last line is not whole"
    lines = raw.split(b"\n")[:-1]
    return [json.loads(line) for line in lines]


def session_answer(t: int, i: int) -> dict:
    """What a chat session keeps of one answer (``chat.answer_record``), unique per (t, i)."""
    return {
        "question": f"session {t} question {i}: Who founded SenseTime?",
        "rewritten_query": f"s{t}q{i}",
        "text": "Founder: Professor Xiao'ou Tang [1] " + "detail " * 300,  # ~2 KB per line
        "abstained": False,
        "mode": "hybrid",
        "k": 5,
        "citations": [{"number": 1, "document": "sensetime_profile.md", "line_start": 8}],
    }


def test_32_sessions_voting_at_once_through_the_chat_lose_no_vote(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl")  # one log, shared as the app shares it
    barrier = threading.Barrier(N_THREADS)
    errors: list[BaseException] = []

    def session(t: int) -> None:
        try:
            history, answers = [], []
            for i in range(VOTES_PER_THREAD):
                history += [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": "a"},
                ]
                answers.append(session_answer(t, i))
            barrier.wait(timeout=30)
            for i in range(VOTES_PER_THREAD):
                liked = (True, False, "Like", "Dislike")[(t + i) % 4]
                assert chat.record_vote(history, answers, 2 * i + 1, liked, log) is not None
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(t,)) for t in range(N_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert errors == []
    parsed = parse_all(log.path)
    assert len(parsed) == N_THREADS * VOTES_PER_THREAD
    seen = {p["rewritten_query"] for p in parsed}
    assert seen == {f"s{t}q{i}" for t in range(N_THREADS) for i in range(VOTES_PER_THREAD)}
    for p in parsed:  # each line is the right record, whole
        t, i = map(int, p["rewritten_query"][1:].split("q"))
        assert p["question"] == session_answer(t, i)["question"]
        assert p["vote"] == ("like", "dislike")[(t + i) % 2]
        assert p["answer"] == session_answer(t, i)["text"]
    records, skipped = log.read()
    assert (len(records), skipped) == (N_THREADS * VOTES_PER_THREAD, 0)


def _append_from_process(path: str, worker: int, n: int, size: int) -> None:
    log = FeedbackLog(path)  # each process its own object: the thread lock does not help here
    for i in range(n):
        log.append(
            FeedbackRecord(
                vote="like", question=f"{worker}:{i}", rewritten_query="y" * size, answer="a"
            )
        )


def test_several_processes_appending_at_once_tear_no_line(tmp_path):
    """Lines of 64 KiB (far above PIPE_BUF) from 4 processes: O_APPEND single writes keep them
    whole."""
    path = tmp_path / "feedback.jsonl"
    workers, per_worker, size = 4, 100, 64 * 1024
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_append_from_process, args=(str(path), w, per_worker, size))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    parsed = parse_all(path)
    assert sorted(p["question"] for p in parsed) == sorted(
        f"{w}:{i}" for w in range(workers) for i in range(per_worker)
    )
    assert all(len(p["rewritten_query"]) == size for p in parsed)


def test_a_write_cut_short_by_the_os_is_completed(tmp_path, monkeypatch):
    """POSIX lets write(2) return fewer bytes than asked (a signal, a filling disk). The rest must
    follow: a torn line would also swallow the next vote appended after it."""
    real_write = rag.feedback.os.write
    calls: list[int] = []

    def short_write(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        return real_write(fd, data)

    log = FeedbackLog(tmp_path / "feedback.jsonl")
    monkeypatch.setattr(rag.feedback.os, "write", short_write)
    log.append(FeedbackRecord(vote="like", question="first", rewritten_query="q", answer="a"))
    monkeypatch.undo()
    log.append(FeedbackRecord(vote="dislike", question="second", rewritten_query="q", answer="a"))
    assert [p["question"] for p in parse_all(log.path)] == ["first", "second"]


def test_a_failed_write_is_an_error_not_a_silent_loss(tmp_path, monkeypatch):
    def disk_full(fd, data):
        raise OSError(28, "No space left on device")

    log = FeedbackLog(tmp_path / "feedback.jsonl")
    monkeypatch.setattr(rag.feedback.os, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        log.append(FeedbackRecord(vote="like", question="q", rewritten_query="q", answer="a"))
