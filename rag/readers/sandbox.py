"""Run a reader in a child process with a time and memory limit.

A parser given a damaged or hostile file may loop, allocate without bound or (in C code) crash. The
child is forked from a small forkserver (``multiprocessing``), so the serving process, with its
threads and model, is never forked; the child gets an address-space limit, and is killed when the
time limit passes. Whatever happens to the child, the caller gets an ``Extracted`` or a
``ReadError`` with one line saying what went wrong.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing as mp
import threading
from pathlib import Path

from rag.readers import Extracted, ReadError, extract

TIME_LIMIT = 60.0  # seconds per file
MEMORY_LIMIT = 2 * 2**30  # bytes of address space for the reading child

READER_MODULES = ("__init__", "text", "pdf", "docx", "html", "sandbox")

_ctx_lock = threading.Lock()
_ctx = None


def _context():
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["rag.readers", "rag.readers.pdf"])
            _ctx = ctx
        return _ctx


def _child(conn, data: bytes, kind: str, memory: int) -> None:
    try:
        import resource

        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ImportError, ValueError, OSError):
        pass
    try:
        result = extract(data, kind)
        conn.send(("ok", result.to_dict()))
    except ReadError as exc:
        conn.send(("error", str(exc)))
    except MemoryError:
        conn.send(("error", "needs more memory than a document may use while it is read"))
    except RecursionError:
        conn.send(("error", f"is nested too deeply to read as {kind}"))
    except BaseException as exc:  # noqa: BLE001 - any failure of the parser is one line
        conn.send(("error", f"cannot be read as {kind} ({type(exc).__name__}: {exc})"[:300]))
    finally:
        conn.close()


def extract_isolated(
    data: bytes, kind: str, time_limit: float = TIME_LIMIT, memory: int = MEMORY_LIMIT
) -> Extracted:
    """``extract(data, kind)`` in a child process; ``ReadError`` on failure, crash or timeout."""
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, data, kind, memory), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(time_limit):
            raise ReadError(
                f"took longer than {time_limit:g} s to read as {kind} (damaged, or built to stall "
                "a reader); re-export it, or split it into smaller files"
            )
        try:
            status, payload = parent.recv()
        except (EOFError, OSError):
            proc.join(5)
            raise ReadError(
                f"made the {kind} reader fail (exit code {proc.exitcode}); the file is damaged or "
                "not really a " + kind + " file: re-export it"
            ) from None
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    if status != "ok":
        raise ReadError(payload)
    return Extracted(**payload)


@functools.cache
def readers_version() -> str:
    """A short hash of the readers' code: extracted text cached by an older reader is not reused."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in READER_MODULES:
        digest.update((here / f"{name}.py").read_bytes())
    return digest.hexdigest()[:12]
