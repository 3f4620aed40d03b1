"""Which documents a question may be answered from: the filter that retrieval and the stores share.

A `Filters` value names documents (by their corpus-relative file name), document types ("10-K",
"earnings release", ...) and periods ("FY2022", "Q2 FY2023", ...). An empty field allows every
value; a non-empty one allows only the values it lists. Matching is exact and case-insensitive:
recognising a period or an alias in a question is the question analysis's job, not this module's.

It does not know how a store applies it (a FAISS mask, a Milvus expression); each store translates
`Filters` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


def _norm(values: Iterable[str] | str | None) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [values]
    out = set()
    for v in values:
        if not isinstance(v, str):
            raise ValueError(f"filter values must be strings, got {v!r}")
        v = v.strip()
        if v:
            out.add(v.casefold())
    return frozenset(out)


@dataclass(frozen=True)
class Filters:
    """Documents, document types and periods a retrieval may draw from (empty: any)."""

    documents: frozenset[str] = field(default_factory=frozenset)
    doc_types: frozenset[str] = field(default_factory=frozenset)
    periods: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def make(
        cls,
        documents: Iterable[str] | str | None = None,
        doc_types: Iterable[str] | str | None = None,
        periods: Iterable[str] | str | None = None,
    ) -> Filters:
        return cls(_norm(documents), _norm(doc_types), _norm(periods))

    @property
    def empty(self) -> bool:
        return not (self.documents or self.doc_types or self.periods)

    def allows(self, document: str, record: Mapping | None = None) -> bool:
        """Whether a chunk of `document` (with its document record, if any) passes."""
        if self.documents and document.casefold() not in self.documents:
            return False
        record = record or {}
        if self.doc_types:
            kind = str(record.get("type") or "").casefold()
            if kind not in self.doc_types:
                return False
        if self.periods:
            periods = record.get("periods") or ([record["period"]] if record.get("period") else [])
            if not any(str(p).casefold() in self.periods for p in periods):
                return False
        return True

    def to_dict(self) -> dict:
        return {
            "documents": sorted(self.documents),
            "doc_types": sorted(self.doc_types),
            "periods": sorted(self.periods),
        }
