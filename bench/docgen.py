"""Real documents for tests and benchmarks, made from markdown: HTML, PDF and Word files.

- ``markdown_to_html``: markdown-it renders the body; the page gets a navigation bar, a script and a
  footer around ``<main>`` (boilerplate the HTML reader must drop).
- ``html_to_pdf``: headless Chromium prints the page (Playwright's ``page.pdf`` on Debian's
  chromium), with a running header, a "Page N of M" footer and a document outline.
- ``markdown_to_docx``: python-docx writes headings with Word's Heading styles, list items with the
  List styles and markdown tables as Word tables.
- ``long_text_pdf``: an N-page text PDF for the ingestion benchmark.

Used only by tests and ``bench``; the ``rag`` library never imports this.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

PAGE_CSS = """
body { font-family: 'DejaVu Serif', serif; font-size: 11pt; line-height: 1.4; }
h1 { font-size: 22pt; } h2 { font-size: 17pt; } h3 { font-size: 13.5pt; }
"""


def markdown_to_html(markdown: str, title: str = "Document", boilerplate: bool = True) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    if not boilerplate:
        return (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{PAGE_CSS}</style></head><body><main>{body}</main></body></html>"
        )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{PAGE_CSS}</style>
<script>window.tracker = "analytics";</script></head>
<body>
<nav class="site-nav"><a href="/">Home</a> | <a href="/about">About us</a> | <a href="/jobs">Careers</a></nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<main>
{body}
</main>
<footer>Copyright 2026 Example Publishing. All rights reserved. Privacy policy.</footer>
</body></html>
"""


def html_to_pdf(page_html: str, out: Path, *, header: str = "", columns: int = 1) -> Path:
    """Print ``page_html`` to ``out`` with headless Chromium (a running header and page footer)."""
    from playwright.sync_api import sync_playwright

    if columns > 1:
        page_html = page_html.replace(
            "</style>", f"main {{ column-count: {columns}; column-gap: 2em; }}</style>", 1
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_content(page_html, wait_until="load")
            page.pdf(
                path=str(out),
                format="A4",
                margin={"top": "20mm", "bottom": "20mm", "left": "18mm", "right": "18mm"},
                display_header_footer=True,
                header_template=(
                    f'<div style="font-size:8pt;width:100%;text-align:center">{html.escape(header)}</div>'
                ),
                footer_template=(
                    '<div style="font-size:8pt;width:100%;text-align:center">Page '
                    '<span class="pageNumber"></span> of <span class="totalPages"></span></div>'
                ),
                outline=True,
                tagged=True,
            )
        finally:
            browser.close()
    return out


def markdown_to_docx(markdown: str, out: Path) -> Path:
    """A Word file with the headings, lists, tables and paragraphs of ``markdown``."""
    import docx

    document = docx.Document()
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            document.add_heading(_plain(m.group(2)), level=len(m.group(1)))
        elif line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                    rows.append(cells)
                i += 1
            table = document.add_table(rows=len(rows), cols=max(map(len, rows)))
            for r, cells in enumerate(rows):
                for c, value in enumerate(cells):
                    table.cell(r, c).text = _plain(value)
            continue
        else:
            item = re.match(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$", line)
            if item:
                style = "List Number" if item.group(2)[0].isdigit() else "List Bullet"
                if len(item.group(1)) >= 2:
                    style += " 2"
                document.add_paragraph(_plain(item.group(3)), style=style)
            elif line.strip():
                document.add_paragraph(_plain(line))
        i += 1
    document.save(str(out))
    return out


def _plain(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\(([^)]*)\)", r"\1", text)
    return re.sub(r"(\*\*|__|`)", "", text).strip()


def long_text_markdown(pages: int, seed: int = 0) -> str:
    """About ``pages`` printed pages of plain prose under numbered chapter headings."""
    import random

    rng = random.Random(seed)
    words = (
        "market revenue growth customers platform model research operations quarter segment "
        "product service region network capacity investment strategy partner report analysis "
        "energy logistics factory software hardware design supply demand contract"
    ).split()
    out = []
    for p in range(pages):
        if p % 5 == 0:
            out.append(f"## Chapter {p // 5 + 1}\n")
        for _ in range(4):
            sentences = []
            for _ in range(5):
                n = rng.randint(8, 16)
                s = " ".join(rng.choice(words) for _ in range(n))
                sentences.append(s.capitalize() + f" in {rng.randint(1990, 2030)}.")
            out.append(" ".join(sentences) + "\n")
    return "# Long report\n\n" + "\n".join(out)
