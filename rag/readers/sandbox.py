"""Run a reader in a child process with a time and memory limit.

A parser given a damaged or hostile file may loop, allocate without bound or (in C code) crash. The
reader runs in a fresh ``python -m rag.readers.sandbox`` process (never a fork of the serving
process, with its threads and model): the file's bytes go in on stdin, the ``Extracted`` comes back
as JSON on stdout. The child limits its own address space, and is killed when the time limit
passes. Whatever happens to it, the caller gets an ``Extracted`` or a ``ReadError`` with one line
saying what went wrong.

The time limit grows with the document: a PDF's child says how many pages it has as soon as it has
opened the file (a first line ``pages N``), and the limit becomes ``seconds + per_page * N``
(``Settings.read_seconds``, ``Settings.read_seconds_per_page``). A 300-page filing, read at 30 pages
a second or more, is far inside its limit; a file that stalls while it opens, or on one page, is
still killed, and the message gives the limit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

from rag.readers import extract
from rag.readers.base import Extracted, ReadError

TIME_LIMIT = 60.0  # seconds per file (and to open a PDF and count its pages)
PER_PAGE = 1.0  # seconds more for each page of a PDF
MEMORY_LIMIT = 2 * 2**30  # bytes of address space for the reading child
READER_MODULES = ("__init__", "text", "pdf", "docx", "html", "sandbox")


def time_limit_for(seconds: float, per_page: float, pages: int | None) -> float:
    """The time a document of ``pages`` pages (None: not known, or not paged) may take to read."""
    return seconds + per_page * (pages or 0)


def extract_isolated(
    data: bytes,
    kind: str,
    time_limit: float = TIME_LIMIT,
    memory: int = MEMORY_LIMIT,
    per_page: float = PER_PAGE,
) -> Extracted:
    """``extract(data, kind)`` in a child process; ``ReadError`` on failure, crash or timeout.

    ``time_limit`` seconds, plus ``per_page`` seconds for each page the child reports."""
    cmd = [sys.executable, "-m", "rag.readers.sandbox", kind, str(int(memory))]
    return _run_child(cmd, data, kind, time_limit, per_page)


def _run_child(cmd: list[str], data: bytes, kind: str, time_limit: float, per_page: float):
    """Run the reading child ``cmd`` on ``data`` under the growing time limit."""
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )

    def feed() -> None:
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except OSError:  # the child died before it read everything: its exit says why
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    start = time.monotonic()
    limit, pages = time_limit, None
    out = bytearray()
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            remaining = start + limit - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait()
                raise ReadError(_too_slow(kind, limit, time_limit, per_page, pages))
            if not sel.select(remaining):
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            out += chunk
            if pages is None and out.startswith(b"pages ") and b"\n" in out:
                head, _, rest = bytes(out).partition(b"\n")
                pages = int(head.split()[1])
                limit = time_limit_for(time_limit, per_page, pages)
                out = bytearray(rest)
    proc.stdout.close()
    returncode = proc.wait()
    writer.join(timeout=1)
    try:
        status, payload = json.loads(out.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ReadError(
            f"made the {kind} reader fail (exit code {returncode}); the file is damaged or "
            f"not really a {kind} file: re-export it"
        ) from None
    if status != "ok":
        raise ReadError(str(payload))
    return Extracted(**payload)


def _too_slow(kind: str, limit: float, seconds: float, per_page: float, pages) -> str:
    how = "" if pages is None else f" ({seconds:g} s + {per_page:g} s a page for its {pages} pages)"
    return (
        f"took longer than {limit:g} s to read as {kind}{how} (damaged, or built to stall a "
        "reader); re-export it, or split it into smaller files, or raise the limit with "
        "RAG_READ_SECONDS / RAG_READ_SECONDS_PER_PAGE"
    )


def _child(kind: str, memory: int) -> int:
    """The child's side: read stdin, extract, print one JSON line ``[status, payload]``."""
    try:
        import resource

        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ImportError, ValueError, OSError):
        pass
    data = sys.stdin.buffer.read()

    def on_pages(n: int) -> None:  # the parent's time limit grows with the page count
        sys.stdout.write(f"pages {int(n)}\n")
        sys.stdout.flush()

    try:
        result = ["ok", extract(data, kind, on_pages=on_pages).to_dict()]
    except ReadError as exc:
        result = ["error", str(exc)]
    except MemoryError:
        result = ["error", "needs more memory than a document may use while it is read"]
    except RecursionError:
        result = ["error", f"is nested too deeply to read as {kind}"]
    except BaseException as exc:  # noqa: BLE001 - any failure of the parser is one line
        result = ["error", f"cannot be read as {kind} ({type(exc).__name__}: {exc})"[:300]]
    sys.stdout.write(json.dumps(result, ensure_ascii=False))
    sys.stdout.flush()
    return 0


@functools.cache
def readers_version() -> str:
    """A short hash of the readers' code: extracted text cached by an older reader is not reused."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in READER_MODULES:
        digest.update((here / f"{name}.py").read_bytes())
    return digest.hexdigest()[:12]


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
