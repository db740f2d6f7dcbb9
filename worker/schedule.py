"""What beat does besides Celery's own schedule: poll at once whatever is due after a (re)start.

Celery's interval entries first fire one interval after beat starts; a source that was never
polled, or whose last poll is older than its interval, is polled immediately instead, so a fresh
`newswire run` serves feeds within seconds and a restart does not poll everything again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from redis import Redis

from config.sources import Source
from tasks.keys import Keys, text

log = logging.getLogger("newswire.beat")


def due_sources(
    redis: Redis, keys: Keys, sources: Sequence[Source], now: datetime | None = None
) -> list[Source]:
    now = now or datetime.now(UTC)
    due = []
    for source in sources:
        if not source.enabled:
            continue
        last = text(redis.hget(keys.health(source.id), "last_poll"))
        if last is None:
            due.append(source)
            continue
        elapsed = (now - datetime.fromisoformat(last)).total_seconds()
        if elapsed >= (source.interval_seconds or 900):
            due.append(source)
    return due
