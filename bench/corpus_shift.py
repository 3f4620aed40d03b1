"""``python -m bench.corpus_shift``: how many answers about the profile move when twenty one-line
files sit beside it (issue 21, point 14).

Asks both bundled question sets (eval/questions.jsonl, eval/heldout.jsonl) of the profile alone
and of a copy of it beside twenty one-line notes, and counts the questions whose answer (text,
abstention, cited documents) differs. ``--notes squad``: the first sentence of each of the first
twenty SQuAD 1.1 articles in ``../shared/datasets/squad1-extra`` (unrelated text); ``--notes
written``: the twenty notes of ``tests/test_corpus_shift.py``, written to share everyday words
with the profile (founded, headquarters, partners, profit, listed, capital). Writes
``bench/results/corpus_shift-<notes>.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
from pathlib import Path

from bench.common import ROOT
from rag.atomic import write_atomic


def notes(kind: str) -> list[str]:
    if kind == "written":
        from tests.test_corpus_shift import NOTES

        return list(NOTES)
    files = sorted((ROOT.parent / "shared/datasets/squad1-extra/corpus").glob("*.md"))[:20]
    out = []
    for f in files:
        paras = [p for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        body = next(p for p in paras if not p.startswith("#"))
        out.append(re.split(r"(?<=[.!?])\s", body.strip())[0])
    return out


def main(argv=None) -> None:
    from rag.chatbot import Chatbot

    p = argparse.ArgumentParser(prog="python -m bench.corpus_shift")
    p.add_argument("--notes", choices=["squad", "written"], default="squad")
    args = p.parse_args(argv)
    questions = [
        json.loads(line)
        for name in ("questions.jsonl", "heldout.jsonl")
        for line in (ROOT / "eval" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        shutil.copy(ROOT / "corpus" / "sensetime_profile.md", folder)
        for i, note in enumerate(notes(args.notes)):
            (folder / f"note-{i:02d}.md").write_text(note + "\n", encoding="utf-8")
        alone = Chatbot.from_corpus(None).warm_up()
        beside = Chatbot.from_corpus(folder, data_dir=Path(tmp) / "data", embedder=alone.embedder)
        moved = []
        for q in questions:
            a, b = alone.ask(q["question"]), beside.ask(q["question"])
            key = lambda x: (x.abstained, x.text, [c.document for c in x.citations])  # noqa: E731
            if key(a) != key(b):
                moved.append(
                    {
                        "question": q["question"],
                        "answerable": q.get("answerable", True),
                        "alone": a.text,
                        "beside": b.text,
                    }
                )
    answerable = sum(q.get("answerable", True) for q in questions)
    figures = {
        "command": f"python -m bench.corpus_shift --notes {args.notes}",
        "questions": len(questions),
        "moved": len(moved),
        "answerable": answerable,
        "answerable_moved": sum(m["answerable"] for m in moved),
        "examples": moved,
    }
    write_atomic(
        ROOT / f"bench/results/corpus_shift-{args.notes}.json", json.dumps(figures, indent=2) + "\n"
    )
    print(json.dumps({k: v for k, v in figures.items() if k != "examples"}, indent=2))


if __name__ == "__main__":
    main()
