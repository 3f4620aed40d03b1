"""PDF reading speed on one core: CPU seconds of ``read_pdf`` per file, in this process (no child
process, no cache), with the pages per CPU second.

    python -m bench.pdf_read ../shared/datasets/financebench-dev/pdfs/CVSHEALTH_2022_10K.pdf ...
    python -m bench.pdf_read --out bench/results/pdf_read.json FILE...

PDFium and the reader run on one thread, so CPU seconds are one core's time whatever the load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def measure(path: Path) -> dict:
    from rag.readers.pdf import read_pdf

    data = path.read_bytes()
    t0, w0 = time.process_time(), time.perf_counter()
    extracted = read_pdf(data)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    pages = len(extracted.pages)
    return {
        "file": path.name,
        "pages": pages,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "pages_per_cpu_s": round(pages / cpu, 1) if cpu else None,
        "chars": len(extracted.text),
        "table_rows": sum(" | " in line for line in extracted.text.splitlines()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = ap.parse_args(argv)
    rows = []
    for path in args.files:
        row = measure(path)
        rows.append(row)
        print(
            f"{row['file']}: {row['pages']} pages in {row['cpu_s']:.2f} CPU s "
            f"({row['pages_per_cpu_s']} pages/s), {row['table_rows']} table rows"
        )
    pages, cpu = sum(r["pages"] for r in rows), sum(r["cpu_s"] for r in rows)
    print(f"all: {pages} pages in {cpu:.2f} CPU s ({pages / cpu:.1f} pages/s)")
    if args.out:
        args.out.write_text(json.dumps({"files": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
