"""Synthetic company profiles: a corpus of any size for the scale benchmark and the tests.

Each document is a markdown profile shaped like the bundled one: a title, an overview paragraph, a
"Company Info" list, product sections with sub-headings, performance, research centres, strategy
and contact sections. Names, places, years and figures are drawn from seeded generators, so the same
``seed`` gives the same corpus, byte for byte. With the engine's default chunking (200 tokens), one
section is about one chunk, so ``generate(folder, n_chunks)`` writes ``n_chunks / SECTIONS_PER_DOC``
documents; ``count_sections`` tells the exact number of non-empty sections written.

Questions about the generated documents (``questions``) come with the document and section that
answer them, for latency and recall measurements. Nothing here is about SenseTime.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

SYLLABLES = (
    "ka ven tro lix qua nor zen bel mar sol tek vio dra fen gal hor ist jun kel lum "
    "mos nex orb pra rin sen tal ul vex wyn xan yor zel bri cor dex"
).split()
CITIES = (
    "Lisbon Osaka Nairobi Toronto Lyon Bergen Pune Austin Leeds Seoul Hanoi Quito Perth Turin "
    "Dresden Malmo Cork Busan Recife Tartu Gdansk Kochi Oulu Graz Porto Aarhus Bilbao Adelaide"
).split()
FIRST = "Ada Bruno Chen Dara Elif Farid Greta Hana Ivo Jana Kenji Lena Mateo Nia Omar Priya".split()
LAST = "Okafor Lindqvist Moreau Tanaka Novak Haddad Silva Kowalski Byrne Ueda Rossi Mehta".split()
FIELDS = (
    "computer vision|speech recognition|robotics|logistics software|battery chemistry|"
    "genomics|payments|satellite imaging|industrial sensors|language models|drug discovery|"
    "energy storage|precision farming|cyber security|medical imaging|supply chain analytics"
).split("|")
MARKETS = "retail|healthcare|finance|manufacturing|education|transport|energy|agriculture".split(
    "|"
)
PRODUCT_KINDS = "Platform|Studio|Engine|Cloud|Suite|Kit|Hub|Vision|Sense|Flow".split("|")
VERBS = "helps|lets|allows|enables".split("|")
TASKS = (
    "inspect parts on a production line|forecast demand across stores|read medical scans|"
    "route delivery vans|detect fraud in card payments|monitor crops from the air|"
    "translate support tickets|plan maintenance for wind turbines|track stock in warehouses|"
    "screen molecules for new drugs|secure networks against intrusions|grade exam papers"
).split("|")
SECTIONS_PER_DOC = 18


def _name(rng: random.Random, parts: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


@dataclass(frozen=True)
class Question:
    text: str
    doc_id: str
    section: str  # last heading of the section that answers it


def profile(doc_seed: int) -> tuple[str, list[Question], str]:
    """One profile: (markdown, questions it answers, company name). Deterministic in ``doc_seed``."""
    rng = random.Random(doc_seed)
    company = _name(rng) + rng.choice(["", " Labs", " Systems", " Technologies", " AI"])
    founder, ceo = _person(rng), _person(rng)
    city, year = rng.choice(CITIES), rng.randint(1985, 2021)
    field_, market = rng.choice(FIELDS), rng.choice(MARKETS)
    staff = rng.randint(40, 9000)
    products = [f"{_name(rng, 2)} {rng.choice(PRODUCT_KINDS)}" for _ in range(4)]
    centres = rng.sample(CITIES, 4)
    revenue = [round(rng.uniform(5, 900), 1) for _ in range(3)]
    lines = [f"# {company}", ""]
    questions: list[Question] = []
    doc = f"{company.lower().replace(' ', '_')}_{doc_seed}.md"

    def section(title: str, body: list[str], level: int = 2) -> None:
        lines.extend([f"{'#' * level} {title}", *body, ""])

    section(
        "Overview",
        [
            f"{company} is a {field_} company based in {city}. It sells to customers in {market} "
            f"and employs about {staff:,} people. Its mission is to make {field_} practical for "
            f"everyday {market} work."
        ],
    )
    questions.append(Question(f"What does {company} do?", doc, "Overview"))
    section(
        "Company Info",
        [
            f"- **Founder**: {founder}",
            f"- **Founded**: {rng.choice(['March', 'June', 'October'])} {year}",
            f"- **Headquarters**: {city}",
            f"- **CEO**: {ceo}",
            f"- **Employees**: {staff:,}",
        ],
    )
    questions.append(Question(f"Who founded {company}?", doc, "Company Info"))
    questions.append(Question(f"When was {company} founded?", doc, "Company Info"))
    section("Products", [f"{company} offers {len(products)} main products."])
    for p in products:
        task = rng.choice(TASKS)
        section(
            p,
            [
                f"{p} {rng.choice(VERBS)} {market} teams {task}. It was launched in "
                f"{rng.randint(year, 2024)} and is used by {rng.randint(3, 400)} customers.",
                "",
                f"- **Deployment**: {rng.choice(['cloud', 'on premises', 'edge devices'])}",
                f"- **Pricing**: {rng.choice(['per seat', 'per device', 'usage based'])}",
            ],
            level=3,
        )
        questions.append(Question(f"What is {p}?", doc, p))
    section(
        "Recent Performance",
        [
            f"- **{2021 + i}**: revenue of {r} million dollars"
            + (f", {'up' if r > revenue[i - 1] else 'down'} from the year before" if i else "")
            for i, r in enumerate(revenue)
        ],
    )
    questions.append(Question(f"What was {company}'s revenue in 2023?", doc, "Recent Performance"))
    section("Research Centers", [f"- {c}: {rng.choice(FIELDS)} research" for c in centres])
    questions.append(Question(f"Where are {company}'s research centers?", doc, "Research Centers"))
    for title in (
        "Strategy",
        "Partnerships",
        "Customers",
        "Competition",
        "Risks",
        "Awards",
        "Sustainability",
        "Hiring",
    ):
        other = _name(rng)
        section(
            title,
            [
                f"In {title.lower()}, {company} works with {other} on {rng.choice(TASKS)}. "
                f"The team in {rng.choice(centres)} leads this work since {rng.randint(year, 2024)}."
            ],
        )
    section(
        "Contact Information",
        [
            f"- **Email**: info@{company.split()[0].lower()}.example",
            f"- **Phone**: +1 555 {rng.randint(1000, 9999)}",
        ],
    )
    questions.append(Question(f"How can I contact {company}?", doc, "Contact Information"))
    return "\n".join(lines), questions, company


def generate(folder: Path, n_chunks: int, seed: int = 0) -> list[Question]:
    """Write about ``n_chunks`` chunks' worth of profiles into ``folder`` (created; must be empty).
    Returns the questions the documents answer."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty: generate into a new folder")
    n_docs = max(1, round(n_chunks / SECTIONS_PER_DOC))
    questions: list[Question] = []
    for i in range(n_docs):
        text, qs, _ = profile(seed * 1_000_003 + i)
        sub = folder / f"{i // 1000:03d}"  # at most 1,000 files per folder
        sub.mkdir(exist_ok=True)
        name = qs[0].doc_id
        (sub / name).write_text(text, encoding="utf-8")
        questions.extend(Question(q.text, f"{sub.name}/{name}", q.section) for q in qs)
    return questions
