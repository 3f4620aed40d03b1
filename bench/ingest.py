"""Document ingestion figures: reading speed and memory on a generated 300-page text PDF, and the
time from an upload to the first answer citing it (a 20-page PDF), each beside the same text as
markdown measured in the same run (the baseline).

    python -m bench.ingest                      # writes bench/results/ingest.json

Each measurement runs in a fresh interpreter, so its peak memory (``ru_maxrss``) is its own; the
PDF reader's child process is reported separately (``reader_peak_mib``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, machine, run_process, write_json
from bench.docgen import html_to_pdf, long_text_markdown, markdown_to_html

FACT = "The harbour master of Port Alder is Maren Holt, appointed in 2019."
QUESTION = "Who is the harbour master of Port Alder?"

INGEST = r"""
import json, resource, sys, time
from pathlib import Path
from rag.chatbot import Chatbot
from rag.documents import load_document
src, data = Path(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter(); doc = load_document(src, src.parent); t_read = time.perf_counter() - t0
bot = Chatbot.from_corpus(src.parent, data_dir=data, watch_seconds=0)
t0 = time.perf_counter(); index = bot.reindex(); t_build = time.perf_counter() - t0
print(json.dumps({"read_s": t_read, "build_s": t_build, "chars": len(doc.text),
  "pages": len(doc.pages), "chunks": index.manifest["n_chunks"], "units": index.manifest["n_units"],
  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  "reader_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

UPLOAD = r"""
import json, resource, shutil, sys, time
from pathlib import Path
from rag.chatbot import Chatbot
from rag.library import add_file
src, corpus, data, question = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
bot = Chatbot.from_corpus(corpus, data_dir=data, watch_seconds=0).warm_up()
t0 = time.perf_counter()
added = add_file(corpus, src, cache_dir=bot.store().cache_dir)
bot.refresh(wait=True)
answer = bot.ask(question)
elapsed = time.perf_counter() - t0
c = answer.citations[0] if answer.citations else None
print(json.dumps({"seconds": elapsed, "status": added.status, "answer": answer.text,
  "cited": c.document if c else None, "page": c.page if c else None,
  "embedded": bot.index.manifest["embedded"],
  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_pdf(pages: int, out: Path, seed: int, fact: str | None = None) -> tuple[Path, Path]:
    """A text PDF of about ``pages`` A4 pages and its markdown source (the baseline)."""
    md = long_text_markdown(pages * 10 // 7, seed=seed)  # about 0.7 printed pages per "page"
    if fact:
        paras = md.split("\n")
        at = int(len(paras) * 0.7)
        paras.insert(at, fact + "\n")
        md = "\n".join(paras)
    md_path = out / f"report-{pages}.md"
    md_path.write_text(md, encoding="utf-8")
    pdf_path = html_to_pdf(
        markdown_to_html(md, "Report", boilerplate=False),
        out / f"report-{pages}.pdf",
        header="Report",
    )
    return pdf_path, md_path


def one(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter with ``args`` (its sys.argv[1:]); its last JSON line."""
    out = run_process([sys.executable, "-c", code, *args], cwd=ROOT)
    if out["returncode"] != 0:
        raise RuntimeError(f"child failed: {out['stderr']}")
    return json.loads(out["stdout"].strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--upload-pages", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.json")
    args = parser.parse_args(argv)
    results: dict = {
        "machine": machine(),
        "command": "python -m bench.ingest " + " ".join(argv or []),
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = tmp / "big"
        big.mkdir()
        pdf, md = make_pdf(args.pages, big, seed=1)
        for kind, path in (("pdf", pdf), ("markdown", md)):
            folder = tmp / f"ingest-{kind}"
            folder.mkdir()
            (folder / path.name).write_bytes(path.read_bytes())
            r = one(INGEST, str(folder / path.name), str(tmp / f"data-{kind}"))
            r["file_mib"] = round(path.stat().st_size / 2**20, 2)
            results[f"ingest_{kind}"] = r
            print(f"{kind}: {json.dumps(r)}", file=sys.stderr)
        n = results["ingest_pdf"]["pages"]
        for kind in ("pdf", "markdown"):
            r = results[f"ingest_{kind}"]
            r["read_pages_per_s"] = round(n / r["read_s"], 1)
            r["build_pages_per_s"] = round(n / r["build_s"], 2)
        small = tmp / "small"
        small.mkdir()
        pdf20, md20 = make_pdf(args.upload_pages, small, seed=2, fact=FACT)
        for kind, path in (("pdf", pdf20), ("markdown", md20)):
            corpus = tmp / f"corpus-{kind}"
            corpus.mkdir()
            profile = ROOT / "corpus" / "sensetime_profile.md"
            (corpus / profile.name).write_bytes(profile.read_bytes())
            r = one(UPLOAD, str(path), str(corpus), str(tmp / f"updata-{kind}"), QUESTION)
            results[f"upload_{kind}"] = r
            print(f"upload {kind}: {json.dumps(r)}", file=sys.stderr)
    write_json(args.out, results)
    p, m = results["ingest_pdf"], results["ingest_markdown"]
    print(
        f"300-page PDF: {p['pages']} pages read in {p['read_s']:.1f}s ({p['read_pages_per_s']} pages/s; "
        f"markdown of the same text {m['read_s']:.2f}s), indexed in {p['build_s']:.1f}s "
        f"({p['build_pages_per_s']} pages/s; markdown {m['build_s']:.1f}s); peak memory "
        f"{p['peak_mib']:.0f} MiB (reader child {p['reader_peak_mib']:.0f} MiB; markdown "
        f"{m['peak_mib']:.0f} MiB)"
    )
    u, um = results["upload_pdf"], results["upload_markdown"]
    print(
        f"upload -> first cited answer: {args.upload_pages}-page PDF {u['seconds']:.1f}s "
        f"(cited {u['cited']} p. {u['page']}); same text as markdown {um['seconds']:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
