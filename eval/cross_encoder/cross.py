"""Cross-encoder answer scorer: P(this sentence answers the question).

Self-contained inference module (onnxruntime + tokenizers + numpy; no torch).

    scorer = CrossScorer.load("eval/cross_encoder/artifact")
    probs = scorer.score("Who built it?", ["It was built by Watt.", "It is red."],
                         contexts=["The engine was improved.", ""])

The artifact folder holds ``model.onnx``, ``tokenizer.json`` and ``cross_config.json``
(``format_version``, ``max_length``, ``max_question_tokens``, calibration ``platt_a``/``platt_b``,
and the answerability ``threshold`` chosen on training articles). Heavy state (the onnxruntime
session, the tokenizer) is created on first use, not at ``load``.

Input layout (must match training; ``encode_pairs`` is shared with ``train_cross.py``):
``[CLS] question [SEP] sentence [SEP] previous-sentence [SEP]`` with token type 0 for the question
part and 1 for the rest. The question is cut to ``max_question_tokens``; the context is cut first
(keeping its end, the words next to the sentence), then the sentence.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
CONFIG_NAME = "cross_config.json"
MODEL_NAME = "model.onnx"
TOKENIZER_NAME = "tokenizer.json"


class ArtifactError(ValueError):
    """The artifact folder is missing a file or has an unsupported format."""


def encode_pairs(
    tokenizer: Any,
    questions: Sequence[str],
    texts: Sequence[str],
    contexts: Sequence[str] | None = None,
    max_length: int = 128,
    max_question_tokens: int = 40,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode (question, sentence, context) triples into padded int64 arrays.

    ``tokenizer`` is a ``tokenizers.Tokenizer`` (BERT WordPiece). Returns input_ids,
    attention_mask, token_type_ids, each of shape (n, longest row).
    """
    if len(questions) != len(texts):
        raise ValueError("questions and texts must have the same length")
    if contexts is None:
        contexts = [""] * len(texts)
    if len(contexts) != len(texts):
        raise ValueError("contexts must have the same length as texts")
    cls_id = tokenizer.token_to_id("[CLS]")
    sep_id = tokenizer.token_to_id("[SEP]")
    n = len(texts)
    enc = tokenizer.encode_batch(
        list(questions) + list(texts) + [c or "" for c in contexts], add_special_tokens=False
    )
    rows: list[tuple[list[int], list[int]]] = []
    for i in range(n):
        q = enc[i].ids[:max_question_tokens]
        t = enc[n + i].ids
        c = enc[2 * n + i].ids
        budget = max_length - len(q) - 3  # [CLS] q [SEP] t [SEP]
        t = t[: max(budget, 1)]
        budget -= len(t)
        c = c[-(budget - 1) :] if (c and budget > 1) else []
        ids = [cls_id, *q, sep_id, *t, sep_id]
        types = [0] * (len(q) + 2) + [1] * (len(t) + 1)
        if c:
            ids += [*c, sep_id]
            types += [1] * (len(c) + 1)
        rows.append((ids, types))
    width = max((len(r[0]) for r in rows), default=2)
    input_ids = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    types = np.zeros((n, width), dtype=np.int64)
    for i, (ids, ty) in enumerate(rows):
        input_ids[i, : len(ids)] = ids
        mask[i, : len(ids)] = 1
        types[i, : len(ty)] = ty
    return input_ids, mask, types


@dataclass
class CrossScorer:
    """Lazy onnxruntime cross-encoder. Use ``CrossScorer.load(folder)``."""

    path: Path
    config: dict
    threads: int = 1
    _session: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> CrossScorer:
        folder = Path(path)
        if not folder.is_dir():
            raise ArtifactError(
                f"cross-encoder folder {folder} does not exist; train it with train_cross.py"
            )
        for name in (CONFIG_NAME, MODEL_NAME, TOKENIZER_NAME):
            if not (folder / name).is_file():
                raise ArtifactError(f"{folder} has no {name}; re-run train_cross.py export")
        config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
        if config.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{folder / CONFIG_NAME} has format_version {config.get('format_version')!r}; "
                f"this module reads version {FORMAT_VERSION}"
            )
        return cls(path=folder, config=config, threads=threads)

    def _ensure(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            self._tokenizer = Tokenizer.from_file(str(self.path / TOKENIZER_NAME))
            self._tokenizer.no_padding()
            self._tokenizer.no_truncation()
            self._session = ort.InferenceSession(
                str(self.path / MODEL_NAME), sess_options=opts, providers=["CPUExecutionProvider"]
            )

    def logits(
        self, question: str, texts: Sequence[str], contexts: Sequence[str] | None = None
    ) -> np.ndarray:
        """Raw (uncalibrated) logits, one per text."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        self._ensure()
        if not self.config.get("uses_context", False):
            contexts = None  # the model was trained without the previous-sentence context
        ids, mask, types = encode_pairs(
            self._tokenizer,
            [question] * len(texts),
            texts,
            contexts,
            max_length=int(self.config.get("max_length", 128)),
            max_question_tokens=int(self.config.get("max_question_tokens", 40)),
        )
        (out,) = self._session.run(
            ["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        return out.reshape(-1).astype(np.float32)

    def score(
        self, question: str, texts: list[str], contexts: Sequence[str] | None = None
    ) -> np.ndarray:
        """Calibrated probabilities that each text answers the question.

        ``contexts`` (optional) gives, per text, the sentence before it in its document.
        """
        z = self.logits(question, texts, contexts)
        a = float(self.config.get("platt_a", 1.0))
        b = float(self.config.get("platt_b", 0.0))
        return 1.0 / (1.0 + np.exp(-(a * z + b)))

    @property
    def threshold(self) -> float:
        """Answerability threshold on max probability, chosen on training articles."""
        return float(self.config.get("threshold", 0.5))
