"""Issue 21, point 7, against a server in its own process (the tiny corpus, the fake embedder):
eight concurrent 60 MiB uploads from eight addresses are streamed to disk, held to the
server-wide quota, and leave the server's memory within 10% of its baseline; a body cut off
halfway leaves no file; SIGTERM removes the upload folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_DOC
from tests.test_hardening_server import free_port, rss_mib

pytestmark = pytest.mark.slow
MB = 2**20

UPLOADERS = """
import json, sys, threading, httpx
url = sys.argv[1]
part = b"# Notes\\n\\n" + b"a few plain words of text\\n" * (int(7.5 * 2**20) // 26)
codes = []
def send(i):
    transport = httpx.HTTPTransport(local_address=f"127.0.3.{i + 2}")
    files = [("files", (f"n{i}-{j}.md", part + str(j).encode())) for j in range(8)]  # ~60 MiB
    with httpx.Client(transport=transport, timeout=300) as c:
        codes.append(c.post(url + "gradio_api/upload", files=files).status_code)
threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(sorted(codes)))
"""


def start_server(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "acme.md").write_text(TINY_DOC)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_UPLOAD_TOTAL_QUOTA_MB": "256"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "serve_tiny.py"), str(corpus), str(tmp_path / "data"),
         str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )  # fmt: skip
    lines: list[str] = []
    while not (lines and lines[-1].startswith("READY")) and len(lines) < 50:
        lines.append(proc.stdout.readline())
        assert lines[-1], "".join(lines)
    _, url, folder = lines[-1].split()
    return proc, url, Path(folder), env


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_concurrent_large_uploads_are_streamed_held_to_the_quota_and_cleaned(tmp_path):
    proc, url, folder, env = start_server(tmp_path)
    try:
        import httpx

        for _ in range(3):  # warm: the first requests allocate caches
            ok = httpx.post(
                url + "gradio_api/upload",
                files=[("files", ("warm.md", b"# Warm\n\nA short note.\n"))],
                timeout=30,
            )
            assert ok.status_code == 200, ok.text
        baseline = rss_mib(proc.pid)
        run = subprocess.run(
            [sys.executable, "-c", UPLOADERS, url], capture_output=True, text=True, env=env,
            timeout=500,
        )  # fmt: skip
        codes = json.loads(run.stdout or "null")
        # 256 MiB for all users: four 60 MiB uploads fit, the other four are refused
        assert codes == [200] * 4 + [429] * 4, (codes, run.stderr[-2000:])
        time.sleep(1)
        after = rss_mib(proc.pid)
        print(f"server RSS: baseline {baseline:.0f} MiB, after 8 x 60 MiB uploads {after:.0f} MiB")
        assert after <= baseline * 1.10, (baseline, after)
        # only the accepted files are on disk: no spooled body is left behind
        names = [p.name for p in files_in(folder)]
        assert not [n for n in names if n.startswith("body-")], names
        assert len([n for n in names if n.endswith(".md") and n.startswith("n")]) == 32

        # a body cut off halfway leaves nothing behind
        host, port = url.split("//")[1].rstrip("/").split(":")
        before = set(files_in(folder))
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            head = (
                "POST /gradio_api/upload HTTP/1.1\r\nHost: " + f"{host}:{port}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {4 * MB}\r\n\r\n"
            )
            sock.sendall(head.encode() + b"--xyz\r\nContent-Disposition: form-data; "
                         b'name="files"; filename="cut.md"\r\n\r\n' + b"words " * 200_000)  # fmt: skip
            time.sleep(0.5)
        time.sleep(1)
        assert set(files_in(folder)) == before

        # SIGTERM: the upload folder goes with the server
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        assert not folder.exists(), files_in(folder)[:5]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_the_total_quota_is_a_setting():
    from rag.settings import Settings

    assert Settings.make(upload_total_quota_mb=100).upload_total_quota_mb == 100
    assert "upload_total_quota_mb" in (ROOT / "README.md").read_text()
