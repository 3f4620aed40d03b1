"""Answer quality per document format: the bundled profile as markdown, PDF, Word and HTML, each the
only document, asked the bundled question set (the same files and check as
``tests/test_formats_quality.py``).

    python -m bench.formats                     # writes bench/results/formats.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, machine, write_json
from bench.docgen import html_to_pdf, markdown_to_docx, markdown_to_html

METRICS = (
    "section_hit@1",
    "section_hit@3",
    "mrr@5",
    "must_include_recall",
    "exact_all",
    "citation_precision",
    "abstention_f1",
)


def main(argv: list[str] | None = None) -> int:
    from rag import evaluation as ev
    from rag.chatbot import Chatbot

    parser = argparse.ArgumentParser(prog="python -m bench.formats", description=__doc__)
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "formats.json")
    args = parser.parse_args(argv)
    md = (ROOT / "corpus" / "sensetime_profile.md").read_text(encoding="utf-8")
    results = {"machine": machine(), "command": "python -m bench.formats", "formats": {}}
    embedder = None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"markdown": tmp / "sensetime_profile.md"}
        files["markdown"].write_text(md, encoding="utf-8")
        files["pdf"] = html_to_pdf(
            markdown_to_html(md, "SenseTime profile", boilerplate=False),
            tmp / "sensetime_profile.pdf",
            header="SenseTime company profile",
        )
        files["docx"] = markdown_to_docx(md, tmp / "sensetime_profile.docx")
        files["html"] = tmp / "sensetime_profile.html"
        files["html"].write_text(markdown_to_html(md, "SenseTime profile"), encoding="utf-8")
        for kind, path in files.items():
            corpus = tmp / f"only-{kind}"
            corpus.mkdir()
            (corpus / path.name).write_bytes(path.read_bytes())
            bot = Chatbot.from_corpus(corpus, data_dir=tmp / "data", watch_seconds=0)
            if embedder is not None:
                bot._embedder = embedder
            summary = ev.evaluate(args.questions, bot=bot)
            embedder = bot.embedder
            results["formats"][kind] = {m: summary["metrics"][m] for m in METRICS}
            print(kind, results["formats"][kind], file=sys.stderr)
    write_json(args.out, results)
    base = results["formats"]["markdown"]
    print(f"{'format':10}" + "".join(f"{m:>22}" for m in METRICS))
    for kind, row in results["formats"].items():
        print(f"{kind:10}" + "".join(f"{row[m]:>15.3f} ({row[m] - base[m]:+.3f})" for m in METRICS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
