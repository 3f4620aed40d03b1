"""Retrieval-augmented, extractive Q&A over a folder of markdown documents, with cited answers.

Importing ``rag`` is cheap: the model, FAISS and the index load on the first question.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Answer", "Chatbot", "Citation", "Passage", "Settings", "evaluate"]


def __getattr__(name: str):
    if name == "Chatbot":
        from rag.chatbot import Chatbot

        return Chatbot
    if name in ("Answer", "Citation"):
        from rag import answer_types

        return getattr(answer_types, name)
    if name == "Passage":
        from rag.retrieval import Passage

        return Passage
    if name == "Settings":
        from rag.settings import Settings

        return Settings
    if name == "evaluate":
        from rag.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
