"""Checks on where a command will write, made before any work so a run never fails at its end.

``check_run_dir``: an evaluation run writes several files into a folder; that folder must be new,
empty, or an earlier run (it holds a ``summary.json`` or ``compare.json`` that this tool wrote), so
a user's own files are never replaced. ``check_out_file``: one output file must not be a folder, and
its parent folder must exist.

This module checks paths; it writes nothing.
"""

from __future__ import annotations

from pathlib import Path

RUN_MARKERS = ("summary.json", "compare.json")


class OutputError(ValueError):
    """An output path cannot be used; the message names it and the fix."""


def is_earlier_run(folder: Path) -> bool:
    """A folder written by ``rag eval``: it holds a summary (or, with --compare, a comparison)."""
    return any((folder / name).is_file() for name in RUN_MARKERS)


def check_run_dir(out: Path) -> Path:
    """``out`` if an evaluation run may be written there, else ``OutputError``."""
    out = Path(out)
    if str(out).strip() == "" or str(out) == ".":
        raise OutputError("--out names no folder: pass a new folder, e.g. --out eval/runs/mine")
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"--out {out} is a file, not a folder: pass a new folder for the results and reports"
        )
    if out.is_dir() and any(out.iterdir()) and not is_earlier_run(out):
        raise OutputError(
            f"--out {out} holds files that are not an earlier evaluation run; they would be "
            "replaced: pass a new or empty folder, or leave --out out for a new timestamped one"
        )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"--out {out}: {parent} is a file, not a folder: pass another --out")
    return out


def check_out_file(out: Path, option: str = "--out") -> Path:
    """``out`` if one output file may be written there, else ``OutputError``."""
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"{option} {out} is a folder: pass a file name, e.g. {out}/export.jsonl")
    if not out.parent.is_dir():
        raise OutputError(
            f"{option} {out}: the folder {out.parent} does not exist; create it or pass another path"
        )
    return out
