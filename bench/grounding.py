"""``python -m bench.grounding``: precision and recall of the grounding check's "supported" on a
labelled set of sentences built from the bundled profile and the SQuAD 2.0 *train* articles.

The sentences are made at run time from the passages of each corpus (seeded), one kind per way a
check can go wrong (issue 21, point 10), so no question set and no hand-written claim is involved:

    faithful     a unit of the passage, cited [1]                                      supported
    list         the passage's list items as a list whose last item alone carries [1]  supported
    two facts    two units of the passage joined as two clauses, cited [1]             supported
    swap         a unit with one of its names or years replaced by another unit's      unsupported
                 name or year from the same passage (an entity moved within the passage)
    antonym      a unit with one word replaced by its opposite ("rose" -> "fell")       unsupported
    role swap    a unit with two of its names exchanged ("A bought B" -> "B bought A") unsupported

Each sentence is checked alone against its one passage, as ``GroundingChecker.check`` does for a
reply citing [1]. Reports, per kind and overall, the share kept; precision of "supported" = the
kept sentences that are labelled supported / all kept; recall = kept supported / all supported.
Writes the set (``bench/results/grounding_set.jsonl``) and the figures
(``bench/results/grounding.json``). A swap or a role swap can now and then still be true (two
names that stand in a symmetric relation); the set is not hand-cleaned, so read small differences
with that in mind.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

from bench.common import ROOT
from rag.atomic import write_atomic

SEED = 21
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)\b")
PAIRS = [
    ("rose", "fell"),
    ("increased", "decreased"),
    ("increase", "decrease"),
    ("larger", "smaller"),
    ("largest", "smallest"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("before", "after"),
    ("first", "last"),
    ("won", "lost"),
    ("north", "south"),
    ("east", "west"),
    ("northern", "southern"),
    ("eastern", "western"),
    ("more", "fewer"),
    ("public", "private"),
    ("accepted", "rejected"),
    ("supported", "opposed"),
    ("allowed", "forbade"),
    ("early", "late"),
    ("earlier", "later"),
    ("majority", "minority"),
    ("gained", "lost"),
    ("included", "excluded"),
    ("success", "failure"),
    ("internal", "external"),
    ("domestic", "foreign"),
    ("ancient", "modern"),
    ("victory", "defeat"),
    ("bought", "sold"),
    ("admitted", "denied"),
    ("expanded", "reduced"),
]
OPPOSITE = {a: b for a, b in PAIRS} | {b: a for a, b in PAIRS}


def cite(text: str) -> str:
    return text.rstrip(" .") + " [1]."


def names(text: str) -> list[str]:
    """Capitalised runs not opening the text or a label ("Capabilities: Provides ..."), with a
    word that is not a common English word (so "Processing" is no name, "Warsaw" is)."""
    from rag.repair import zipf

    out = []
    for m in _NAME.finditer(text):
        if m.start() == 0 or text[: m.start()].rstrip().endswith((":", "(", '"')):
            continue
        if any(zipf(w.lower()) < 4.0 for w in m.group(1).split()):
            out.append(m.group(1))
    return out


def claims(units: list[str], items: list[str], rng: random.Random) -> list[dict]:
    """The labelled sentences of one passage (its unit texts, and its list items)."""
    from rag.generate.grounding import split_sentences

    out = []
    # units of five words or more that the check reads as one sentence
    usable = [u for u in units if len(u.split()) >= 5 and len(split_sentences(u)) == 1]
    for u in usable:
        out.append({"kind": "faithful", "text": cite(u), "supported": True})
    if len(usable) >= 2:
        a, b = rng.sample(usable, 2)
        out.append(
            {
                "kind": "two facts",
                "text": cite(f"{a.rstrip(' .')}; {b}"),
                "supported": True,
            }
        )
    if len(items) >= 3:
        lines = [f"- {i.rstrip(' .')}" for i in items[:6]]
        lines[-1] += " [1]"
        out.append({"kind": "list", "text": "\n".join(lines), "supported": True, "n": len(lines)})
    for u in usable:
        years = _YEAR.findall(u)
        others = sorted({y for v in units if v != u for y in _YEAR.findall(v)} - set(years))
        if years and others:
            out.append(
                {
                    "kind": "swap",
                    "text": cite(u.replace(years[0], rng.choice(others), 1)),
                    "supported": False,
                }
            )
            continue
        mine = names(u)
        theirs = sorted({n for v in units if v != u for n in names(v)} - set(mine))
        theirs = [n for n in theirs if n.lower() not in u.lower()]
        if mine and theirs:
            swapped = re.sub(rf"\b{re.escape(mine[0])}\b", rng.choice(theirs), u, count=1)
            out.append({"kind": "swap", "text": cite(swapped), "supported": False})
    for u in usable:
        words = [w for w in re.findall(r"[a-z]+", u) if w in OPPOSITE]
        words = [w for w in words if OPPOSITE[w] not in u.lower()]
        if words:
            w = words[0]
            flipped = re.sub(rf"\b{w}\b", OPPOSITE[w], u, count=1)
            out.append({"kind": "antonym", "text": cite(flipped), "supported": False})
    for u in usable:
        ns = list(dict.fromkeys(names(u)))
        for i in range(len(ns) - 1):
            a, b = ns[i], ns[i + 1]
            m = re.search(rf"\b{re.escape(a)}\b(.{{3,60}}?)\b{re.escape(b)}\b", u)
            if not m or not re.search(r"\b[a-z]{3,}\b", m.group(1)) or " and " in m.group(1):
                continue
            swapped = u[: m.start()] + b + m.group(1) + a + u[m.end() :]
            out.append({"kind": "role swap", "text": cite(swapped), "supported": False})
            break
    return out


def passages(bot, limit: int, rng: random.Random):
    """(source, unit texts, item texts) for up to ``limit`` chunks of the bot's index."""
    from rag.generate.fit import _source

    index = bot.index
    order = list(range(len(index.chunks)))
    rng.shuffle(order)
    for ci in order[:limit]:
        chunk = index.chunks[ci]
        units = [u.text for u in chunk.units]
        items = [u.text for u in chunk.units if u.kind == "item"]
        yield chunk, _source(index, ci), units, items


def load_checker(path: Path | None):
    """``GroundingChecker`` from ``rag.generate.grounding``, or from another copy of that file (an
    earlier version, to measure before a change: ``git show REV:rag/generate/grounding.py``)."""
    if path is None:
        from rag.generate.grounding import GroundingChecker

        return GroundingChecker
    import importlib.util

    spec = importlib.util.spec_from_file_location("grounding_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module.GroundingChecker


def run(squad: Path, limit: int, out: Path, checker_file: Path | None = None) -> dict:
    from rag.chatbot import Chatbot

    GroundingChecker = load_checker(checker_file)  # noqa: N806 - a class

    rng = random.Random(SEED)
    bots = {"profile": Chatbot.from_corpus(None).warm_up()}
    if (squad / "corpus").is_dir():
        bots["squad2-train"] = Chatbot.from_corpus(squad / "corpus").warm_up()
    rows = []
    for name, bot in bots.items():
        checker = GroundingChecker(bot.embedder).warm_up()
        for chunk, source, units, items in passages(bot, limit, rng):
            for c in claims(units, items, rng):
                checks = checker.check(c["text"], [source])
                for check in checks:
                    rows.append(
                        {
                            "corpus": name,
                            "chunk": chunk.id,
                            "document": chunk.doc_id,
                            "kind": c["kind"],
                            "text": check.result.text,
                            "supported": c["supported"],
                            "kept": check.result.supported,
                            "reason": check.result.reason,
                        }
                    )
    kinds = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        of = [r for r in rows if r["kind"] == kind]
        kinds[kind] = {
            "n": len(of),
            "label": "supported" if of[0]["supported"] else "unsupported",
            "kept": round(sum(r["kept"] for r in of) / len(of), 3),
        }
    kept = [r for r in rows if r["kept"]]
    true = [r for r in rows if r["supported"]]
    figures = {
        "command": "python -m bench.grounding"
        + (f" --checker {checker_file}" if checker_file else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sentences": len(rows),
        "supported_labelled": len(true),
        "precision": round(sum(r["supported"] for r in kept) / max(len(kept), 1), 3),
        "recall": round(sum(r["kept"] for r in true) / max(len(true), 1), 3),
        "kinds": kinds,
        "by_corpus": {
            name: {
                kind: round(
                    sum(r["kept"] for r in rows if r["corpus"] == name and r["kind"] == kind)
                    / max(1, sum(1 for r in rows if r["corpus"] == name and r["kind"] == kind)),
                    3,
                )
                for kind in kinds
            }
            for name in bots
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out.with_name("grounding_set.jsonl"), "".join(json.dumps(r) + "\n" for r in rows))
    write_atomic(out, json.dumps(figures, indent=2) + "\n")
    return figures


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.grounding", description=__doc__.split("\n")[0]
    )
    p.add_argument("--squad", type=Path, default=ROOT.parent / "shared/datasets/squad2-train")
    p.add_argument("--limit", type=int, default=80, help="passages per corpus")
    p.add_argument("--out", type=Path, default=ROOT / "bench/results/grounding.json")
    p.add_argument("--checker", type=Path, help="another copy of rag/generate/grounding.py")
    args = p.parse_args(argv)
    print(json.dumps(run(args.squad, args.limit, args.out, args.checker), indent=2))


if __name__ == "__main__":
    main()
