"""Table rows as quotable units: a row of a table, read with its row label and column headers.

The readers write a table as one list item per row, ``label | cell | cell``. Quoted as it stands, a
row of figures loses its columns: ``Net sales | $ | 4,210 | | $ | 3,985`` does not say which year
each figure belongs to. Here each row of such a table gets the display text a reader needs::

    Net sales — 2024: $4,210; 2023: $3,985 (millions)

- the row label is the row's first cell;
- its values are the other non-empty cells, with a lone currency sign joined to the figure after it
  and a lone ``%`` or ``)`` to the figure before it;
- the column headers come from the table's header rows (rows with an empty first cell, as a
  statement's column of years), or, when the grid starts below them, from the short line of years
  or periods just above the table; a header is given to a value when the counts match, else by
  column position (the header at or left of the value's column);
- the unit (millions, thousands, billions) from the lines just above the table or its header rows.

Rows of text (an exhibit index, a list of names) keep their cells, empty ones dropped. The row's
span in the document is unchanged: a citation still points at the row as extracted. This module
only composes display text; it does not find tables (the readers do) or decide what to quote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ROW_SEP = "|"
CURRENCY = {"$", "€", "£", "¥", "US$", "C$"}
UNIT_RE = re.compile(r"(?:\bin\s+|\(\s*)(millions|thousands|billions)\b", re.I)
HEADER_TOKEN_RE = re.compile(
    r"(?:(?:Q[1-4]|H[12]|FY)\s*)?(?:19|20)\d\d\b|\b(?:Q[1-4]|H[12])\b", re.I
)
NUMBER_RE = re.compile(r"^[(\-–—]?\s*[$€£¥]?\s*[\d.,]+\s*\)?%?\)?$|^[—–-]$")
MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
PERIOD_RE = re.compile(
    rf"^(?:(?:fiscal|FY|Q[1-4]|H[12]|quarter|year|years|ended|ending|as\s+of|at|three|six|nine|"
    rf"twelve|months|weeks)\s*)*(?:{MONTH}\s+\d{{1,2}},?\s*)?(?:19|20)\d\d$",
    re.I,
)
CONTEXT_CHARS = 600  # how far above a table its unit ("in millions") is looked for


def row_cells(raw: str) -> list[str] | None:
    """The cells of a table-row list item (``- a | b | c``), or None for another item."""
    body = re.sub(r"^\s*[-*+]\s+", "", raw, count=1)
    if f" {ROW_SEP} " not in f" {body} " or ROW_SEP not in body:
        return None
    return [c.strip() for c in body.split(ROW_SEP)]


def _is_number(cell: str) -> bool:
    return bool(NUMBER_RE.match(cell.replace(" ", "")))


def values_of(cells: Sequence[str]) -> list[tuple[int, str]]:
    """(column, value) of a row's cells after the label, signs and percent joined to figures."""
    out: list[tuple[int, str]] = []
    pending = ""  # a currency sign waiting for its figure
    for col, cell in enumerate(cells[1:], 1):
        if not cell:
            continue
        if cell in CURRENCY:
            pending = cell
            continue
        if cell in ("%", ")", "%)") and out:
            c, v = out[-1]
            out[-1] = (c, v + cell)
            continue
        out.append((col, pending + cell))
        pending = ""
    return out


def header_tokens(text: str) -> list[str]:
    """The column headers a short line of periods names ("2022 2021 2020"), or the years that
    end a longer line; else []."""
    tokens = [" ".join(t.split()) for t in HEADER_TOKEN_RE.findall(text)]
    rest = HEADER_TOKEN_RE.sub(" ", text)
    if len(tokens) >= 2 and len(re.findall(r"[A-Za-z]{2,}", rest)) <= 2:
        return tokens
    # "... In millions, except per share amounts 2022 2021 2020": the years that end the line
    tail = re.search(r"(?:(?<!\d)(?:19|20)\d\d\s*){2,}$", text.strip())
    return tail.group(0).split() if tail else []


def only_periods(text: str) -> bool:
    """A line that names column periods and nothing else ("2022 2021 2020"): a header, not a
    statement to quote."""
    tokens = HEADER_TOKEN_RE.findall(text)
    rest = HEADER_TOKEN_RE.sub(" ", text)
    return len(tokens) >= 2 and not re.search(r"[A-Za-z]{2,}", rest)


def unit_of(text: str) -> str:
    """ "millions", "thousands" or "billions" when ``text`` says the figures are in them."""
    found = UNIT_RE.findall(text)
    return found[-1].lower() if found else ""


def compose(
    cells: Sequence[str],
    headers: Sequence[tuple[int, str]] = (),
    line_headers: Sequence[str] = (),
    unit: str = "",
) -> str:
    """The display text of one row (see the module docstring)."""
    label = cells[0] if cells else ""
    values = values_of(cells)
    if not values:
        return label or " | ".join(c for c in cells if c)
    numeric = sum(_is_number(v) for _, v in values)
    if not label or numeric * 2 < len(values) or is_header_row(cells):
        return " | ".join(c for c in cells if c)  # a header or a row of text: its cells
    names: list[str] = []
    if headers and len(headers) == len(values):
        names = [h for _, h in headers]
    elif line_headers and len(line_headers) == len(values):
        names = list(line_headers)
    elif headers:
        for col, _ in values:
            left = [h for c, h in headers if c <= col]
            names.append(left[-1] if left else "")
    names = names or [""] * len(values)
    parts = [f"{n}: {v}" if n else v for n, (_, v) in zip(names, values, strict=True)]
    if all(v.endswith(("%", "%)")) for _, v in values):
        unit = ""  # percentages are in no currency unit
    return f"{label} — " + "; ".join(parts) + (f" ({unit})" if unit else "")


def is_header_row(cells: Sequence[str]) -> bool:
    """A row of column headers: an empty first cell over some text, or cells that all name
    periods ("Fiscal Years Ended | January 28, 2023 | January 29, 2022")."""
    rest = [c for c in cells[1:] if c]
    if not cells or not rest:
        return False
    return not cells[0] or all(PERIOD_RE.match(" ".join(c.split())) for c in rest)


def table_headers(rows: Sequence[Sequence[str]]) -> list[list[tuple[int, str]]]:
    """For each row, the column headers in force: those of the run of header rows above it
    (``is_header_row``). The columns are those of the run's last row; a cell of an upper row
    spans the columns to its right up to the next cell of that row ("Revenue Mix" over "2025" and
    "2024")."""
    out: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    run: list[Sequence[str]] = []
    last_was_header = False
    for cells in rows:
        is_header = is_header_row(cells)
        if is_header:
            run = [*run, cells] if last_was_header else [cells]
            current = []
            for col, cell in enumerate(run[-1][1:], 1):
                if not cell:
                    continue
                upper = []
                for row in run[:-1]:
                    left = [c for c in row[1 : col + 1] if c]
                    if left:
                        upper.append(left[-1])
                current.append((col, " ".join([*upper, cell])))
        last_was_header = is_header
        out.append(list(current))
    return out


def table_texts(tables: Sequence[tuple[str, list[list[str]]]]) -> list[list[str]]:
    """Display texts of each table's rows; ``tables`` holds (text above the table, rows)."""
    out = []
    for above, rows in tables:
        headers = table_headers(rows)
        line_headers: list[str] = []
        lines = [ln for ln in above.splitlines() if ln.strip()]
        for line in reversed(lines[-3:]):  # the nearest line of periods (a label alone between)
            line_headers = header_tokens(line)
            if line_headers:
                break
        unit = unit_of(above[-CONTEXT_CHARS:] + " " + " ".join(" ".join(r) for r in rows[:3]))
        out.append(
            [compose(cells, h, line_headers, unit) for cells, h in zip(rows, headers, strict=True)]
        )
    return out
