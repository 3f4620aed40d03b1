"""``rag chat``: the browser chat's command, registered into the ``rag`` CLI by its entry point
(``[project.entry-points."rag.commands"]`` in pyproject.toml), so the library never imports the app.

It parses, checks the port and the login before the model loads, and serves ``ui.app``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rag.cli import (
    CorpusOpt,
    KOpt,
    LlmModelOpt,
    LlmUrlOpt,
    MilvusUriOpt,
    ModeOpt,
    StoreOpt,
    make_bot,
    user_errors,
)


def register(app: typer.Typer) -> None:
    """Add ``chat`` to the ``rag`` command."""
    app.command()(user_errors(chat))


def chat(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 127.0.0.1 = this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 7860,
    corpus: CorpusOpt = None,
    mode: ModeOpt = None,
    k: KOpt = None,
    auth: Annotated[
        str | None,
        typer.Option(
            "--auth",
            envvar="RAG_AUTH",
            show_envvar=True,
            help="Require a login, as USER:PASSWORD. Visible to other users in `ps`: prefer "
            "--auth-file, --auth-prompt or the RAG_AUTH environment variable.",
        ),
    ] = None,
    auth_file: Annotated[
        Path | None,
        typer.Option(
            "--auth-file",
            help="Require a login read from this file: one line USER:PASSWORD (keep it chmod 600).",
        ),
    ] = None,
    auth_prompt: Annotated[
        bool,
        typer.Option(
            "--auth-prompt", help="Require a login: ask for the user and password (not echoed)."
        ),
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Questions answered at once.")
    ] = 4,
    llm_url: LlmUrlOpt = None,
    llm_model: LlmModelOpt = None,
    store: StoreOpt = None,
    milvus_uri: MilvusUriOpt = None,
) -> None:
    """Open the browser chat (cited answers, sources, feedback) at http://HOST:PORT."""
    from ui.app import check_concurrency, check_port, check_port_free, page_for, serve

    login = resolve_login(auth, auth_file, auth_prompt)
    check_port(port)
    check_concurrency(concurrency)
    check_port_free(host, port)  # before the model loads
    bot = make_bot(
        corpus,
        mode=mode,
        k=k,
        llm_url=llm_url,
        llm_model=llm_model,
        store=store,
        milvus_uri=milvus_uri,
    )
    typer.echo("Loading the model and the index...", err=True)
    demo, url = serve(
        bot,
        host=host,
        port=port,
        auth=login,
        concurrency=concurrency,
        warn=lambda m: typer.echo(m, err=True),
        **page_for(corpus),
    )
    typer.echo(f"Chat ready at {url}  (Ctrl+C to stop; feedback -> {bot.settings.feedback_path()})")
    sys.stdout.flush()
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()


def resolve_login(auth: str | None, auth_file: Path | None, prompt: bool):
    """The login from exactly one of --auth (or RAG_AUTH), --auth-file and --auth-prompt."""
    from ui.app import parse_auth

    given = [
        n for n, v in (("--auth", auth), ("--auth-file", auth_file), ("--auth-prompt", prompt)) if v
    ]
    if len(given) > 1:
        raise ValueError(f"use one of {', '.join(given)}, not several (RAG_AUTH counts as --auth)")
    if auth_file is not None:
        try:
            lines = auth_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ValueError(f"--auth-file {auth_file}: cannot be read ({reason})") from None
        value = next((line.strip() for line in lines if line.strip()), "")
        if not value:
            raise ValueError(f"--auth-file {auth_file} is empty: write one line USER:PASSWORD")
        return parse_auth(value)
    if prompt:
        user = typer.prompt("User", err=True).strip()
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        return parse_auth(f"{user}:{password}")
    return parse_auth(auth)
