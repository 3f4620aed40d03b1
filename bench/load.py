"""Load test: the launched chat app, many concurrent ``gradio_client`` sessions, follow-ups
included.

    python -m bench.load --sessions 20 --questions 10          # the documented full run
    python -m bench.load --sessions 5 --questions 4 --out -    # a quick one, JSON to stdout

The app is started with ``ui.app.serve`` on a free port of 127.0.0.1, answering with the real engine
(bundled profile and model; the index in the data folder is reused or built). Each session is its
own ``gradio_client.Client`` in its own thread; all start at once and ask their questions one after
the other through the public ``/ask`` endpoint, sending their own earlier questions as history, as
the browser does.

Every session talks about its own subject (a product, a partner, a city of the profile, one per
session): the first question names it, the next ones say "it", then "And <second subject>?" switches
subject and "What about <first subject>?" switches back. The expected standalone question of every
turn is computed here, with the engine's own rewriter, from the session's own history only, so:

* an error is any exception, time-out, or answer without text;
* cross-talk is any answer whose ``question`` is not the one this session sent, or whose
  ``rewritten_query`` is not the one the session's own history gives (with one subject per session,
  an answer built from another session's history names another session's subject).

The run is bounded: at most 200 sessions x 50 questions, each answer waited for at most
``--timeout`` seconds, and the whole run at most ``--deadline`` seconds. All traffic stays on
loopback: the server binds 127.0.0.1 and an audit hook records any other connection (a failure).
Prints a summary (latency p50/p95 of the answers as the clients see them, queueing included) and
writes JSON. Exit status 1 on any error or cross-talk.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.atomic import write_atomic

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "load.json"
MAX_SESSIONS, MAX_QUESTIONS = 200, 50

# Subjects named in the bundled profile; each session gets its own first subject.
SUBJECTS = [
    "SenseTime",
    "SenseNova",
    "SenseCore",
    "SenseFoundry",
    "SenseMARS",
    "SenseAuto",
    "SenseCare",
    "Smart Business",
    "Smart City",
    "Smart Life",
    "Smart Auto",
    "Honda",
    "Toyota",
    "SAIC Motor",
    "Alibaba Cloud",
    "Huawei",
    "Qualcomm",
    "Tsinghua University",
    "MIT",
    "Shanghai",
    "Beijing",
    "Shenzhen",
    "Singapore",
    "Tokyo",
    "AIDC",
    "Baidu",
    "Tencent",
    "Xinjiang",
]
# One conversation: {a} is the session's subject, {b} its second one.
SCRIPT = [
    "What is {a}?",
    "What does it do?",
    "Where is it based?",
    "Who are its partners?",
    "When was it founded?",
    "And {b}?",
    "What does it offer?",
    "Where is it used?",
    "Why is it important?",
    "What about {a}?",
]


def conversation(session: int, n_questions: int) -> tuple[str, str, list[str]]:
    """The subjects and the questions of session ``session`` (the script, repeated if needed)."""
    n = len(SUBJECTS)
    a = SUBJECTS[session % n]
    b = SUBJECTS[(session + n // 2) % n]
    questions = [SCRIPT[i % len(SCRIPT)].format(a=a, b=b) for i in range(n_questions)]
    return a, b, questions


def expected_rewrites(questions: list[str]) -> list[str]:
    """The standalone question of each turn, from this conversation's own history only."""
    from rag.followup import rewrite

    return [rewrite(q, questions[:i]) for i, q in enumerate(questions)]


@dataclass
class Turn:
    session: int
    turn: int
    question: str
    expected_rewrite: str
    latency_ms: float | None = None
    rewritten_query: str | None = None
    answered_question: str | None = None
    abstained: bool | None = None
    n_citations: int = 0
    error: str | None = None
    cross_talk: str | None = None


@dataclass
class Session:
    index: int
    subject: str
    second_subject: str
    turns: list[Turn] = field(default_factory=list)
    error: str | None = None  # the session could not start


# ---- loopback guard ------------------------------------------------------------------------------

_outside: list[str] = []
_guarding = False
_hook_installed = False


def is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args) -> None:
    if not _guarding:
        return
    if event == "socket.connect" and isinstance(args[1], tuple) and not is_loopback(args[1][0]):
        _outside.append(f"connect {args[1]!r}")
    elif event == "socket.getaddrinfo" and not is_loopback(args[0]):
        _outside.append(f"lookup {args[0]!r}")


def _guard_loopback() -> None:
    global _hook_installed, _guarding
    if not _hook_installed:
        sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only while guarding
        _hook_installed = True
    _outside.clear()
    _guarding = True


def _stop_guard() -> None:
    global _guarding
    _guarding = False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the run -------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Linear-interpolation percentile (numpy's default) of ``values``; None when empty."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "mean": None, "max": None}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "mean": round(sum(values) / len(values), 1),
        "max": round(max(values), 1),
    }


def run_session(session: Session, url: str, questions: list[str], timeout: float, barrier) -> None:
    """One user: its own client, its questions in order, its own history."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=False)
        barrier.wait(timeout=120)
    except Exception as exc:  # recorded; the other sessions are released to go on without it
        barrier.abort()
        session.error = f"could not start: {type(exc).__name__}: {exc}"[:500]
        return
    expected = expected_rewrites(questions)
    for i, question in enumerate(questions):
        turn = Turn(session.index, i + 1, question, expected[i])
        session.turns.append(turn)
        t0 = time.perf_counter()
        try:
            job = client.submit(question=question, history=questions[:i], api_name="/ask")
            d = job.result(timeout=timeout)
        except Exception as exc:  # recorded, not raised: the run goes on
            turn.latency_ms = (time.perf_counter() - t0) * 1000
            turn.error = f"{type(exc).__name__}: {exc}"[:500]
            continue
        turn.latency_ms = (time.perf_counter() - t0) * 1000
        turn.answered_question = d.get("question")
        turn.rewritten_query = d.get("rewritten_query")
        turn.abstained = d.get("abstained")
        turn.n_citations = len(d.get("citations") or [])
        if not (d.get("text") or "").strip():
            turn.error = "the answer has no text"
        if turn.answered_question != question:
            turn.cross_talk = f"answer to {turn.answered_question!r}, not to {question!r}"
        elif turn.rewritten_query != turn.expected_rewrite:
            turn.cross_talk = (
                f"understood as {turn.rewritten_query!r}; this session's history gives "
                f"{turn.expected_rewrite!r}"
            )


def run(
    bot,
    sessions: int = 20,
    questions: int = 10,
    concurrency: int = 4,
    timeout: float = 120.0,
    deadline: float = 900.0,
) -> dict:
    """Serve ``bot`` on loopback, run the sessions, stop the server; returns the result dict."""
    from rag.feedback import FeedbackLog
    from ui.app import serve

    if not 1 <= sessions <= MAX_SESSIONS:
        raise ValueError(f"sessions={sessions}: use 1 to {MAX_SESSIONS}")
    if not 1 <= questions <= MAX_QUESTIONS:
        raise ValueError(f"questions={questions}: use 1 to {MAX_QUESTIONS}")
    _guard_loopback()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        demo, url = serve(
            bot,
            host="127.0.0.1",
            port=free_port(),
            feedback=FeedbackLog(Path(tmp) / "feedback.jsonl"),
            concurrency=concurrency,
        )
        t_ready = time.perf_counter()
        try:
            plans = [conversation(i, questions) for i in range(sessions)]
            state = [Session(i, a, b) for i, (a, b, _) in enumerate(plans)]
            barrier = threading.Barrier(sessions)
            threads = [
                threading.Thread(
                    target=run_session,
                    args=(s, url, plan[2], timeout, barrier),
                    name=f"session-{s.index}",
                    daemon=True,  # a hung session must not keep the process alive
                )
                for s, plan in zip(state, plans, strict=True)
            ]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            end = t0 + deadline
            for t in threads:
                t.join(timeout=max(0.0, end - time.perf_counter()))
            wall = time.perf_counter() - t0
            unfinished = [t.name for t in threads if t.is_alive()]
        finally:
            with contextlib.redirect_stdout(sys.stderr):  # Gradio prints "Closing server..."
                demo.close()
            _stop_guard()
    return summarise(
        state, sessions, questions, concurrency, wall, t_ready - t_start, unfinished, bot
    )


def summarise(state, sessions, questions, concurrency, wall, startup, unfinished, bot) -> dict:
    turns = [t for s in state for t in s.turns]
    answered = [t for t in turns if t.error is None]
    errors = [asdict(t) for t in turns if t.error]
    errors += [
        {"session": name, "error": "did not finish before the deadline"} for name in unfinished
    ]
    errors += [{"session": s.index, "error": s.error} for s in state if s.error]
    missing = sessions * questions - len(turns)
    if missing and not unfinished and not any(s.error for s in state):
        errors.append({"error": f"{missing} question(s) were never asked"})
    cross = [asdict(t) for t in turns if t.cross_talk]
    subjects = [s.subject for s in state]
    lat = [t.latency_ms for t in answered]
    return {
        "command": f"python -m bench.load --sessions {sessions} --questions {questions} "
        f"--concurrency {concurrency}",
        "sessions": sessions,
        "questions_per_session": questions,
        "questions_total": sessions * questions,
        "answered": len(answered),
        "errors": errors,
        "cross_talk": cross,
        "outside_loopback": list(_outside),
        "ok": not errors and not cross and not _outside,
        "unique_subjects": len(set(subjects)) == len(subjects),
        "abstained": sum(1 for t in answered if t.abstained),
        "latency_ms": latency_stats(lat),
        "latency_ms_first_question": latency_stats([t.latency_ms for t in answered if t.turn == 1]),
        "latency_ms_follow_ups": latency_stats([t.latency_ms for t in answered if t.turn > 1]),
        "wall_s": round(wall, 2),
        "throughput_qps": round(len(answered) / wall, 2) if wall else None,
        "server": {
            "concurrency": concurrency,
            "startup_s": round(startup, 2),
            "model_loads": getattr(bot, "load_count", None),
            "mode": bot.settings.mode,
            "k": bot.settings.k,
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "sessions_detail": [
            {
                "session": s.index,
                "subjects": [s.subject, s.second_subject],
                "turns": [
                    {
                        "q": t.question,
                        "understood": t.rewritten_query,
                        "ms": None if t.latency_ms is None else round(t.latency_ms, 1),
                        "abstained": t.abstained,
                        "error": t.error,
                    }
                    for t in s.turns
                ],
            }
            for s in state
        ],
    }


def summary_lines(result: dict) -> list[str]:
    lat, first, follow = (
        result["latency_ms"],
        result["latency_ms_first_question"],
        result["latency_ms_follow_ups"],
    )
    lines = [
        f"sessions {result['sessions']} x questions {result['questions_per_session']} = "
        f"{result['questions_total']} (server concurrency {result['server']['concurrency']}, "
        f"{result['machine']['cpus']} CPUs)",
        f"answered {result['answered']}, errors {len(result['errors'])}, "
        f"cross-talk {len(result['cross_talk'])}, abstained {result['abstained']}, "
        f"non-loopback connections {len(result['outside_loopback'])}",
        f"latency ms: p50 {lat['p50']}  p95 {lat['p95']}  mean {lat['mean']}  max {lat['max']} "
        f"(first questions p50 {first['p50']}, follow-ups p50 {follow['p50']})",
        f"wall {result['wall_s']} s, {result['throughput_qps']} answers/s; server start "
        f"{result['server']['startup_s']} s; model loaded "
        f"{result['server']['model_loads']} time(s)",
    ]
    for e in (result["errors"] + result["cross_talk"])[:5]:
        lines.append(f"  ! {e.get('cross_talk') or e.get('error')}")
    lines.append("OK" if result["ok"] else "FAILED")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="Load test of the chat app on loopback: concurrent gradio_client sessions.",
    )
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (1-200)")
    parser.add_argument("--questions", type=int, default=10, help="questions per session (1-50)")
    parser.add_argument("--concurrency", type=int, default=4, help="server: answers at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per answer, at most")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole run")
    parser.add_argument("--data-dir", type=Path, default=None, help="engine data folder (index)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file, or - for stdout")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS:
        parser.error(f"--sessions {args.sessions}: use 1 to {MAX_SESSIONS}")
    if not 1 <= args.questions <= MAX_QUESTIONS:
        parser.error(f"--questions {args.questions}: use 1 to {MAX_QUESTIONS}")
    if args.timeout <= 0 or args.deadline <= 0:
        parser.error("--timeout and --deadline must be positive")

    from rag.chatbot import Chatbot
    from rag.settings import apply_offline_env

    apply_offline_env()
    print("Loading the model and the index...", file=sys.stderr, flush=True)
    bot = Chatbot.from_corpus(None, data_dir=args.data_dir)
    result = run(bot, args.sessions, args.questions, args.concurrency, args.timeout, args.deadline)
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(args.out), text)
    print("\n".join(summary_lines(result)), file=sys.stderr)
    if args.out != "-":
        print(f"-> {args.out}", file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
