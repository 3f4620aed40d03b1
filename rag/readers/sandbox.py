"""Run a reader in a child process with a time and memory limit.

A parser given a damaged or hostile file may loop, allocate without bound or (in C code) crash. The
reader runs in a fresh ``python -m rag.readers.sandbox`` process (never a fork of the serving
process, with its threads and model): the file's bytes go in on stdin, the ``Extracted`` comes back
as JSON on stdout. The child limits its own address space, and is killed when the time limit
passes. Whatever happens to it, the caller gets an ``Extracted`` or a ``ReadError`` with one line
saying what went wrong.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from rag.readers import extract
from rag.readers.base import Extracted, ReadError

TIME_LIMIT = 60.0  # seconds per file
MEMORY_LIMIT = 2 * 2**30  # bytes of address space for the reading child
READER_MODULES = ("__init__", "text", "pdf", "docx", "html", "sandbox")


def extract_isolated(
    data: bytes, kind: str, time_limit: float = TIME_LIMIT, memory: int = MEMORY_LIMIT
) -> Extracted:
    """``extract(data, kind)`` in a child process; ``ReadError`` on failure, crash or timeout."""
    cmd = [sys.executable, "-m", "rag.readers.sandbox", kind, str(int(memory))]
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=time_limit, check=False)
    except subprocess.TimeoutExpired:
        raise ReadError(
            f"took longer than {time_limit:g} s to read as {kind} (damaged, or built to stall "
            "a reader); re-export it, or split it into smaller files"
        ) from None
    try:
        status, payload = json.loads(proc.stdout.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ReadError(
            f"made the {kind} reader fail (exit code {proc.returncode}); the file is damaged or "
            f"not really a {kind} file: re-export it"
        ) from None
    if status != "ok":
        raise ReadError(str(payload))
    return Extracted(**payload)


def _child(kind: str, memory: int) -> int:
    """The child's side: read stdin, extract, print one JSON line ``[status, payload]``."""
    try:
        import resource

        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ImportError, ValueError, OSError):
        pass
    data = sys.stdin.buffer.read()
    try:
        result = ["ok", extract(data, kind).to_dict()]
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
