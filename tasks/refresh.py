"""Re-fetching recent articles to catch edits.

An article is refreshed 1 h, 2 h, 4 h, 8 h, ... after it was first seen, for as long as
``settings.refresh_hours`` (48 by default): editors fix titles and bodies in the first hours, and
doubling the gap keeps the cost at a handful of requests per article. Refreshes are conditional
GETs, so an unchanged page costs a 304 (or an identical body) and no parsing. Listing polls never
refetch known articles; only this schedule does.

The schedule is one Redis sorted set: member ``"<source_id> <first_seen> <url>"``, score = when
the next refresh is due. The re-fetch itself is ``tasks.pipeline.refresh_article``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

from config.settings import Settings
from tasks.keys import Keys, text

FIRST_REFRESH_SECONDS = 3600.0


@dataclass(frozen=True)
class DueRefresh:
    source_id: str
    first_seen: float
    url: str


def _key(keys: Keys) -> str:
    return f"{keys.prefix}refresh"


def schedule_key(settings: Settings) -> str:
    return _key(Keys(settings.key_prefix))


def plan(
    settings: Settings, source_id: str, url: str, first_seen: float, now: float | None = None
) -> tuple[str, float] | None:
    """The schedule entry (member, due time) of an article's next refresh; None when its
    refresh window is over."""
    now = time.time() if now is None else now
    window_end = first_seen + settings.refresh_hours * 3600
    gap = FIRST_REFRESH_SECONDS
    while first_seen + gap <= now:
        gap *= 2
    due = first_seen + gap
    if settings.refresh_hours <= 0 or due > window_end:
        return None
    return f"{source_id} {first_seen:.0f} {url}", due


def schedule(
    redis: Redis,
    settings: Settings,
    source_id: str,
    url: str,
    first_seen: float,
    now: float | None = None,
) -> bool:
    """Plan the next refresh of an article; False when its refresh window is over.

    A new article's first refresh is planned by its claim (tasks/claim.lua), with ``plan``.
    """
    entry = plan(settings, source_id, url, first_seen, now)
    if entry is None:
        return False
    redis.zadd(schedule_key(settings), {entry[0]: entry[1]})
    return True


def take_due(
    redis: Redis, keys: Keys, limit: int = 200, now: float | None = None
) -> list[DueRefresh]:
    """Refreshes due now; each is handed to exactly one caller (ZREM decides)."""
    now = time.time() if now is None else now
    members: list[bytes] = redis.zrangebyscore(  # type: ignore[assignment]
        _key(keys), "-inf", now, start=0, num=limit
    )
    due = []
    for raw in members:
        if redis.zrem(_key(keys), raw):
            source_id, first_seen, url = str(text(raw)).split(" ", 2)
            due.append(DueRefresh(source_id, float(first_seen), url))
    return due
