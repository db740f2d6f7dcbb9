"""Article events: CloudEvents 1.0 envelopes on a Redis Stream (PRODUCT.md §7).

Each stream entry has one field, ``event``, holding the JSON envelope. Event ids are derived from
the article id, the event type and the content fingerprint, so a redelivered task can never
produce a second, different id for the same change; consumers dedupe on ``id``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from tasks.keys import text
from tasks.models import Article

CREATED = "newswire.article.created"
UPDATED = "newswire.article.updated"
SOURCE_BROKEN = "newswire.source.broken"
SOURCE_RECOVERED = "newswire.source.recovered"
SPEC_VERSION = "1.0"


def event_id(kind: str, subject: str, version: str) -> str:
    return hashlib.sha256(f"{kind}\x00{subject}\x00{version}".encode()).hexdigest()[:32]


def article_event(kind: str, article: Article, time: datetime | None = None) -> dict[str, Any]:
    """The CloudEvents envelope for an article change; ``data`` is the article itself."""
    return {
        "specversion": SPEC_VERSION,
        "id": event_id(kind, article.id, article.fingerprint),
        "source": f"newswire/{article.source_id}",
        "type": kind,
        "subject": article.id,
        "time": (time or datetime.now(UTC)).isoformat(),
        "datacontenttype": "application/json",
        "data": article.to_dict(),
    }


def source_event(kind: str, source_id: str, data: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "specversion": SPEC_VERSION,
        "id": event_id(kind, source_id, now.isoformat()),
        "source": f"newswire/{source_id}",
        "type": kind,
        "subject": source_id,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


def encode(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def publish(redis: Redis, stream: str, envelope: dict[str, Any], maxlen: int) -> str:
    """Append one event outside an article claim (source health events)."""
    entry_id = redis.xadd(stream, {"event": encode(envelope)}, maxlen=maxlen, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


@dataclass(frozen=True)
class StreamEvent:
    entry_id: str
    envelope: dict[str, Any]


def _decode_entries(entries: list[Any]) -> list[StreamEvent]:
    events = []
    for entry_id, fields in entries:
        raw = fields.get(b"event") or fields.get("event")
        events.append(
            StreamEvent(
                entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
                json.loads(raw),
            )
        )
    return events


def read_events(
    redis: Redis, stream: str, after: str = "0-0", count: int = 1000
) -> list[StreamEvent]:
    """Events after ``after`` (exclusive), oldest first."""
    entries: Any = redis.xrange(stream, min=f"({after}" if after != "0-0" else "-", count=count)
    return _decode_entries(entries)


def oldest_retained(redis: Redis, stream: str) -> str | None:
    first: Any = redis.xrange(stream, count=1)
    return text(first[0][0]) if first else None


def is_behind_trim(redis: Redis, stream: str, last_seen: str) -> bool:
    """True when events after ``last_seen`` may have been trimmed away (MAXLEN trims the oldest).

    That is the case when the stream has dropped entries and ``last_seen`` is older than the
    oldest one retained. It errs on the safe side: a consumer is told of a possible gap rather
    than handed a silent one.
    """
    if not redis.exists(stream):
        return False
    info: Any = redis.xinfo_stream(stream)
    if int(info.get("entries-added", 0)) <= int(info.get("length", 0)):
        return False  # nothing was ever trimmed
    oldest = oldest_retained(redis, stream)
    return oldest is not None and _id_tuple(last_seen) < _id_tuple(oldest)


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def tail(
    redis: Redis,
    stream: str,
    from_start: bool = False,
    block_ms: int = 1000,
    after: str | None = None,
) -> Iterator[StreamEvent]:
    """Follow the stream for ever (``events tail``); yields each event once, in order."""
    # Resolve "now" to a concrete id once: re-reading from "$" on every call would skip events
    # that arrive between two calls.
    last = after or "0-0"
    if not from_start and after is None:
        newest: Any = redis.xrevrange(stream, count=1)
        if newest:
            last = text(newest[0][0]) or "0-0"
    while True:
        response: Any = redis.xread({stream: last}, block=block_ms, count=100)
        for _stream, entries in response or []:
            for event in _decode_entries(entries):
                last = event.entry_id
                yield event


def ensure_group(redis: Redis, stream: str, group: str, from_start: bool = False) -> None:
    """Create a consumer group (and the stream) if missing; new groups start at the end
    unless ``from_start``."""
    try:
        redis.xgroup_create(stream, group, id="0" if from_start else "$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def consume_group(
    redis: Redis,
    stream: str,
    group: str,
    consumer: str,
    from_start: bool = False,
    block_ms: int = 1000,
    idle_reclaim_ms: int = 60_000,
) -> Iterator[StreamEvent]:
    """Read as a consumer group member, at least once: first this consumer's own pending
    (delivered, never acknowledged) events, then entries abandoned by dead consumers
    (XAUTOCLAIM), then new ones. Each event is acknowledged after the caller has handled it,
    i.e. when the generator is resumed."""
    ensure_group(redis, stream, group, from_start)
    pending_from: str | None = "0"
    response: Any
    while True:
        if pending_from is not None:
            response = redis.xreadgroup(group, consumer, {stream: pending_from}, count=100)
        else:
            claimed: Any = redis.xautoclaim(
                stream, group, consumer, idle_reclaim_ms, "0-0", count=100
            )
            entries = claimed[1] if claimed else []
            if entries:
                response = [[stream, entries]]
            else:
                response = redis.xreadgroup(
                    group, consumer, {stream: ">"}, count=100, block=block_ms
                )
        batch: list[StreamEvent] = []
        for _stream, entries in response or []:
            batch.extend(_decode_entries([e for e in entries if e[1]]))
        if pending_from is not None and not batch:
            pending_from = None  # own backlog done; switch to new entries
            continue
        for event in batch:
            yield event
            redis.xack(stream, group, event.entry_id)
            if pending_from is not None:
                pending_from = event.entry_id
