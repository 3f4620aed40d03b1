"""The ``rag`` command: a thin layer that parses, calls the library and prints.

Errors a user can fix (bad setting, unreadable corpus, empty question, a path that cannot be
written) are printed to stderr as one line starting with ``error:`` and exit with status 2; anything
unexpected prints one line and exits with status 1 (set ``RAG_DEBUG=1`` to see the traceback). An
environment variable starting with ``RAG_`` that names no setting is warned about.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Ask questions about a folder of markdown documents; every answer cites its sources.",
)


@app.callback()
def _main() -> None:
    """Ask questions about a folder of markdown documents; every answer cites its sources."""
    from rag.settings import Settings

    for name in Settings.unknown_env():
        typer.echo(
            f"warning: the environment variable {name} names no setting and is ignored "
            "(see the settings table in the README; a setting is RAG_<NAME>, e.g. RAG_K=8)",
            err=True,
        )


CorpusOpt = Annotated[
    str | None,
    typer.Option(
        "--corpus",
        help="Folder of documents: PDF, Word, HTML, markdown, text (default: the bundled profile).",
    ),
]
ModeOpt = Annotated[str | None, typer.Option("--mode", help="Retrieval: dense, bm25 or hybrid.")]
KOpt = Annotated[int | None, typer.Option("--k", help="Number of passages to retrieve.")]
LlmUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--llm-url",
        help="Your OpenAI-compatible endpoint's base URL (e.g. http://127.0.0.1:11434/v1): answers "
        "are written by that LLM, each sentence checked against its sources. Key: RAG_LLM_API_KEY.",
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Where chunks are searched: embedded (FAISS + BM25 in the data folder, the default) "
        "or milvus (RAG_MILVUS_URI; token: RAG_MILVUS_TOKEN).",
    ),
]
MilvusUriOpt = Annotated[
    str | None,
    typer.Option(
        "--milvus-uri",
        help="With --store milvus: a milvus-lite file (./milvus.db) or a server "
        "(http://host:19530). Default: milvus.db in the data folder.",
    ),
]
LlmModelOpt = Annotated[
    str | None, typer.Option("--llm-model", help="The model name the endpoint serves.")
]


def user_errors(func):
    """Turn the library's user-facing errors into one stderr line and an exit status."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from rag.chatbot import QuestionError
        from rag.documents import CorpusError
        from rag.embedding import EmbeddingError
        from rag.index.milvus import MilvusError
        from rag.settings import SettingsError

        try:
            return func(*args, **kwargs)
        except (
            QuestionError,
            CorpusError,
            SettingsError,
            EmbeddingError,
            MilvusError,
            ValueError,
        ) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except OSError as exc:  # a path the user gave (or RAG_DATA_DIR) cannot be used
            if os.environ.get("RAG_DEBUG"):
                raise
            where = exc.filename or "a file"
            typer.echo(
                f"error: cannot use {where}: {exc.strerror or exc}; check that the folder exists "
                "and is writable (--corpus, RAG_DATA_DIR / --data-dir, --out)",
                err=True,
            )
            raise typer.Exit(2) from None
        except Exception as exc:
            if os.environ.get("RAG_DEBUG"):
                raise
            typer.echo(
                f"internal error: {type(exc).__name__}: {exc} (set RAG_DEBUG=1 for the traceback)",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def make_bot(corpus: str | Path | None = None, **settings):
    from rag.chatbot import Chatbot

    if corpus is not None:  # "" is refused by Settings, not taken as the current folder
        settings["corpus_dir"] = corpus
    return Chatbot.from_corpus(None, **settings)


def format_answer(answer) -> str:
    """Human-readable answer: text, notices, then numbered sources with their quotes; no control
    character or escape sequence from a document survives."""
    lines = [answer.text]
    for notice in answer.notices:
        lines.append(f"note: {notice}")
    if answer.rewritten_query != answer.question:
        lines.append(f"(understood as: {answer.rewritten_query})")
    if getattr(answer, "generator", "extractive") == "llm":
        lines.append("(written by the LLM; every sentence checked against the sources it cites)")
    if getattr(answer, "quoted_from", ""):
        lines.append(answer.quoted_from)
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for c in [*answer.citations, *getattr(answer, "conflicts", [])]:
            lines.append(
                f"  [{c.number}] {c.heading} — {c.document}, {c.where}"
                + (f" (the file {c.changed} since it was indexed)" if c.changed else "")
            )
            lines.append(f'      "{c.quote}"')
    else:
        lines.append("")
        lines.append(f"({answer.reason})")
    from rag.unicode import terminal_safe

    # a document's escape sequences (OSC links, colours, title changes) never reach the terminal
    return terminal_safe("\n".join(lines))


def _quiet_bot(corpus: str | Path | None, **settings):
    """A bot whose unreadable-file notices are printed by the command itself, as errors."""
    from rag.chatbot import Chatbot
    from rag.settings import Settings

    kwargs = {"corpus_dir": corpus} if corpus is not None else {}
    return Chatbot(Settings.make(**kwargs, **settings), notify=lambda message: None)


def _build(bot) -> None:
    """Build the index incrementally, print what was done, and one ``error:`` line per file that
    could not be read (exit status 2 after the readable ones are indexed)."""
    import time

    t0 = time.perf_counter()
    idx = bot.reindex()  # tqdm bars on a terminal, a log line otherwise
    m = idx.manifest
    e = m.get("embedded", {})
    typer.echo(
        f"Indexed {len(m['corpus'])} document(s), {m['n_chunks']} chunks, {m['n_units']} units "
        f"with {m['model']} in {time.perf_counter() - t0:.1f}s -> {bot.settings.index_dir()} "
        f"(embedded {e.get('chunks', 0)} new chunk(s), {e.get('units', 0)} new unit(s))"
    )
    for name, kept in m.get("duplicates", {}).items():
        typer.echo(f"note: {name} has the same content as {kept}; indexed once")
    problems = list(m.get("problems", {}).values())
    for message in problems:
        typer.echo(f"error: {message}", err=True)
    if problems:
        raise typer.Exit(2)


@app.command()
@user_errors
def index(
    corpus: CorpusOpt = None, store: StoreOpt = None, milvus_uri: MilvusUriOpt = None
) -> None:
    """Build (or rebuild) the index of a corpus folder (and bring the Milvus store to it)."""
    _build(_quiet_bot(corpus, store=store, milvus_uri=milvus_uri))


@app.command()
@user_errors
def add(
    files: Annotated[
        list[Path], typer.Argument(help="PDF, Word (.docx), HTML, markdown or text files.")
    ],
    corpus: CorpusOpt = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Only copy; a running chat indexes them itself.")
    ] = False,
) -> None:
    """Add documents: check each, copy it into the corpus folder, and index the new ones."""
    from rag.library import add_file

    bot = _quiet_bot(corpus)
    s = bot.settings
    failed = 0
    for path in files:
        result = add_file(
            s.corpus_dir,
            path,
            max_bytes=int(s.upload_max_mb * 2**20),
            cache_dir=bot.store().cache_dir,
        )
        if result.status == "error":
            failed += 1
            typer.echo(f"error: {result.message}", err=True)
        else:
            typer.echo(result.message)
    if not no_index and failed < len(files):
        _build(bot)
    if failed:
        raise typer.Exit(2)


@app.command()
@user_errors
def remove(
    names: Annotated[list[str], typer.Argument(help="Document names, as `rag docs` lists them.")],
    corpus: CorpusOpt = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Only move the file.")] = False,
) -> None:
    """Remove documents from the corpus folder (into the trash: `rag restore` brings them back)
    and from the index."""
    from rag.library import remove_document

    bot = _quiet_bot(corpus)
    s = bot.settings
    for name in names:
        removed = remove_document(s.corpus_dir, name, s.trash_dir())
        typer.echo(f"removed {removed} (`rag restore {removed}` brings it back)")
    if not no_index:
        _build_or_empty(bot)


@app.command()
@user_errors
def restore(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Removed documents to bring back; none: list what the trash holds."),
    ] = None,
    corpus: CorpusOpt = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Only move the file.")] = False,
) -> None:
    """Bring removed documents back from the trash (the latest removal of each name)."""
    from rag.library import restore_document, trash_entries

    bot = _quiet_bot(corpus)
    s = bot.settings
    if not names:
        entries = trash_entries(s.trash_dir(), s.corpus_dir)
        if not entries:
            typer.echo("the trash holds no document removed from this corpus")
        for e in entries:
            typer.echo(f"{e['path']}  (removed {e['removed']})")
        return
    for name in names:
        typer.echo(f"restored {restore_document(s.trash_dir(), s.corpus_dir, name)}")
    if not no_index:
        _build(bot)


def _build_or_empty(bot) -> None:
    """``_build``, where an empty corpus is a valid result (the last document was removed)."""
    from rag.documents import EmptyCorpusError

    try:
        _build(bot)
    except EmptyCorpusError:
        typer.echo(
            f"the corpus {bot.settings.corpus_dir} holds no document now; questions are answered "
            'with "no documents" until you add one (`rag add FILE`)'
        )


@app.command()
@user_errors
def docs(
    corpus: CorpusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """List the documents: type, entity, period, pages, sections, chunks and when each was
    indexed (``--json`` adds title, aliases and the reader)."""
    from rag.library import document_rows

    bot = _quiet_bot(corpus)
    rows = document_rows(bot.index.manifest)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(
        f"{'name':36} {'type':16} {'entity':24} {'period':10} {'pages':>5} {'sections':>8} "
        f"{'chunks':>6}  indexed / status"
    )
    for r in rows:
        status = r["indexed"] if r["status"] == "indexed" else r["status"]
        typer.echo(
            f"{r['name'][:36]:36} {r['type'][:16]:16} {(r.get('entity') or '-')[:24]:24} "
            f"{r.get('period') or '-':10} {r['pages'] or '-':>5} {r['sections']:>8} "
            f"{r['chunks']:>6}  {status}"
        )
        aliases = [a for a in r.get("aliases") or [] if a != r.get("entity")]
        if aliases:
            typer.echo(f"{'':36} also: {', '.join(aliases)}")


@app.command()
@user_errors
def ask(
    question: Annotated[str, typer.Argument(help="The question; quote it.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
    corpus: CorpusOpt = None,
    mode: ModeOpt = None,
    k: KOpt = None,
    history: Annotated[
        list[str] | None,
        typer.Option("--history", help="An earlier question (repeat, oldest first)."),
    ] = None,
    llm_url: LlmUrlOpt = None,
    llm_model: LlmModelOpt = None,
    store: StoreOpt = None,
    milvus_uri: MilvusUriOpt = None,
    doc: Annotated[
        list[str] | None,
        typer.Option(
            "--doc", help="Answer only from this document (its name in `rag docs`; repeat)."
        ),
    ] = None,
) -> None:
    """Answer one question from the documents, with numbered sources."""
    bot = make_bot(
        corpus,
        mode=mode,
        k=k,
        llm_url=llm_url,
        llm_model=llm_model,
        store=store,
        milvus_uri=milvus_uri,
    )
    on_token = None
    if bot.settings.has_llm and not as_json and sys.stderr.isatty():

        def on_token(text: str) -> None:  # the draft streams to the terminal, then is checked
            sys.stderr.write(text)
            sys.stderr.flush()

    answer = bot.ask(question, history=history or None, on_token=on_token, filters=doc or None)
    if on_token is not None:
        sys.stderr.write("\n--- checked against the sources:\n")
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(format_answer(answer))


@app.command()
@user_errors
def repair(
    file: Annotated[Path, typer.Argument(help="A text or markdown file.")],
    show_diff: Annotated[bool, typer.Option("--diff", help="Print only the changes.")] = False,
) -> None:
    """Print FILE with fused words repaired ("globaleader" -> "global leader")."""
    from rag.documents import load_document
    from rag.repair import diff, repair_text

    if file.is_dir():
        raise ValueError(f"{file}: is a folder; pass one text or markdown file in it")
    if not file.is_file():
        raise ValueError(f"{file}: no such file; pass a text or markdown file")
    real = file.resolve()  # a link is read where it points: one file, no corpus folder to leave
    doc = load_document(real, real.parent)
    fixed, edits = repair_text(doc.text)
    if show_diff:
        typer.echo(diff(doc.text, fixed, file.name), nl=False)
    else:
        typer.echo(fixed, nl=False)
    typer.echo(f"{len(edits)} repair(s)", err=True)


feedback_app = typer.Typer(no_args_is_help=True, help="Likes and dislikes given in the chat.")
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
@user_errors
def feedback_export(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write JSONL to this file (default: stdout).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data folder holding feedback.jsonl.")
    ] = None,
) -> None:
    """Export the feedback log (one JSON object per vote) after checking each line."""
    from rag.feedback import FeedbackLog
    from rag.outputs import check_out_file
    from rag.settings import Settings

    if out is not None:
        check_out_file(out)
    path = Settings.make(data_dir=data_dir).feedback_path()
    text, n, skipped = FeedbackLog(path).export(out)
    if out is None:
        sys.stdout.write(text)
    note = f", skipped {skipped} unreadable line(s)" if skipped else ""
    typer.echo(f"{n} vote(s) from {path}{note}" + (f" -> {out}" if out else ""), err=True)


@app.command()
@user_errors
def train(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Folder of the SQuAD 2.0 sets (default: ../shared/datasets)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the model (default: the bundled one)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many questions per set.")
    ] = None,
) -> None:
    """Rebuild the answer model from the training question sets (see rag/train.py)."""
    from rag import train as training
    from rag.answer.model import DEFAULT_PATH

    data = data or training.DEFAULT_DATA
    if not data.is_dir():
        raise FileNotFoundError(
            f"no training data folder at {data}: pass --data with the folder holding "
            "squad2-train/ and squad2-dev/"
        )
    sets = training.default_sets(data)
    for s in sets:
        s.limit = limit
        if not s.questions.is_file() or not s.corpus.is_dir():
            raise FileNotFoundError(f"{s.name}: {s.questions} or {s.corpus} is missing")
    training.train(sets, out or DEFAULT_PATH, progress=lambda m: typer.echo(m, err=True))


@app.command("eval")
@user_errors
def eval_command(
    questions: Annotated[
        Path, typer.Argument(help="Question file: .jsonl (or .csv), one per line.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder: new, empty or an earlier run (default: a new timestamped one "
            "in eval/runs/ under the current folder).",
        ),
    ] = None,
    corpus: CorpusOpt = None,
    mode: ModeOpt = None,
    k: KOpt = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Run several modes (dense,bm25,hybrid) or generators (extractive,llm) side by side.",
        ),
    ] = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option("--fail-under", help="METRIC=VALUE; exit 1 if the metric is lower (repeat)."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", help="Ask only the questions with this tag (repeat for any of several)."
        ),
    ] = None,
    llm_url: LlmUrlOpt = None,
    llm_model: LlmModelOpt = None,
    store: StoreOpt = None,
    milvus_uri: MilvusUriOpt = None,
) -> None:
    """Answer every question of a file, score the answers, and write results and reports."""
    from rag import evaluation as ev
    from rag.generate import GENERATORS
    from rag.outputs import check_run_dir
    from rag.retrieval import check_mode

    thresholds = ev.parse_thresholds(fail_under or [])
    if compare and mode:
        raise ValueError("use either --mode or --compare, not both")
    modes = [m.strip() for m in compare.split(",") if m.strip()] if compare else [mode]
    if compare and not modes:
        raise ValueError(f"--compare {compare!r} names no mode: use e.g. dense,bm25,hybrid")
    gens = [m for m in modes if m in GENERATORS]
    if gens and len(gens) != len(modes):
        raise ValueError(f"--compare {compare!r} mixes modes and generators: compare one kind")
    for m in modes:
        if m is not None and m not in GENERATORS:
            check_mode(m)
    ev.load_questions(questions)  # a bad file fails before the model loads
    out = check_run_dir(out) if out is not None else ev.default_out_dir()  # ...and so does --out
    # cheap: the model and index load on the first run
    bot = make_bot(
        corpus,
        mode=mode,
        k=k,
        llm_url=llm_url,
        llm_model=llm_model,
        store=store,
        milvus_uri=milvus_uri,
    )
    if "llm" in gens and not bot.settings.has_llm:
        raise ValueError(
            "--compare names llm but no endpoint is set: pass --llm-url and --llm-model"
        )
    summaries: dict[str, dict] = {}
    for m in modes:
        gen, m_mode = (m, mode) if m in GENERATORS else (None, m)
        summary = ev.evaluate(
            questions,
            bot=bot,
            out_dir=out / m if compare else out,
            mode=m_mode,
            k=k,
            progress=True,
            generator=gen,
            tags=tag or (),
        )
        summaries[m or summary["mode"] or "value"] = summary
    typer.echo(ev.format_table(summaries))
    if compare:
        ev.write_atomic(out / "compare.json", json.dumps(summaries, indent=2) + "\n")
        ev.write_atomic(out / "compare.txt", ev.format_table(summaries) + "\n")
    typer.echo(f"results and reports in {out}", err=True)
    problems = []
    for name, summary in summaries.items():
        prefix = f"[{name}] " if compare else ""
        if summary["n_errors"]:
            problems.append(
                f"{prefix}{summary['n_errors']} question(s) raised an error (see results.jsonl)"
            )
        problems += [prefix + p for p in ev.check_thresholds(summary, thresholds)]
    for p in problems:
        typer.echo(f"FAIL: {p}", err=True)
    if problems:
        raise typer.Exit(1)


def _register_apps() -> None:
    """Commands of the apps built on the library (``rag chat`` from ``ui``, ``rag bench`` from
    ``bench``) come from the ``rag.commands`` entry points: the library never imports its apps.
    An app that cannot be imported is left out with a warning; the other commands still work."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="rag.commands"):
        try:
            ep.load()(app)
        except Exception as exc:  # noqa: BLE001 - a broken app must not break the library's CLI
            print(f"warning: the {ep.name!r} command is unavailable ({exc})", file=sys.stderr)


_register_apps()
