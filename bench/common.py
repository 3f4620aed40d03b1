"""Helpers shared by the benchmarks: percentiles, child processes with their peak memory, sizes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rag.atomic import write_atomic

ROOT = Path(__file__).resolve().parent.parent


def stats(values_ms) -> dict:
    """p50 / p95 / mean / max of a list of latencies (ms), rounded for reading."""
    v = np.asarray(values_ms, dtype=float)
    if not len(v):
        return {"n": 0}
    return {
        "n": int(len(v)),
        "p50": round(float(np.percentile(v, 50)), 3),
        "p95": round(float(np.percentile(v, 95)), 3),
        "mean": round(float(v.mean()), 3),
        "max": round(float(v.max()), 3),
    }


def median_of(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(float(np.median(values)), 4) if values else None


def ratio(new: float | None, base: float | None) -> float | None:
    if new is None or not base:
        return None
    return round(new / base, 3)


def run_process(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run ``cmd``; wall time to exit, time to its first line of output, its peak RSS (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    first = proc.stdout.readline()
    t_first = time.perf_counter()
    rest = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    t_end = time.perf_counter()
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    proc.stderr.close()
    return {
        "wall_s": round(t_end - t0, 4),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),  # all its threads
        "first_output_s": round(t_first - t0, 4) if first else None,
        "maxrss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "returncode": proc.returncode,
        "stdout": first + rest,
        "stderr": err[-2000:],
    }


def python_json(code: str, env: dict | None = None) -> tuple[dict, dict]:
    """Run Python ``code`` in a fresh interpreter; it must print one JSON object last."""
    out = run_process([sys.executable, "-c", code], env=env, cwd=ROOT)
    if out["returncode"] != 0:
        raise RuntimeError(f"child failed: {out['stderr']}")
    return json.loads(out["stdout"].strip().splitlines()[-1]), out


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def machine() -> dict:
    import faiss
    import onnxruntime

    load = os.getloadavg()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
        "faiss": faiss.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
