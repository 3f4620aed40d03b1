"""The answer stage: question analysis, candidate units, features, the trained scorer,
answerability checks, selection and rendering. ``Composer`` chains them (see ``compose.py``).

Names are imported lazily, so ``rag.settings`` can import ``rag.answer.config`` without pulling
in the index and model code (and without an import cycle)."""

from importlib import import_module

_EXPORTS = {
    "AnswerConfig": "rag.answer.config",
    "Composer": "rag.answer.compose",
    "Judgement": "rag.answer.compose",
    "QuestionAnalysis": "rag.answer.question",
    "analyse": "rag.answer.question",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rag.answer' has no attribute {name!r}")
