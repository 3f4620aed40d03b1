"""Build the FinanceBench question file (``eval/financebench/questions.jsonl``) from
``../shared/datasets/financebench-dev`` (read its README first).

For measurement and development only: the questions are CC BY-NC 4.0 and never go into product code
(``rag/``, ``ui/``). What this script writes, per FinanceBench record:

- ``question`` as the analyst wrote it; ``reference``: the gold answer;
- ``pages``: the evidence pages, 1-based (FinanceBench's ``evidence_page_num`` is 0-based), each
  checked here against the PDF: the page must hold most of the evidence text's words;
- ``must_include``: for the development and CI filings, written by hand from the gold answer and the
  evidence (``HAND`` below): the key printed fact, or for a computed answer every printed input
  figure, as the filing prints it; for the other filings derived automatically (numbers of the answer
  that the evidence prints, or the line items the justification names), tagged ``auto``;
- tags: ``printed`` (the answer, or its key fact, is printed on the evidence page) or ``arithmetic``
  (it has to be computed from printed figures), the FinanceBench question type, the document name,
  ``dev`` for the six development 10-Ks, ``ci`` for the small filings of the CI gate, and
  ``dev-printed``, ``dev-arithmetic``, ``ci-printed``... (``rag eval --tag`` takes any of its tags).

Then the questions of our own that the filings do not answer (``NOT_COVERED``): each names terms
that this script checks are absent from the filing's text (whole words, case-insensitive); the build
fails if one is found, so every such question was checked by searching the text.

    python eval/financebench/build.py                      # writes eval/financebench/questions.jsonl
    python eval/financebench/build.py --corpus /tmp/fb-dev --set dev  # also links the PDFs there

``rag eval`` then runs on a corpus folder holding the set's PDFs (``--corpus``; a link out of the
corpus folder is refused, so the PDFs are hard-linked, or copied, into it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / ".." / "shared" / "datasets" / "financebench-dev"

DEV = (
    "BESTBUY_2023_10K",
    "CVSHEALTH_2022_10K",
    "JOHNSON_JOHNSON_2022_10K",
    "PEPSICO_2022_10K",
    "PFIZER_2021_10K",
    "VERIZON_2022_10K",
)
CI = (
    "FOOTLOCKER_2022_8K_dated-2022-05-20",
    "PEPSICO_2023_8K_dated-2023-05-05",
    "ULTABEAUTY_2023Q4_EARNINGS",
)
SETS = {"dev": DEV, "ci": CI}

# financebench id (last digits) -> (kind, must_include), written from the gold answer and evidence
HAND: dict[str, tuple[str, list[str]]] = {
    # development 10-Ks
    "00685": ("arithmetic", ["9,912", "46,298", "11,640", "51,761"]),
    "01077": ("printed", ["Current Health", "Yardbird"]),
    "01275": ("printed", ["1,824"]),
    "00790": ("arithmetic", ["12,873", "228,275", "4,165"]),
    "01107": ("printed", ["usual and customary", "rebate", "opioid"]),
    "01244": ("printed", ["0.55"]),
    "00956": ("printed", ["1.3%"]),
    "00669": ("printed", ["vaccine", "currency", "commodity inflation"]),
    "00711": ("arithmetic", ["31,089", "12,483", "10,387"]),
    "01009": (
        "printed",
        ["Latin America", "Europe", "Africa, Middle East and South Asia|AMESA", "Asia Pacific"],
    ),
    "00735": ("printed", ["material adverse effect"]),
    "01328": ("printed", ["411"]),
    "03620": ("arithmetic", ["11,512", "2,763", "5,207"]),
    "04481": ("arithmetic", ["11,512", "2,763", "86,392"]),
    "00302": ("arithmetic", ["14,882", "13,745"]),
    "00702": ("printed", ["Consumer Healthcare JV"]),
    "02416": ("printed", ["Trillium", "Array", "Therachon"]),
    "00216": ("arithmetic", ["37,857", "2,388", "8,358", "50,171"]),
    "00215": ("arithmetic", ["379,680", "136,835"]),
    "00566": ("arithmetic", ["150,639", "150,868"]),
    # CI filings
    "00822": ("printed", ["Richard A. Johnson"]),
    "01482": ("printed", ["defeated"]),
    "00601": ("printed", ["marketing"]),
    "00603": ("printed", ["47 new stores"]),
    "00605": ("arithmetic", ["328.1", "900.0"]),
    "00606": ("printed", ["store payroll and benefits"]),
}

# questions of our own the filings do not answer: (document, question, terms absent from its text)
NOT_COVERED: list[tuple[str, str, list[str]]] = [
    ("BESTBUY_2023_10K", "What was Best Buy's revenue in fiscal 1994?", ["1994"]),
    ("BESTBUY_2023_10K", "How many stores does Best Buy run in Brazil?", ["Brazil"]),
    ("BESTBUY_2023_10K", "What are Best Buy's bitcoin holdings?", ["bitcoin"]),
    ("BESTBUY_2023_10K", "How many aircraft does Best Buy operate?", ["aircraft"]),
    (
        "BESTBUY_2023_10K",
        "How many tonnes of lithium did Best Buy mine in fiscal 2023?",
        ["lithium", "tonnes"],
    ),
    ("CVSHEALTH_2022_10K", "What were CVS Health's total revenues in 1989?", ["1989"]),
    ("CVSHEALTH_2022_10K", "How many pharmacies does CVS operate in Japan?", ["Japan"]),
    ("CVSHEALTH_2022_10K", "What are CVS Health's cryptocurrency holdings?", ["cryptocurrency"]),
    ("CVSHEALTH_2022_10K", "How much steel did CVS Health produce in 2022?", ["steel"]),
    ("CVSHEALTH_2022_10K", "How many satellites does CVS Health own?", ["satellite", "satellites"]),
    ("JOHNSON_JOHNSON_2022_10K", "What were Johnson & Johnson's sales in 1979?", ["1979"]),
    ("JOHNSON_JOHNSON_2022_10K", "How many video games did J&J sell in 2022?", ["video game"]),
    ("JOHNSON_JOHNSON_2022_10K", "What are J&J's bitcoin holdings at year end?", ["bitcoin"]),
    ("JOHNSON_JOHNSON_2022_10K", "How many hotel rooms does J&J operate?", ["hotel"]),
    ("JOHNSON_JOHNSON_2022_10K", "What was J&J's crude oil output in 2022?", ["crude oil"]),
    ("PEPSICO_2022_10K", "What was PepsiCo's net revenue in fiscal 1991?", ["1991"]),
    ("PEPSICO_2022_10K", "How many satellites does PepsiCo operate?", ["satellite", "satellites"]),
    ("PEPSICO_2022_10K", "What are PepsiCo's bitcoin holdings?", ["bitcoin"]),
    ("PEPSICO_2022_10K", "What was PepsiCo's revenue in Antarctica in 2022?", ["Antarctica"]),
    ("PEPSICO_2022_10K", "How many hospital beds does PepsiCo run?", ["hospital"]),
    ("PFIZER_2021_10K", "What were Pfizer's revenues in fiscal 1988?", ["1988"]),
    ("PFIZER_2021_10K", "How many restaurants does Pfizer operate?", ["restaurant", "restaurants"]),
    (
        "PFIZER_2021_10K",
        "What are Pfizer's cryptocurrency holdings?",
        ["cryptocurrency", "bitcoin"],
    ),
    ("PFIZER_2021_10K", "How many hotels does Pfizer own?", ["hotel", "hotels"]),
    ("PFIZER_2021_10K", "What was Pfizer's box office revenue in 2021?", ["box office"]),
    ("VERIZON_2022_10K", "What were Verizon's operating revenues in 1985?", ["1985"]),
    ("VERIZON_2022_10K", "How many oil wells does Verizon operate?", ["oil well", "oil wells"]),
    ("VERIZON_2022_10K", "How much soft drink volume did Verizon sell in 2022?", ["soft drink"]),
    ("VERIZON_2022_10K", "How many pharmacies does Verizon run?", ["pharmacy", "pharmacies"]),
    ("VERIZON_2022_10K", "What were Verizon's wine sales in 2022?", ["wine"]),
    # on the CI filings
    ("ULTABEAUTY_2023Q4_EARNINGS", "What were Ulta Beauty's net sales in fiscal 2011?", ["2011"]),
    ("ULTABEAUTY_2023Q4_EARNINGS", "How many Ulta Beauty stores are in Germany?", ["Germany"]),
    ("FOOTLOCKER_2022_8K_dated-2022-05-20", "What was Foot Locker's revenue in 2021?", ["revenue"]),
    ("PEPSICO_2023_8K_dated-2023-05-05", "How much did PepsiCo pay in dividends?", ["dividend"]),
]

NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")


def pdf_pages(path: Path) -> list[str]:
    """The plain text of each page (PDFium's text layer, no layout)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        out = []
        for i in range(len(pdf)):
            page = pdf[i]
            tp = page.get_textpage()
            out.append(tp.get_text_range())
            tp.close()
            page.close()
        return out
    finally:
        pdf.close()


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]{3,}", text.lower()))


def _check_page(pages: list[str], page: int, evidence: str) -> bool:
    want = _words(evidence)
    if not want or not 1 <= page <= len(pages):
        return not want
    return len(want & _words(pages[page - 1])) >= 0.7 * len(want)


def _kind(rec: dict) -> str:
    reasoning = (rec.get("question_reasoning") or "").lower()
    if reasoning.startswith("information extraction"):
        return "printed"
    if "numerical" in reasoning:
        return "arithmetic"
    answer_numbers = NUMBER_RE.findall(rec["answer"])
    evidence = " ".join(e["evidence_text"] for e in rec["evidence"])
    if answer_numbers and all(n in evidence for n in answer_numbers):
        return "printed"
    return "arithmetic" if answer_numbers else "printed"


def _auto_must(rec: dict, kind: str) -> list[str]:
    """Figures a correct answer quotes: the line items the justification names (their first figure
    in the evidence), else the answer's numbers the evidence prints."""
    evidence = " ".join(" ".join(e["evidence_text"].split()) for e in rec["evidence"])
    out: list[str] = []
    for label in re.findall(r"line item named: ([^.\n]+)", rec.get("justification") or ""):
        m = re.search(re.escape(label.strip()) + r"[^\d(]{0,40}\(?(\d[\d,]*(?:\.\d+)?)", evidence)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    if not out:
        for n in NUMBER_RE.findall(rec["answer"]):
            year = re.fullmatch(r"(19|20)\d\d", n)
            if len(n.strip(",.")) >= 2 and not year and n in evidence and n not in out:
                out.append(n)
    return out[:4]


def build(data: Path) -> list[dict]:
    records = [json.loads(line) for line in (data / "financebench_questions.jsonl").open()]
    texts: dict[str, list[str]] = {}

    def text_of(doc: str) -> list[str]:
        if doc not in texts:
            texts[doc] = pdf_pages(data / "pdfs" / f"{doc}.pdf")
        return texts[doc]

    out, problems = [], []
    for rec in records:
        fid = rec["financebench_id"].rsplit("_", 1)[-1]
        doc = rec["doc_name"]
        hand = HAND.get(fid)
        kind, must = hand if hand else (_kind(rec), None)
        if must is None:
            must = _auto_must(rec, kind)
        pages = []
        for ev in rec["evidence"]:
            ev_doc = ev.get("doc_name") or doc
            page = int(ev["evidence_page_num"]) + 1  # 0-based in FinanceBench
            entry = {"document": f"{ev_doc}.pdf", "page": page}
            if entry not in pages:
                pages.append(entry)
            if (doc in DEV or doc in CI) and not _check_page(
                text_of(ev_doc), page, ev["evidence_text"]
            ):
                problems.append(
                    f"{rec['financebench_id']}: evidence not on page {page} of {ev_doc}"
                )
        if doc in DEV or doc in CI:
            joined = " ".join(" ".join(text_of(doc)).split()).lower()
            for item in must:
                if not any(alt.lower() in joined for alt in item.split("|")):
                    problems.append(f"{rec['financebench_id']}: {item!r} is not in {doc}")
        tags = [kind, rec["question_type"], doc]
        tags += [
            f"{n}{suffix}" for n, docs in SETS.items() if doc in docs for suffix in ("", f"-{kind}")
        ]
        if not hand:
            tags.append("auto")
        out.append(
            {
                "id": f"fb-{fid}",
                "question": rec["question"],
                "reference": rec["answer"],
                "must_include": must,
                "pages": pages,
                "answerable": True,
                "tags": tags,
            }
        )
    for n, (doc, question, absent) in enumerate(NOT_COVERED, 1):
        joined = " ".join(" ".join(text_of(doc)).split())
        for term in absent:
            if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", joined, re.I):
                problems.append(f"not-covered {n}: {term!r} occurs in {doc}")
        tags = ["not-covered", doc] + [name for name, docs in SETS.items() if doc in docs]
        out.append(
            {
                "id": f"fb-nc-{n:02d}",
                "question": question,
                "answerable": False,
                "tags": tags,
                "notes": f"{doc} never mentions: " + ", ".join(absent),
            }
        )
    if problems:
        raise SystemExit("build failed:\n  " + "\n  ".join(problems))
    return out


def link_corpus(data: Path, target: Path, docs: tuple[str, ...]) -> None:
    """Hard-link (or copy) the set's PDFs into ``target``, a corpus folder for ``rag eval``."""
    target.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        src, dst = data / "pdfs" / f"{doc}.pdf", target / f"{doc}.pdf"
        if dst.exists():
            continue
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help="the financebench-dev folder")
    ap.add_argument("--out", type=Path, default=HERE / "questions.jsonl")
    ap.add_argument("--corpus", type=Path, help="also put the set's PDFs in this folder")
    ap.add_argument("--set", choices=sorted(SETS), default="dev")
    args = ap.parse_args(argv)
    if not (args.data / "financebench_questions.jsonl").exists():
        print(f"error: {args.data} holds no financebench_questions.jsonl", file=sys.stderr)
        return 2
    rows = build(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    tmp.replace(args.out)
    print(f"{args.out}: {len(rows)} questions")
    if args.corpus:
        link_corpus(args.data, args.corpus, SETS[args.set])
        print(f"{args.corpus}: the {args.set} set's {len(SETS[args.set])} PDFs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
