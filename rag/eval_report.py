"""Human-readable reports of an evaluation run: ``report.md``, ``report.html`` and PNG plots.

Input is what ``rag.evaluation`` writes (the summary dict and the results.jsonl records), so a report
can be rebuilt from a run folder. Every piece of text that reaches the HTML is escaped. Plots are
drawn on matplotlib's Agg canvas directly (no pyplot, no global backend switch, no display needed).
This module computes no metric.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from rag.atomic import write_atomic
from rag.metrics import (
    GATE_METRICS,
    LATENCY_METRICS,
    METRICS,
    PAGE_METRICS,
    format_value,
    percentile,
)

MAX_ANSWER_CHARS = 600


# ---- plots ------------------------------------------------------------------------------------------


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def latency_plot(results: list[dict]) -> bytes | None:
    """Histogram of per-question latency in ms, with p50 and p95 marked."""
    from matplotlib.figure import Figure

    values = [r["latency_ms"] for r in results if r.get("latency_ms") is not None]
    if not values:
        return None
    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.add_subplot()
    ax.hist(values, bins=min(30, max(5, len(values) // 3)), color="#4c78a8")
    for p, style in ((50, "--"), (95, ":")):
        v = percentile(values, p)
        ax.axvline(v, color="#e45756", linestyle=style, label=f"p{p} = {v:.1f} ms")
    ax.set_xlabel("latency per question (ms)")
    ax.set_ylabel("questions")
    ax.legend()
    return _png(fig)


def reliability_plot(summary: dict) -> bytes | None:
    """Predicted against observed answerability, per bin of the calibrated P(answerable), with
    the diagonal of perfect calibration and the share of questions in each bin."""
    from matplotlib.figure import Figure

    rows = summary.get("reliability") or []
    if not rows:
        return None
    fig = Figure(figsize=(4.8, 4.2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle="--", label="perfect calibration")
    xs = [r["predicted"] for r in rows]
    ys = [r["observed"] for r in rows]
    sizes = [20 + 400 * r["n"] / max(sum(r["n"] for r in rows), 1) for r in rows]
    ax.plot(xs, ys, color="#4c78a8", marker="o", linewidth=1)
    ax.scatter(xs, ys, s=sizes, color="#4c78a8", alpha=0.5, label="questions (area = count)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted P(answerable)")
    ax.set_ylabel("observed share answerable")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def section_plot(summary: dict) -> bytes | None:
    """Horizontal bars: section hit@1 and hit@3 rate per expected section."""
    from matplotlib.figure import Figure

    rows = summary.get("by_section") or {}
    if not rows:
        return None
    names = list(rows)[::-1]
    fig = Figure(figsize=(7.0, 0.9 + 0.32 * len(names)))
    ax = fig.add_subplot()
    ys = range(len(names))
    ax.barh(
        [y + 0.2 for y in ys],
        [rows[n]["hit@3_rate"] for n in names],
        height=0.4,
        label="hit@3",
        color="#9ecae9",
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [rows[n]["hit@1_rate"] for n in names],
        height=0.4,
        label="hit@1",
        color="#4c78a8",
    )
    ax.set_yticks(list(ys), [f"{n} ({rows[n]['n']})" for n in names], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of questions whose expected section was retrieved")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _png(fig)


# ---- content shared by both formats ------------------------------------------------------------------


def _summary_rows(summary: dict) -> list[tuple[str, str, str]]:
    """(metric, value, over) rows; ``over`` is the count behind it or the reason it is null."""
    rows = []
    counts = summary.get("counts", {})
    reasons = summary.get("null_reasons", {})
    paged = [m for m in PAGE_METRICS if m in summary["metrics"]]
    for name in (
        *METRICS[: METRICS.index("abstention_precision")],
        *paged,
        *METRICS[METRICS.index("abstention_precision") :],
    ):
        value = summary["metrics"].get(name)
        if value is None:
            over = reasons.get(name, "")
        elif name in GATE_METRICS and name in counts:
            c = counts[name]
            over = f"{c['num']:g} / {c['den']}"
        elif name.startswith("abstention_"):
            c = counts.get("abstention", {})
            over = f"tp={c.get('tp')} fp={c.get('fp')} fn={c.get('fn')}"
        elif name in LATENCY_METRICS:
            over = f"{summary['n'] - summary.get('n_errors', 0)} answers"
        else:
            over = ""
        rows.append((name, format_value(name, value), over))
    return rows


def _run_facts(summary: dict) -> list[tuple[str, str]]:
    return [
        (
            "questions",
            f"{summary.get('questions') or '(list)'}: {summary['n']} "
            f"({summary['n_answerable']} answerable, {summary['n_unanswerable']} not)",
        ),
        ("passed", f"{summary['n_passed']} / {summary['n']}"),
        ("errors", str(summary.get("n_errors", 0))),
        ("mode, k", f"{summary.get('mode')}, {summary.get('k')}"),
        ("model", str(summary.get("model"))),
        ("corpus hash", str(summary.get("corpus_hash"))),
        ("started", str(summary.get("started_at"))),
        ("duration", f"{summary.get('duration_s')} s (warm-up {summary.get('warm_up_ms')} ms)"),
    ]


def _failure(r: dict) -> dict:
    exp = r["expected"]
    if exp["answerable"]:
        expected = exp.get("reference") or ""
        if exp["must_include"]:
            expected += f" [must include: {', '.join(exp['must_include'])}]"
        if exp["sections"]:
            expected += f" [sections: {'; '.join(exp['sections'])}]"
    else:
        expected = "abstain (the documents cannot answer this)"
    answer = r.get("answer") or ""
    if len(answer) > MAX_ANSWER_CHARS:
        answer = answer[:MAX_ANSWER_CHARS] + " …"
    got = r.get("error") or ("[abstained] " if r.get("abstained") else "") + answer
    cited = [" > ".join(c.get("heading_path") or []) for c in r.get("citations", [])]
    top = [" > ".join(p.get("heading_path") or []) for p in r.get("passages", [])[:3]]
    return {
        "id": r["id"],
        "question": r["question"],
        "history": r.get("history") or [],
        "rewritten": r.get("rewritten_query"),
        "expected": expected.strip(),
        "got": got,
        "why": r.get("failures", []),
        "cited": cited,
        "top": top,
    }


def _history_text(history: list) -> str:
    return " / ".join(
        h if isinstance(h, str) else f"{h.get('role')}: {h.get('content')}" for h in history
    )


# ---- markdown ---------------------------------------------------------------------------------------


def _failure_rows(f: dict) -> list[tuple[str, str]]:
    """The labelled facts of one failure, in report order (both reports render these)."""
    rows = []
    if f["history"]:
        rows.append(("after", _history_text(f["history"])))
    if f["rewritten"] and f["rewritten"] != f["question"]:
        rows.append(("understood as", f["rewritten"]))
    rows += [
        ("why", "; ".join(f["why"])),
        ("expected", f["expected"]),
        ("got", f["got"]),
        ("cited sections", "; ".join(f["cited"]) or "(none)"),
        ("top passages", "; ".join(f["top"]) or "(none)"),
    ]
    return rows


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(summary: dict, results: list[dict], plots: dict[str, str]) -> str:
    out = ["# Evaluation report", ""]
    out += [f"- **{k}**: {_md_cell(v)}" for k, v in _run_facts(summary)]
    out += ["", "## Summary", "", "| metric | value | over |", "| --- | ---: | --- |"]
    out += [f"| {m} | {v} | {_md_cell(o)} |" for m, v, o in _summary_rows(summary)]
    if summary.get("by_section"):
        out += [
            "",
            "## Section hit rate",
            "",
            "| section | questions | hit@1 | hit@3 |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, row in summary["by_section"].items():
            out.append(
                f"| {_md_cell(name)} | {row['n']} | {row['hit@1_rate']:.3f} | "
                f"{row['hit@3_rate']:.3f} |"
            )
    if summary.get("by_tag"):
        out += [
            "",
            "## Pass rate by tag",
            "",
            "| tag | questions | passed |",
            "| --- | ---: | ---: |",
        ]
        out += [
            f"| {_md_cell(t)} | {row['n']} | {row['passed']} |"
            for t, row in summary["by_tag"].items()
        ]
    if plots:
        out += ["", "## Plots", ""]
        out += [f"![{name}]({file})" for name, file in plots.items()]
    failures = [_failure(r) for r in results if not r.get("passed")]
    out += ["", f"## Failures ({len(failures)})", ""]
    if not failures:
        out.append("None.")
    for f in failures:
        out.append(f"### {_md_cell(f['id'])}: {_md_cell(f['question'])}")
        out.append("")
        out += [f"- **{label}**: {_md_cell(value)}" for label, value in _failure_rows(f)]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ---- html -------------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem
.6rem;text-align:left;vertical-align:top}td.num{text-align:right}.fail{border-left:4px solid #e45756;
padding:.2rem .8rem;margin:1rem 0}.why{color:#b00}img{max-width:100%}dt{font-weight:600}"""


def render_html(summary: dict, results: list[dict], plots: dict[str, bytes]) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Evaluation report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Evaluation report</h1>",
        "<dl>",
    ]
    for k, v in _run_facts(summary):
        parts.append(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>")
    parts += [
        "</dl>",
        "<h2>Summary</h2>",
        "<table><tr><th>metric</th><th>value</th><th>over</th></tr>",
    ]
    for m, v, o in _summary_rows(summary):
        parts.append(f'<tr><td>{e(m)}</td><td class="num">{e(v)}</td><td>{e(o)}</td></tr>')
    parts.append("</table>")
    if summary.get("by_section"):
        parts += [
            "<h2>Section hit rate</h2>",
            "<table><tr><th>section</th><th>questions</th><th>hit@1</th><th>hit@3</th></tr>",
        ]
        for name, row in summary["by_section"].items():
            parts.append(
                f'<tr><td>{e(name)}</td><td class="num">{row["n"]}</td>'
                f'<td class="num">{row["hit@1_rate"]:.3f}</td>'
                f'<td class="num">{row["hit@3_rate"]:.3f}</td></tr>'
            )
        parts.append("</table>")
    if summary.get("by_tag"):
        parts += [
            "<h2>Pass rate by tag</h2>",
            "<table><tr><th>tag</th><th>questions</th><th>passed</th></tr>",
        ]
        parts += [
            f'<tr><td>{e(t)}</td><td class="num">{row["n"]}</td>'
            f'<td class="num">{row["passed"]}</td></tr>'
            for t, row in summary["by_tag"].items()
        ]
        parts.append("</table>")
    if plots:
        parts.append("<h2>Plots</h2>")
        for name, png in plots.items():
            data = base64.b64encode(png).decode("ascii")
            parts.append(f'<p><img alt="{e(name)}" src="data:image/png;base64,{data}"></p>')
    failures = [_failure(r) for r in results if not r.get("passed")]
    parts.append(f"<h2>Failures ({len(failures)})</h2>")
    if not failures:
        parts.append("<p>None.</p>")
    for f in failures:
        parts.append(f'<div class="fail"><h3>{e(f["id"])}: {e(f["question"])}</h3><dl>')
        for label, value in _failure_rows(f):
            css = ' class="why"' if label == "why" else ""
            parts.append(f"<dt>{e(label)}</dt><dd{css}>{e(value)}</dd>")
        parts.append("</dl></div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_reports(out_dir: str | Path, summary: dict, results: list[dict]) -> dict[str, Path]:
    """Write the plots, report.md and report.html into ``out_dir`` (each file atomically)."""
    out = Path(out_dir)
    pngs = {
        "latency": latency_plot(results),
        "section hit rate": section_plot(summary),
        "answerability reliability": reliability_plot(summary),
    }
    files = {
        "latency": "latency.png",
        "section hit rate": "sections.png",
        "answerability reliability": "reliability.png",
    }
    pngs = {name: png for name, png in pngs.items() if png is not None}
    paths: dict[str, Path] = {}
    for name, png in pngs.items():
        write_atomic(out / files[name], png)
        paths[files[name].removesuffix(".png") + "_plot"] = out / files[name]
    write_atomic(out / "report.md", render_markdown(summary, results, {n: files[n] for n in pngs}))
    write_atomic(out / "report.html", render_html(summary, results, pngs))
    paths["report_md"] = out / "report.md"
    paths["report_html"] = out / "report.html"
    return paths
