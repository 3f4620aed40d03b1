"""The load test (``bench/load.py``) in its CI size: the launched app, real engine, concurrent
``gradio_client`` sessions with follow-ups; zero errors, no cross-talk, loopback only. And proof
that its cross-talk check fires: a bot that answers with another conversation's history is caught.

The full run is ``python -m bench.load --sessions 20 --questions 10`` (figures in the README).
"""

from __future__ import annotations

import threading

import pytest

from bench import load

pytestmark = pytest.mark.slow


def test_conversations_are_scripted_with_one_subject_per_session():
    plans = [load.conversation(i, 10) for i in range(20)]
    assert len({a for a, _, _ in plans}) == 20
    a, b, questions = plans[3]
    rewrites = load.expected_rewrites(questions)
    assert rewrites[0] == questions[0] == f"What is {a}?"
    assert rewrites[1] == f"What does {a} do?"  # a follow-up
    assert rewrites[5] == f"When was {b} founded?"  # "And {b}?" switches subject
    assert rewrites[6] == f"What does {b} offer?"
    assert rewrites[9] == f"Why is {a} important?"  # and "What about {a}?" back
    # each follow-up names its own session's subject and no other session's first subject
    others = {x for x, _, _ in plans} - {a, b}
    assert not any(o in r for r in rewrites for o in others)


def test_small_load_run_on_the_real_app(real_bot):
    result = load.run(real_bot, sessions=5, questions=4, concurrency=4, timeout=60, deadline=90)
    assert result["errors"] == [], result["errors"]
    assert result["cross_talk"] == [], result["cross_talk"]
    assert result["outside_loopback"] == []
    assert result["ok"] and result["answered"] == 20 and result["unique_subjects"]
    lat = result["latency_ms"]
    assert lat["n"] == 20 and 0 < lat["p50"] <= lat["p95"] <= lat["max"]
    assert result["server"]["model_loads"] == 1
    turns = result["sessions_detail"][0]["turns"]
    assert turns[1]["understood"] == "What does SenseTime do?"


class MixedUpBot:
    """Answers each follow-up with the history of another conversation it has seen: the bug the
    cross-talk check exists to catch (state shared between sessions)."""

    def __init__(self, bot):
        self.bot = bot
        self.settings = bot.settings
        self.load_count = 1
        self.histories: dict[str, list] = {}
        self.lock = threading.Lock()

    def warm_up(self):
        self.bot.warm_up()
        return self

    def ask(self, question, history=None, k=None, mode=None):
        with self.lock:
            key = history[0] if history else question
            self.histories.setdefault(key, list(history or [question]))
            other = next((h for kk, h in self.histories.items() if kk != key), None)
        return self.bot.ask(question, history=other if history and other else history, k=k)


def test_the_cross_talk_check_catches_a_bot_that_mixes_up_sessions(tiny_bot):
    result = load.run(
        MixedUpBot(tiny_bot), sessions=4, questions=3, concurrency=4, timeout=60, deadline=90
    )
    assert result["errors"] == []
    assert result["cross_talk"], "a bot answering from another session's history went unnoticed"
    assert not result["ok"]
    assert "this session's history gives" in result["cross_talk"][0]["cross_talk"]


class FlakyBot(MixedUpBot):
    """Fails on every third question: the load test must count the errors, not stop."""

    def __init__(self, bot):
        super().__init__(bot)
        self.calls = 0

    def ask(self, question, history=None, k=None, mode=None):
        with self.lock:
            self.calls += 1
            fail = self.calls % 3 == 0
        if fail:
            raise RuntimeError("engine failure")
        return self.bot.ask(question, history=history, k=k)


def test_errors_are_counted_and_fail_the_run(tiny_bot):
    result = load.run(FlakyBot(tiny_bot), sessions=3, questions=3, timeout=60, deadline=90)
    assert len(result["errors"]) == 3 and result["answered"] == 6
    assert not result["ok"] and result["cross_talk"] == []
    assert all("AppError" in e["error"] for e in result["errors"])
    assert "FAILED" in load.summary_lines(result)[-1]


def test_the_command_line_refuses_unbounded_runs(capsys):
    for args in (["--sessions", "0"], ["--sessions", "201"], ["--questions", "51"]):
        with pytest.raises(SystemExit) as exc:
            load.main(args)
        assert exc.value.code == 2
    assert "use 1 to 200" in capsys.readouterr().err
