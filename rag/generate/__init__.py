"""Generation: one stage after the answer is selected, behind the ``Generator`` protocol.

    extractive      the selected quotes as they are (the default; ``base.ExtractiveGenerator``)
    llm             the user's OpenAI-compatible endpoint (``openai_compat``), each sentence checked
                    against its sources (``grounding``) before it is shown; the prompt is the one
                    documented file ``prompt.toml``

``make_generator(settings, embedder, name)`` builds one from ``Settings`` (``llm_url``, ``llm_model``,
``llm_timeout``, ``llm_idle_timeout``, ``llm_concurrency``, ``llm_max_reply_chars`` and the key from
``RAG_LLM_API_KEY``). Nothing here touches the network until an
answer is generated.
"""

from __future__ import annotations

from rag.generate.base import (
    GENERATORS,
    ExtractiveGenerator,
    GenerationError,
    Generator,
    Source,
    SourceUnit,
    check_generator,
)

__all__ = [
    "GENERATORS",
    "ExtractiveGenerator",
    "GenerationError",
    "Generator",
    "Source",
    "SourceUnit",
    "check_generator",
    "make_generator",
]


def make_generator(settings, embedder, name: str = "extractive") -> Generator:
    """The generator called ``name`` ("extractive" or "llm") for these settings."""
    check_generator(name)
    if name == "extractive":
        return ExtractiveGenerator()
    if not settings.has_llm:
        raise ValueError(
            "no LLM endpoint is configured: pass --llm-url URL --llm-model NAME "
            "(or set RAG_LLM_URL and RAG_LLM_MODEL)"
        )
    from rag.generate.grounding import GroundingChecker
    from rag.generate.openai_compat import ChatClient, OpenAICompatGenerator

    client = ChatClient(
        settings.llm_url,
        settings.llm_model,
        settings.llm_api_key,
        settings.llm_timeout,
        idle=settings.llm_idle_timeout,
        max_chars=settings.llm_max_reply_chars,
    )
    checker = GroundingChecker(embedder).warm_up()
    return OpenAICompatGenerator(
        client, checker, stream=settings.llm_stream, slots=settings.llm_concurrency
    )
