"""``rag bench``: the benchmarks' command, registered into the ``rag`` CLI by its entry point
(``[project.entry-points."rag.commands"]`` in pyproject.toml), so the library never imports it."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the ``rag`` command."""
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )(bench)


def bench(ctx: typer.Context) -> None:
    """Benchmark speed and scale, save JSON + PNG (same options as `python -m bench --help`)."""
    from bench.__main__ import main

    raise typer.Exit(main(list(ctx.args)))
