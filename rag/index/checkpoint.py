"""What a build has embedded so far, on disk as each batch finishes, so a build that is killed
halfway resumes where it stopped instead of embedding everything again.

Layout (``IndexStore.root/partial/``)::

    meta.json       what the vectors are: model, precision, dimension, embed-text and token
                    versions (a checkpoint made for anything else is discarded)
    vectors.f32     one row of ``dimension`` float32 numbers per embedded text, appended
    tokens.f16      the content-token vectors of those texts (float16 rows), appended
    rows.jsonl      one line per row, written last: the text's sha256 and its token count
                    (-1: no token vectors came with it)

A row counts only once its line is complete and its vectors are in the files, so a kill between
two writes loses at most the batch being written. The files are appended to and flushed, not
synced: a killed process loses nothing the kernel already has, and after a power cut a torn tail
is cut off like a killed one. The build that finishes clears the folder.

This module does not decide what to embed (``Index.build`` does) and holds no lock of its own: it
is written only under the build lock of ``IndexStore``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

META = "meta.json"
ROWS = "rows.jsonl"
VECTORS = "vectors.f32"
TOKENS = "tokens.f16"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Checkpoint:
    """Appends embedded vectors to ``folder`` and reads them back for a resumed build."""

    def __init__(self, folder: Path, identity: dict):
        self.folder = Path(folder)
        self.identity = identity
        self.dimension = int(identity["dimension"])
        self.rows = 0  # rows on disk, resumed ones included
        self._files = None

    def load(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Text key -> vector, and text key -> token vectors, of every complete row; a checkpoint
        made for another model or version is removed and gives nothing."""
        try:
            meta = json.loads((self.folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
        if meta != self.identity:
            self.clear()
            return {}, {}
        try:
            lines = (self.folder / ROWS).read_bytes().split(b"\n")
            vectors = np.fromfile(self.folder / VECTORS, dtype=np.float32)
            tokens = np.fromfile(self.folder / TOKENS, dtype=np.float16)
        except OSError:
            self.clear()
            return {}, {}
        vectors = vectors[: len(vectors) // self.dimension * self.dimension].reshape(
            -1, self.dimension
        )
        tokens = tokens[: len(tokens) // self.dimension * self.dimension].reshape(
            -1, self.dimension
        )
        found: dict[str, np.ndarray] = {}
        found_tokens: dict[str, np.ndarray] = {}
        at = 0
        rows = 0
        for line in lines[:-1]:  # the last piece has no newline: torn, or empty
            try:
                row = json.loads(line)
                key, n = row["k"], int(row["n"])
            except (ValueError, KeyError, TypeError):
                break
            if rows >= len(vectors) or at + max(n, 0) > len(tokens):
                break
            found[key] = vectors[rows]
            if n >= 0:
                found_tokens[key] = tokens[at : at + n]
                at += n
            rows += 1
        self.rows = rows
        # cut torn tails so appends continue from whole rows
        self._truncate(rows, at)
        return found, found_tokens

    def _truncate(self, rows: int, tokens: int) -> None:
        with open(self.folder / VECTORS, "r+b") as f:
            f.truncate(rows * self.dimension * 4)
        with open(self.folder / TOKENS, "r+b") as f:
            f.truncate(tokens * self.dimension * 2)
        lines = (self.folder / ROWS).read_bytes().split(b"\n")[:rows]
        (self.folder / ROWS).write_bytes(b"".join(line + b"\n" for line in lines))

    def _open(self):
        if self._files is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not (self.folder / META).is_file():
                for name in (ROWS, VECTORS, TOKENS):
                    (self.folder / name).write_bytes(b"")
                (self.folder / META).write_text(json.dumps(self.identity), encoding="utf-8")
            self._files = tuple(open(self.folder / name, "ab") for name in (VECTORS, TOKENS, ROWS))
        return self._files

    def add(
        self, texts: Sequence[str], vectors: np.ndarray, tokens: Sequence | None = None
    ) -> None:
        """Append one finished batch: vectors first, then token vectors, then the rows naming
        them (the rows are what makes them count)."""
        if not len(texts):
            return
        f_vec, f_tok, f_rows = self._open()
        f_vec.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        lines = []
        for i, text in enumerate(texts):
            n = -1
            if tokens is not None:
                part = np.ascontiguousarray(tokens[i], dtype=np.float16).reshape(-1, self.dimension)
                f_tok.write(part.tobytes())
                n = len(part)
            lines.append(json.dumps({"k": text_key(text), "n": n}) + "\n")
        f_vec.flush()
        f_tok.flush()
        f_rows.write("".join(lines).encode())
        f_rows.flush()
        self.rows += len(texts)

    def close(self) -> None:
        if self._files is not None:
            for f in self._files:
                f.close()
            self._files = None

    def clear(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.rows = 0
