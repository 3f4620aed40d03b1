"""``python -m bench.llm_stall``: another user's extractive answer while four LLM answers are
stalled (issue 21, point 9). A real Gradio server (``ui.app.serve``) on a tiny corpus with the hash
embedder, the scripted endpoint (``bench/llm_server.py``) dripping one byte every 50 ms for 40 s,
``llm_timeout=10``; prints the extractive answers' seconds and how long the stalled ones took, with
their fallback reason. The test of the same is ``tests/test_llm_faults.py``."""

import socket
import tempfile
import threading
import time
from pathlib import Path

from gradio_client import Client

from bench.llm_server import ScriptedLLM
from rag.chatbot import Chatbot
from rag.embedding import HashEmbedder
from tests.conftest import TINY_DOC
from ui.app import serve


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    (tmp / "c").mkdir()
    (tmp / "c" / "acme.md").write_text(TINY_DOC)
    with ScriptedLLM([{"drip": 0.05, "hold": 40}]) as llm:
        bot = Chatbot.from_corpus(
            tmp / "c",
            embedder=HashEmbedder(64),
            model="hash-64",
            data_dir=tmp / "d",
            abstain_threshold=0.1,
            llm_url=llm.url,
            llm_model="scripted",
            llm_timeout=10,
        )
        demo, url = serve(bot, port=free_port(), concurrency=4)
        client = Client(url, verbose=False)
        res = []

        def stalled():
            t = time.monotonic()
            out = client.predict("Who founded Acme?", [], None, None, "llm", api_name="/ask")
            res.append((round(time.monotonic() - t, 1), out.get("fallback_reason")))

        ts = [threading.Thread(target=stalled) for _ in range(4)]
        [t.start() for t in ts]
        while len(llm.requests) < 4:
            time.sleep(0.05)
        times = []
        for q in ["When was Acme founded?", "What does Acme build?", "Who founded Acme?"]:
            t0 = time.monotonic()
            client.predict(q, [], None, None, "extractive", api_name="/ask")
            times.append(round(time.monotonic() - t0, 2))
        print("extractive answers under 4 stalled streams (s):", times)
        [t.join(60) for t in ts]
        print("stalled streams ended after (s), reason:", res)
        demo.close()


if __name__ == "__main__":
    main()
