"""Answer types: what kind of thing a question asks for, and whether a text holds one.

A question asks for a date, a length of time, a figure, an email address, a phone number, a web
address, a person, a product's own name, or something else (``question_kind``). The kind is read
from the question's *own* wh-word, the first one: "Who led the revolt when the tax rose?" asks for a
person, not a date. ``has_kind`` tells whether a sentence holds that kind of thing, for any text:
dates of any era ("1066", "430 BC", "the 16th century", "the 1960s", "1914–18", "May 2021"),
figures written in digits or in words ("57 engineers", "two ships", "a dozen"), and so on.

Nothing here knows a particular document: the patterns are English, not a corpus's phrases.
"""

from __future__ import annotations

import functools
import re

MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred thousand million billion trillion dozen dozens hundreds thousands millions "
    "billions single couple pair half"
).split()
ORDINAL_WORDS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth "
    "twenty-first"
).split()
_NUMWORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_ORDWORD = "|".join(sorted(ORDINAL_WORDS, key=len, reverse=True))

# a date of any era: a month name, a year with an era ("430 BC", "AD 79"), a century or
# millennium ("the 16th century", "third century BC"), a decade ("the 1960s", "1920s"), a year in a
# date context ("in 1066", "1526", "1914–18"), a full numeric date ("12/05/1998")
DATE_RE = re.compile(
    rf"\b{MONTHS}\b(?!\s+(?:i|you|we|they|he|she|it|not|be|have)\b)"
    r"|\b\d{1,4}\s?(?:BCE?|CE|AD|A\.D\.|B\.C\.(?:E\.)?)(?![\w])|\b(?:AD|A\.D\.)\s?\d{1,4}\b"
    rf"|\b(?:\d{{1,2}}(?:st|nd|rd|th)|{_ORDWORD})[\s-]+(?:century|centuries|millennium)\b"
    r"|\b(?:1\d|20)?\d0s\b|\b\d0['’]s\b"
    r"|\b(?:in|since|by|from|until|till|to|of|after|before|during|around|circa|c\.)\s+\d{3,4}\b"
    r"|\b(?:1\d{3}|20\d{2})\b"
    r"|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b",
    re.IGNORECASE,
)
DURATION_RE = re.compile(
    rf"(?:\d+|\b(?:{_NUMWORD}))[\s-]*(?:years?|months?|weeks?|days?|decades?|centuries|century|"
    r"hours?|minutes?)\b",
    re.IGNORECASE,
)
# a figure: an amount, a share or a count, in digits or in words ("$1.2B", "45%", "57", "two",
# "a dozen", "a single"); a year alone is not a count
QUANTITY_RE = re.compile(
    r"[$€£¥]\s?\d|\d(?:[\d,.]*\d)?\s?(?:%|\+|percent\b|per cent\b|[kmb]n?\b|billion\b|"
    r"million\b|thousand\b)|\b\d{1,3}(?:,\d{3})+\b|\b(?!(?:1[5-9]|20)\d\d\b)\d+(?:\.\d+)?(?=\s+[a-z])"
    rf"|\b(?:{_NUMWORD})\b|\ba (?:single|couple|pair|few|handful)\b",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE_RE = re.compile(r"(?:\+|\b)\d[\d ()-]{6,}\d\b")
WEB_RE = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|org|net|cn|io|gov|edu|int|co)\b")
# a person: a title before a capitalised word, or two or more capitalised words in a row that do
# not open the sentence ("founded by Ada Lovelace"), or an agent label ("Founder: ...")
TITLE_RE = re.compile(
    r"\b(?:Professor|Prof\.|Dr\.?|Mr\.?|Mrs\.?|Ms\.?|Sir|Dame|Lord|Lady|King|Queen|Emperor|"
    r"Pope|President|General|Saint|St\.)\s+[A-Z]"
)
_NOT_NAME = (
    r"(?!(?:A|An|The|In|On|At|By|For|From|Of|To|With|As|It|Its|This|That|These|Those|He|She|They|"
    r"We|His|Her|Their|Our|And|But|Or|If|When|While|After|Before|During|Since|Under|Over)\b)"
)
NAME_RUN_RE = re.compile(
    rf"(?<![.!?:]\s)(?<!^)\b{_NOT_NAME}[A-Z][a-z'’]+(?:\s+(?:de|van|von|da)?\s*[A-Z][a-z'’]+)+\b"
)
AGENT_LABEL_RE = re.compile(r"^[\w' -]*?(?:er|or|ist|ent|ant)s?\s*:", re.I)
LABEL_RE = re.compile(r"^[^:]{1,60}:\s")  # "Founder: ..." - a unit that names what it is

KIND_NAMES = {
    "date": "a date",
    "quantity": "a figure",
    "duration": "a date or a length of time",
    "email": "an email address",
    "phone": "a phone number",
    "web": "a web address",
    "person": "a person",
    "name": "a name",
}
STRICT_KINDS = ("date", "duration", "quantity", "email", "phone", "web")
KINDS = ("other", "person", "name", *STRICT_KINDS)

# the wh-word that opens the question (after a preposition or a discourse opener) is its own;
# a later "when"/"where" opens a clause ("Who led the revolt when ...?")
_OPENER = r"^\s*(?:(?:and|so|but|ok|okay|then|also|now)\b[\s,]*)?(?:(?:in|on|at|by|since|until|from|for|to|of|during|about)\s+)?"
_DATE_Q = re.compile(
    _OPENER + r"(?:when\b|what (?:year|date|month|day|decade|century|era|period|time)\b|"
    r"which (?:year|date|month|day|decade|century|era|period)\b|how long ago\b)",
    re.IGNORECASE,
)
_DATE_ANYWHERE = re.compile(
    r"\b(?:in|on|by|since|until) (?:what|which) (?:year|date|month|day|decade|century)\b"
    r"|\bwhat (?:year|date) (?:did|was|were|is|does)\b",
    re.IGNORECASE,
)
_DURATION_Q = re.compile(
    r"\bhow (?:many|much) (?:years|months|weeks|days|decades|centuries|time)\b.*\b(?:after|since|"
    r"between|before|until|till|from|to|ago)\b|\bhow long (?:after|since|before|ago|has|have|had|"
    r"did|does|do|was|were|is|are|will)\b",
    re.IGNORECASE,
)


def question_kind(question: str) -> str:
    """What kind of thing the question asks for (one of ``KINDS``)."""
    q = question.lower()
    if _DATE_Q.search(q) or _DATE_ANYWHERE.search(q):
        return "date"
    if _DURATION_Q.search(q):
        return "duration"
    if re.search(r"\b(e-?mail|email address)\b", q):
        return "email"
    if re.search(r"\b(tele)?phone (number|no)\b|\bfax\b|\bhotline\b|\bcall (them|you|it)\b", q):
        return "phone"
    if re.search(r"\b(website|web site|url|homepage|web address)\b", q):
        return "web"
    if re.search(
        r"\bhow (?:many|much)\b(?!\s+of\b)|\bwhat (?:percentage|proportion|fraction|number)\b", q
    ):
        return "quantity"
    if re.match(_OPENER + r"(?:who|whom|whose)\b", q):
        return "person"
    if re.match(
        r"\s*(?:which|what)\s+(?:\w+\s+)?(?:product|platform|tool|brand|app|application|"
        r"software)s?\b",
        q,
    ):
        return "name"
    return "other"


def has_kind(text: str, kind: str, coined_zipf: float = 1.5) -> bool:
    """Does ``text`` hold the kind of thing a question asks for?"""
    if kind == "date":
        return bool(DATE_RE.search(text))
    if kind == "duration":
        return bool(DATE_RE.search(text) or DURATION_RE.search(text))
    if kind == "quantity":
        return bool(QUANTITY_RE.search(text))
    if kind == "email":
        return bool(EMAIL_RE.search(text))
    if kind == "phone":
        return bool(PHONE_RE.search(text))
    if kind == "web":
        return bool(WEB_RE.search(text))
    if kind == "person":
        return bool(TITLE_RE.search(text) or AGENT_LABEL_RE.match(text) or NAME_RUN_RE.search(text))
    if kind == "name":
        # a coined name leads the unit: a capitalised word that is not an English word
        lead = LABEL_RE.match(text)
        head = (lead.group(0) if lead else " ".join(text.split()[:3])).split()
        return any(w[:1].isupper() and is_coined(w.strip(":(),."), coined_zipf) for w in head)
    return True


@functools.lru_cache(maxsize=4096)
def is_coined(word: str, coined_zipf: float = 1.5) -> bool:
    """A made-up name (a product's), not an English word: rarer than ``coined_zipf`` in English."""
    from rag.repair import zipf

    return len(word) > 3 and zipf(word.lower()) < coined_zipf
