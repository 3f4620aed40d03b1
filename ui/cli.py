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
            help="Require a login read from this file: one line USER:PASSWORD per user (keep it "
            "chmod 600; blank lines and lines starting with # are skipped).",
        ),
    ] = None,
    auth_prompt: Annotated[
        bool,
        typer.Option(
            "--auth-prompt", help="Require a login: ask for the user and password (not echoed)."
        ),
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Another host name the chat may be opened at (repeatable), e.g. the machine's "
            "name behind --host 0.0.0.0. Requests for any other Host are refused (DNS rebinding).",
        ),
    ] = None,
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
        allowed_hosts=allowed_host or (),
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
        return read_auth_file(auth_file)
    if prompt:
        user = typer.prompt("User", err=True).strip()
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        return parse_auth(f"{user}:{password}")
    return parse_auth(auth)


def read_auth_file(path: Path):
    """The logins of an ``--auth-file``: one ``USER:PASSWORD`` per line (blank lines and ``#``
    comments skipped). One user gives ``(user, password)``, several a list of them. A password is
    taken exactly as written: a line whose password starts or ends with white space, a repeated
    user or a line that is not USER:PASSWORD refuses the file, naming the line."""
    from ui.app import parse_auth

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ValueError(f"--auth-file {path}: cannot be read ({reason})") from None
    logins: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"--auth-file {path}, line {number}"
        user, sep, password = line.partition(":")
        if sep and password != password.strip():
            raise ValueError(
                f"{where}: the password starts or ends with white space, which is easy to type "
                "by mistake; remove it (passwords are taken exactly as written)"
            )
        try:
            user, password = parse_auth(line)
        except ValueError:
            raise ValueError(f"{where}: is not USER:PASSWORD; write one login per line") from None
        if user in logins:
            raise ValueError(f"{where}: user {user!r} is given twice; keep one line per user")
        logins[user] = password
    if not logins:
        raise ValueError(f"--auth-file {path} is empty: write one line USER:PASSWORD per user")
    pairs = list(logins.items())
    return pairs[0] if len(pairs) == 1 else pairs
