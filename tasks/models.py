"""The data that flows between stages, one type per arrow.

    FetchedPage  --extract-->  Article  --store-->  feeds / events

All are frozen dataclasses of plain values so they can be tested, compared and serialised
without any of the machinery around them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FetchedPage:
    """One HTTP response, decoded. ``text`` is None for 304 Not Modified."""

    url: str  # the URL that was asked for
    final_url: str  # after redirects
    status: int
    headers: dict[str, str]  # lower-cased names
    content: bytes
    text: str | None = None  # decoded with the right charset (tasks.decode)
    encoding: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    elapsed_ms: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Article:
    """A normalized article (PRODUCT.md §5). Dates are timezone-aware."""

    id: str
    source_id: str
    url: str
    canonical_url: str
    title: str
    summary: str = ""
    content_html: str = ""
    text: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    fetched_at: datetime | None = None
    authors: tuple[str, ...] = ()
    attribution: str | None = None
    language: str | None = None
    image: str | None = None
    tags: tuple[str, ...] = ()
    fingerprint: str = ""
    duplicate_of: str | None = None
    # Where each field came from ("selector", "json-ld", "og", "heuristic", "first_seen", ...),
    # so `newswire check` can explain a wrong field and feeds can tell a page date from a guess.
    provenance: dict[str, str] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Article:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: dates as ISO 8601 strings, tuples as lists."""
        return {
            "id": self.id,
            "source_id": self.source_id,
            "url": self.url,
            "canonical_url": self.canonical_url,
            "title": self.title,
            "summary": self.summary,
            "content_html": self.content_html,
            "text": self.text,
            "published": _iso(self.published),
            "updated": _iso(self.updated),
            "fetched_at": _iso(self.fetched_at),
            "authors": list(self.authors),
            "attribution": self.attribution,
            "language": self.language,
            "image": self.image,
            "tags": list(self.tags),
            "fingerprint": self.fingerprint,
            "duplicate_of": self.duplicate_of,
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Article:
        return cls(
            id=data["id"],
            source_id=data["source_id"],
            url=data["url"],
            canonical_url=data.get("canonical_url") or data["url"],
            title=data.get("title") or "",
            summary=data.get("summary") or "",
            content_html=data.get("content_html") or "",
            text=data.get("text") or "",
            published=_parse_iso(data.get("published")),
            updated=_parse_iso(data.get("updated")),
            fetched_at=_parse_iso(data.get("fetched_at")),
            authors=tuple(data.get("authors") or ()),
            attribution=data.get("attribution"),
            language=data.get("language"),
            image=data.get("image"),
            tags=tuple(data.get("tags") or ()),
            fingerprint=data.get("fingerprint") or "",
            duplicate_of=data.get("duplicate_of"),
            provenance=dict(data.get("provenance") or {}),
        )
