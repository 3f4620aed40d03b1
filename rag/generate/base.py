"""The generation stage's interface: ``Source``s in, an ``Answer`` out, behind one protocol.

A generator runs after the extractive answer is selected. It gets that ``Answer`` and the passages
it cites as numbered ``Source``s, and returns the ``Answer`` to show. Two implement it:
``ExtractiveGenerator`` (the default: the selected answer as it is) and
``rag.generate.openai_compat.OpenAICompatGenerator`` (the user's LLM, every sentence checked by
``rag.generate.grounding``). Answerability is decided before this stage: an abstention is never
handed to an LLM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from rag.answer_types import Answer, Citation

GENERATORS = ("extractive", "llm")

OnToken = Callable[[str], None]


class GenerationError(RuntimeError):
    """The LLM endpoint failed (unreachable, timed out, HTTP error, empty or malformed reply); the
    message is one line a user can read, and never holds the API key."""


@dataclass
class SourceUnit:
    """A sentence or list item of a source, with its place in the document and its vectors."""

    text: str
    char_start: int
    char_end: int
    line: int
    vector: np.ndarray | None = None  # sentence vector (unit length)
    tokens: np.ndarray | None = None  # content-token vectors (unit length), may be empty
    instruction: bool = False  # reads as instructions to an AI assistant: never support


@dataclass
class Source:
    """One numbered passage the LLM is given: the cited passage of the extractive answer."""

    number: int  # the [n] the LLM sees
    text: str  # the passage's display text
    heading: str
    citation: Citation  # the extractive citation it comes from (document, section, lines)
    units: list[SourceUnit] = field(default_factory=list)
    raw_text: str = ""  # the chunk's exact document text, for a citation's source_text
    raw_start: int = 0  # document offset of raw_text

    @property
    def instructions(self) -> list[SourceUnit]:
        """Its units that read as instructions to an AI assistant (``rag.instructions``)."""
        return [u for u in self.units if u.instruction]

    @property
    def data_text(self) -> str:
        """Its text without those units: what a generated sentence may be checked against."""
        if not self.instructions:
            return self.text
        return " ".join(u.text for u in self.units if not u.instruction)


@runtime_checkable
class Generator(Protocol):
    """``run(answer, sources, on_token) -> Answer``: the answer to show for a selected answer."""

    name: str

    def run(
        self, answer: Answer, sources: list[Source], on_token: OnToken | None = None
    ) -> Answer: ...


class ExtractiveGenerator:
    """Today's answers: the quoted sentences the answer stage selected, unchanged."""

    name = "extractive"

    def run(self, answer: Answer, sources: list[Source], on_token: OnToken | None = None) -> Answer:
        answer.generator = "extractive"
        return answer


def check_generator(name: str | None) -> str | None:
    if name is not None and name not in GENERATORS:
        raise ValueError(
            f"generator={name!r} is not a generator: use one of {', '.join(GENERATORS)}"
        )
    return name
