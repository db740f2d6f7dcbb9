"""Source health: what the last poll did, how often it failed in a row, when to poll next.

Kept in Redis (one hash per source) so every worker, `newswire status` and `/status` see the same
facts. Backoff lives here too, as a "not before" time, rather than in long Celery countdowns
(a countdown longer than the broker's visibility timeout would run the task several times).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from config.settings import Settings
from config.sources import Source
from tasks import events
from tasks.errors import FetchError, NewswireError
from tasks.keys import Keys

BACKOFF_BASE_SECONDS = 60.0
BACKOFF_CAP_SECONDS = 6 * 3600.0
# A listing that used to yield links and now yields none is flagged (selector broken?).
NO_LINKS_AFTER = 3


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def backoff_seconds(failures: int, error: NewswireError, interval: float) -> float:
    """Exponential with jitter for transient errors; permanent ones wait at least an hour."""
    if isinstance(error, FetchError) and error.retry_after:
        return min(BACKOFF_CAP_SECONDS, float(error.retry_after))
    if not error.transient:
        return max(interval, 3600.0)
    raw = BACKOFF_BASE_SECONDS * 2.0 ** max(0, failures - 1)
    return min(BACKOFF_CAP_SECONDS, raw) * random.uniform(0.8, 1.2)


def may_poll(redis: Redis, keys: Keys, source: Source, now: datetime | None = None) -> bool:
    """False while a source is backing off after failures."""
    not_before = _text(redis.hget(keys.health(source.id), "not_before"))
    return not not_before or float(not_before) <= (now or _now()).timestamp()


def never_succeeded(redis: Redis, keys: Keys, source: Source) -> bool:
    return not redis.hexists(keys.health(source.id), "last_success")


def retry_due(redis: Redis, keys: Keys, sources: Sequence[Source]) -> list[str]:
    """Failed sources whose backoff has ended; each is handed out once (its mark is cleared)."""
    now = _now().timestamp()
    due = []
    for source in sources:
        key = keys.health(source.id)
        outcome, not_before = redis.hmget(key, "outcome", "not_before")
        if _text(outcome) != "failed" or not _text(not_before):
            continue
        if float(_text(not_before) or 0) <= now:
            redis.hset(key, "not_before", "")
            due.append(source.id)
    return due


def record_success(
    redis: Redis, settings: Settings, source: Source, outcome: str, links: int, new: int
) -> None:
    keys = Keys(settings.key_prefix)
    key = keys.health(source.id)
    previous_failures = int(_text(redis.hget(key, "consecutive_failures")) or 0)
    now = _now()
    pipe = redis.pipeline()
    pipe.hset(
        key,
        mapping={
            "last_poll": now.isoformat(),
            "last_success": now.isoformat(),
            "outcome": outcome,
            "reason": "",
            "message": "",
            "consecutive_failures": 0,
            "not_before": "",
            "links_last": links,
            "articles_new_last": new,
        },
    )
    pipe.hincrby(key, "articles_total", new)
    pipe.hincrby(key, "polls", 1)
    pipe.execute()
    if previous_failures:
        events.publish(
            redis,
            settings.stream_key,
            events.source_event(
                events.SOURCE_RECOVERED, source.id, {"after_failures": previous_failures}
            ),
            settings.stream_maxlen,
        )


def record_failure(redis: Redis, settings: Settings, source: Source, error: NewswireError) -> float:
    """Record a failed poll; returns the backoff in seconds before the next attempt."""
    keys = Keys(settings.key_prefix)
    key = keys.health(source.id)
    failures = int(redis.hincrby(key, "consecutive_failures", 1))
    delay = backoff_seconds(failures, error, source.interval_seconds or 900.0)
    now = _now()
    redis.hset(
        key,
        mapping={
            "last_poll": now.isoformat(),
            "outcome": "failed",
            "reason": error.reason,
            "message": error.message,
            "url": error.url or "",
            "not_before": str(now.timestamp() + delay),
        },
    )
    redis.hincrby(key, "polls", 1)
    if failures == 1:
        events.publish(
            redis,
            settings.stream_key,
            events.source_event(events.SOURCE_BROKEN, source.id, error.to_dict()),
            settings.stream_maxlen,
        )
    return delay


def record_article_failure(
    redis: Redis, settings: Settings, source: Source, error: NewswireError
) -> None:
    key = Keys(settings.key_prefix).health(source.id)
    pipe = redis.pipeline()
    pipe.hincrby(key, "article_failures", 1)
    pipe.hset(key, mapping={"last_article_error": str(error), "last_article_reason": error.reason})
    pipe.execute()


def source_status(
    redis: Redis, settings: Settings, sources: Sequence[Source]
) -> list[dict[str, Any]]:
    """One row per source for `newswire status` and `/status`."""
    keys = Keys(settings.key_prefix)
    pipe = redis.pipeline(transaction=False)
    for source in sources:
        pipe.hgetall(keys.health(source.id))
    rows = []
    for source, raw in zip(sources, pipe.execute(), strict=True):
        data = {_text(k): _text(v) for k, v in raw.items()}
        not_before = data.get("not_before")
        rows.append(
            {
                "source_id": source.id,
                "name": source.name,
                "url": source.url,
                "interval": source.interval,
                "last_poll": data.get("last_poll"),
                "last_success": data.get("last_success"),
                "outcome": data.get("outcome") or "never",
                "reason": data.get("reason") or None,
                "last_error": data.get("message") or None,
                "consecutive_failures": int(data.get("consecutive_failures") or 0),
                "articles_total": int(data.get("articles_total") or 0),
                "articles_new": int(data.get("articles_new_last") or 0),
                "links_last": int(data.get("links_last") or 0),
                "article_failures": int(data.get("article_failures") or 0),
                "last_article_error": data.get("last_article_error"),
                "next_run": datetime.fromtimestamp(float(not_before), UTC).isoformat()
                if not_before
                else None,
            }
        )
    return rows
