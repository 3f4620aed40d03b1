"""Unicode tricks in documents and questions: invisible characters, bidi controls, terminal escapes
and names that mix scripts.

- ``normalise`` (questions, and the text the index embeds, searches and quotes): NFKC, so
  full-width letters and ligatures read as the plain ones ("ＳｅｎｓｅＴｉｍｅ" = "SenseTime"), with
  zero-width characters, bidi controls and escape sequences dropped. Superscript and subscript digits are kept as
  they are ("10²" must not become "102").
- ``strip_bidi`` (everything the chat renders): bidi embeddings, overrides and isolates removed,
  so a document cannot make "0.02$" display as "$20.0".
- ``terminal_safe`` (``rag ask`` output): escape sequences (CSI, OSC, ...) and other control
  characters removed, line ends and tabs kept.
- ``mixed_script_words``: words that mix Latin letters with Cyrillic or Greek ones ("SеnseTime"
  with a Cyrillic "е"), which look like a name but are not it; the answer flags them.

Positions are not this module's business: the document's own text, which citations index, is
never changed; only the derived display and search texts are.
"""

from __future__ import annotations

import re
import unicodedata

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
ZERO_WIDTH = "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"
_DROP = {ord(c): None for c in BIDI + ZERO_WIDTH}
_BIDI_DROP = {ord(c): None for c in BIDI}
_KEEP = re.compile(r"[\u00b2\u00b3\u00b9\u2070-\u209f]+")  # super- and subscripts
# ESC sequences: CSI (ESC [ ... final), OSC/DCS/PM/APC/SOS (ESC ] ... BEL or ST), two-character
# ones; then the 8-bit C1 forms, and every other control character but tab and line end
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-Z\\-_]?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)

_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def normalise(text: str) -> str:
    """NFKC with zero-width characters, bidi controls, escape sequences and other control
    characters dropped (tabs, line ends, super- and subscripts kept)."""
    if text.isascii() and not _ASCII_CONTROL.search(text):
        return text
    text = _ESCAPES.sub("", text).translate(_DROP)
    if text.isascii():
        return text
    out, pos = [], 0
    for m in _KEEP.finditer(text):
        out.append(unicodedata.normalize("NFKC", text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(unicodedata.normalize("NFKC", text[pos:]))
    return "".join(out)


def strip_bidi(text: str) -> str:
    """``text`` without bidi embeddings, overrides, isolates and marks."""
    return text if text.isascii() else text.translate(_BIDI_DROP)


def terminal_safe(text: str) -> str:
    """``text`` fit to print on a terminal: no escape sequence or control character survives
    (tabs and line ends do), and no bidi control."""
    return strip_bidi(_ESCAPES.sub("", text))


_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def _script(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    for script in ("LATIN", "CYRILLIC", "GREEK"):
        if name.startswith(script):
            return script
    return None


def mixed_script_words(text: str) -> list[str]:
    """Words of ``text`` that mix Latin letters with Cyrillic or Greek ones, in order."""
    if text.isascii():
        return []
    out = []
    for m in _WORD.finditer(text):
        word = m.group(0)
        if word.isascii():
            continue
        scripts = {_script(c) for c in word} - {None}
        if "LATIN" in scripts and len(scripts) > 1 and word not in out:
            out.append(word)
    return out


def describe_mixed(word: str) -> str:
    """'SеnseTime' (a Cyrillic "е" among Latin letters), for a notice."""
    odd = [c for c in word if _script(c) not in (None, "LATIN")]
    names = ", ".join(f'{unicodedata.name(c).split()[0].title()} "{c}"' for c in dict.fromkeys(odd))
    return f"\u201c{word}\u201d ({names} among Latin letters)"
