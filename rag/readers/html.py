"""HTML: h1-h6 become the heading path; scripts, navigation and page furniture are dropped.

Parsed with BeautifulSoup on lxml. When the page has a ``<main>`` (or a single ``<article>``) only
that is read. ``script``, ``style``, ``nav``, ``header``, ``footer``, ``aside``, forms, hidden
elements and elements whose role, class or id says navigation, menu, cookie banner or sidebar are
removed. Lists become ``- `` items and table rows ``cell | cell`` items.

The result is text: a tag written in the page's text (``&lt;script&gt;``) stays literal characters,
and the chat escapes every character of it, so nothing from the file is ever rendered live.
"""

from __future__ import annotations

import re

from rag.readers.base import Extracted, ReadError

DROP = (
    "script", "style", "noscript", "template", "iframe", "svg", "canvas", "nav", "header",
    "footer", "aside", "form", "button", "select", "input", "textarea", "object", "embed", "head",
)  # fmt: skip
FURNITURE_RE = re.compile(
    r"(^|[\s_-])(nav|navbar|menu|breadcrumbs?|cookie|consent|banner|sidebar|footer|header|"
    r"masthead|skip-link|share|social|advert|ads?)([\s_-]|$)",
    re.I,
)
ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"}
HEADINGS = {f"h{i}": i for i in range(1, 7)}
BLOCKS = {
    "p", "div", "section", "article", "main", "blockquote", "pre", "dd", "dt", "figcaption",
    "address", "details", "summary", "body", "center", "fieldset", "figure", "dl",
}  # fmt: skip


def read_html(data: bytes) -> Extracted:
    from bs4 import BeautifulSoup, NavigableString, Tag

    try:
        soup = BeautifulSoup(data, "lxml")
    except Exception as exc:
        raise ReadError(f"is HTML that cannot be parsed ({type(exc).__name__})") from None
    title = " ".join(soup.title.get_text().split()) if soup.title else ""
    for el in soup.find_all(DROP):
        el.decompose()
    for el in soup.find_all(True):
        if getattr(el, "decomposed", False):
            continue
        attrs = getattr(el, "attrs", None) or {}
        marks = " ".join([*(attrs.get("class") or []), str(attrs.get("id") or "")])
        if (
            "hidden" in attrs
            or str(attrs.get("aria-hidden", "")).lower() == "true"
            or str(attrs.get("role", "")).lower() in ROLES
            or (el.name not in ("body", "main", "article", "html") and FURNITURE_RE.search(marks))
        ):
            el.decompose()
    root = soup.find("main") or soup.body or soup
    articles = root.find_all("article") if root is not None else []
    if root is not None and root.name != "main" and len(articles) == 1:
        root = articles[0]

    # inline markup needs no separator ("<b>Founded</b>: 2014"); block edges do
    if root is not None:
        for el in root.find_all([*BLOCKS, "br", "li", "td", "th", "tr", *HEADINGS]):
            el.insert_after(" ")
    out: list[str] = []
    buf: list[str] = []

    def flush(prefix: str = "") -> None:
        text = " ".join("".join(buf).split())
        buf.clear()
        if text:
            if text.startswith("#"):
                text = "\\" + text
            out.append(f"{prefix}{text}\n" if prefix else f"{text}\n\n")

    def inline(el) -> str:
        return " ".join(el.get_text("").split())

    def walk(el, depth: int = 0) -> None:
        for child in el.children:
            if isinstance(child, NavigableString):
                if type(child).__name__ in ("Comment", "Doctype", "CData", "ProcessingInstruction"):
                    continue
                buf.append(str(child))
            elif isinstance(child, Tag):
                name = child.name
                if name in HEADINGS:
                    flush()
                    text = inline(child)
                    if text:
                        out.append(f"\n{'#' * HEADINGS[name]} {text}\n\n")
                elif name in ("ul", "ol"):
                    flush()
                    for li in child.find_all("li", recursive=False):
                        nested = [
                            c for c in li.children if isinstance(c, Tag) and c.name in ("ul", "ol")
                        ]
                        for n in nested:
                            n.extract()
                        walk_item(li, depth)
                        for n in nested:
                            walk(_wrap(n), depth + 1)
                    out.append("\n")
                elif name == "table":
                    flush()
                    for tr in child.find_all("tr"):
                        cells = [inline(c) for c in tr.find_all(["td", "th"])]
                        if any(cells):
                            out.append("- " + " | ".join(cells) + "\n")
                    out.append("\n")
                elif name == "br":
                    flush()
                elif name in BLOCKS or name == "li":
                    flush()
                    walk(child, depth)
                    flush()
                else:
                    walk(child, depth)

    def walk_item(li, depth: int) -> None:
        flush()
        buf.append(li.get_text(""))
        flush(prefix="  " * depth + "- ")

    def _wrap(tag):
        from bs4 import BeautifulSoup as _BS

        holder = _BS("<div></div>", "lxml").div
        holder.append(tag)
        return holder

    if root is not None:
        walk(root)
        flush()
    text = re.sub(r"\n{3,}", "\n\n", "".join(out)).strip("\n") + "\n"
    return Extracted(text=text if text.strip() else "", kind="html", title=title)
