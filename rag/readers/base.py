"""What every reader returns (``Extracted``) and raises (``ReadError``): the readers import these
from here, and ``rag.readers`` re-exports them, so no reader imports its package back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


class ReadError(ValueError):
    """A file cannot be read; the message says why and what to do (without the file name,
    which the caller puts in front)."""


@dataclass
class Extracted:
    text: str
    kind: str
    pages: list[int] = field(default_factory=list)  # char offset where page i+1 starts (PDF)
    title: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)
