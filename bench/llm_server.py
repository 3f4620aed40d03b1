"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol and replies from
a script, for the generation tests. Started by a test (``with ScriptedLLM() as llm:``), on a free
port, in a thread; it records every request (headers and JSON body).

A script entry is a dict:
    {"content": str | callable(sources) -> str}   a reply (streamed when the request asks for it)
    {"status": 500}                                an HTTP error
    {"sleep": 2.0, ...}                            wait before replying (a timeout)
    {"raw": bytes}                                 these bytes as the streamed body (malformed)
    {"delay": 0.1, ...}                            seconds between streamed tokens
    {"drip": 0.2, "hold": 30}                      headers, then one byte every 0.2 s for 30 s,
                                                   never finishing a line (a stalled stream)
    {"silent": 30}                                 headers, then nothing for 30 s
``sources`` maps each [n] of the prompt to its passage text, so a reply can quote what it was given.
The last entry repeats when the script runs out.

The reply builders below (``faithful``, and one per kind of unfaithful sentence in ``BAD``) make
their sentences from the passages the prompt holds, so they know nothing of any document.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def prompt_sources(body: dict) -> dict[int, str]:
    """The numbered passages of the prompt: {n: text}."""
    user = next((m["content"] for m in body.get("messages", []) if m["role"] == "user"), "")
    out = {}
    for m in re.finditer(
        r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nQuestion:)", user, re.S | re.M
    ):
        text = m.group(2).strip()
        text = re.sub(r"^<quote>\n|\n</quote>$", "", text)  # the prompt quotes each passage
        out[int(m.group(1))] = text.strip()
    return out


class ScriptedLLM:
    def __init__(self, script: list[dict] | None = None):
        self.script = list(script or [])
        self.requests: list[dict] = []
        self._server: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()  # ends stalled replies when the server stops

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def _next(self) -> dict:
        if not self.script:
            return {"status": 500}
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def __enter__(self) -> ScriptedLLM:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                entry = owner._next()
                try:
                    self._reply(entry, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _reply(self, entry: dict, body: dict):
                if entry.get("sleep"):
                    time.sleep(entry["sleep"])
                if self.path != "/v1/chat/completions":
                    return self._send(404, b'{"error": "not found"}')
                if entry.get("status", 200) != 200:
                    return self._send(entry["status"], b'{"error": "scripted failure"}')
                if "drip" in entry or "silent" in entry:
                    return self._stall(entry)
                if "raw" in entry:
                    return self._send(200, entry["raw"], "text/event-stream")
                content = entry.get("content", "")
                if callable(content):
                    content = content(prompt_sources(body))
                if body.get("stream"):
                    return self._stream(content, entry.get("delay", 0.0))
                reply = {
                    "id": "scripted",
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                }
                self._send(200, json.dumps(reply).encode())

            def _stream(self, content: str, delay: float):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = re.findall(r"\S+\s*|\s+", content)
                for piece in pieces:
                    event = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(delay)
                end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()

            def _stall(self, entry: dict):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.flush()
                if "silent" in entry:
                    return owner._stopped.wait(entry["silent"])
                end = time.monotonic() + entry.get("hold", 30.0)
                line = b'data: {"choices": [{"index": 0, "delta": {"content": "stalled"}}]}'
                i = 0
                while time.monotonic() < end and not owner._stopped.is_set():
                    self.wfile.write(line[i % len(line) : i % len(line) + 1])
                    self.wfile.flush()
                    i += 1
                    time.sleep(entry["drip"])

            def _send(self, status: int, data: bytes, kind: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()


# ---- scripted replies built from the prompt's passages ------------------------------------------


def first_sentence(sources: dict[int, str]) -> str:
    """The first sentence of source [1], verbatim, cited: a faithful sentence."""
    from rag.generate.grounding import split_sentences

    line = split_sentences(sources[1].split("\n")[0])[0].text
    return line.rstrip(".") + " [1]."


def faithful(sources):
    return first_sentence(sources)


def with_bad(bad):
    """A reply builder: the faithful sentence, then an unfaithful one made by ``bad``."""
    return lambda sources: f"{first_sentence(sources)} {bad(sources)}"


def invented_number(sources):
    return first_sentence(sources).replace(" [1].", "") + " for a fee of $20.25 billion a year [1]."


def wrong_number(sources):
    return first_sentence(sources).replace("[1]", f"[{len(sources) + 6}]")


def unsupported(sources):
    return "Its products are mostly sold to farmers for watering crops [1]."


def negation_flip(sources):
    sentence = first_sentence(sources)
    flipped = re.sub(
        r"\b(is|are|was|were|has|provides|offers|offering)\b", r"does not \1", sentence, count=1
    )
    return flipped if flipped != sentence else "It is not true that " + sentence


def _figure_sentence(sources) -> tuple[int, str, float, float]:
    """The first sentence of the passages that holds two figures (years left out): its source
    number, its text without the final stop, and the two values."""
    from rag.arithmetic import figures
    from rag.generate.grounding import split_sentences

    for n in sorted(sources):
        for piece in split_sentences(sources[n]):
            found = figures(piece.text)
            if len(found) >= 2:
                return n, piece.text.rstrip(". "), abs(found[0].bare), abs(found[1].bare)
    raise ValueError("the scripted computation needs a passage sentence with two figures")


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def right_computation(sources):
    """A passage's sentence with two figures, quoted, and their sum: it follows from them."""
    n, text, x, y = _figure_sentence(sources)
    return f"{text}, which adds up to {_number(x + y)} [{n}]."


def wrong_computation(sources):
    """The same sentence with a sum that follows from no two figures of the passage."""
    from rag.arithmetic import derive, figures

    n, text, x, y = _figure_sentence(sources)
    inputs = figures(sources[n])
    wrong = round((x + y) * 1.37 + 3.3, 2)
    while derive(figures(_number(wrong))[0], inputs) is not None:
        wrong = round(wrong * 1.11 + 1.7, 2)
    return f"{text}, which adds up to {_number(wrong)} [{n}]."


# kind -> (builder, the words the grounding check's reason must hold)
BAD = {
    "invented number": (invented_number, "the number"),
    "wrong citation number": (wrong_number, "not one of the"),
    "citation does not support": (unsupported, "not supported in meaning"),
    "negation flip": (negation_flip, "negation flip"),
}
# a computation the LLM did: kept when the number follows from the cited figures (its reason
# holds the formula), removed when it does not
COMPUTED = {
    "right computation": (right_computation, True, "computed:"),
    "wrong computation": (wrong_computation, False, "does not follow from its figures"),
}
