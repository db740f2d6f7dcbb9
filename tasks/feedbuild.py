"""Rebuilding feeds from stored articles: render every format, keep the bytes in Redis for the
HTTP server (any number of web hosts) and write them atomically to the feed directory (static
hosting). A rebuild is a pure function of the stored articles, so unchanged input gives
unchanged bytes and ETags.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from redis import Redis

from config.settings import Settings
from config.sources import ALL_FEED, Source
from tasks.feeds import FORMATS, FeedInfo, render, render_opml, write_atomic
from tasks.keys import Keys
from tasks.models import Article
from tasks.store import feed_articles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedPlan:
    """A feed and how many items it carries; topic and `all` feeds hide syndicated copies."""

    info: FeedInfo
    items: int
    combined: bool


def feed_plans(settings: Settings, sources: Sequence[Source]) -> dict[str, FeedPlan]:
    plans: dict[str, FeedPlan] = {}
    hub = settings.websub_hub
    for source in sources:
        minutes = int((source.interval_seconds or 900) // 60) or None
        plans[source.id] = FeedPlan(
            FeedInfo(
                name=source.id,
                title=source.name or source.id,
                description=f"Articles from {source.name or source.url}",
                site_url=source.url,
                public_url=settings.public_url,
                language=source.language,
                hub_url=hub,
                ttl_minutes=minutes,
            ),
            source.feed_items or settings.feed_items,
            combined=False,
        )
    topics = sorted({t for s in sources for t in s.topics})
    for topic in topics:
        plans[topic] = FeedPlan(
            FeedInfo(
                name=topic,
                title=f"Topic: {topic}",
                description=f"Articles on {topic} from every source",
                site_url=settings.public_url,
                public_url=settings.public_url,
                hub_url=hub,
            ),
            settings.feed_items,
            combined=True,
        )
    plans[ALL_FEED] = FeedPlan(
        FeedInfo(
            name=ALL_FEED,
            title="All news",
            description="Articles from every source",
            site_url=settings.public_url,
            public_url=settings.public_url,
            hub_url=hub,
        ),
        settings.feed_items,
        combined=True,
    )
    return plans


def _select(articles: list[Article], plan: FeedPlan) -> list[Article]:
    if plan.combined:
        articles = [a for a in articles if not a.duplicate_of]
    return articles[: plan.items]


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def rebuild_feed(redis: Redis, settings: Settings, plan: FeedPlan) -> bool:
    """Render one feed in every format; True when any format's bytes changed."""
    keys = Keys(settings.key_prefix)
    # Read a little more than needed: syndicated copies are dropped from combined feeds.
    articles = _select(feed_articles(redis, keys, plan.info.name, plan.items * 2), plan)
    changed = False
    now = format_datetime(datetime.now(UTC), usegmt=True)
    for fmt in FORMATS:
        body = render(plan.info, articles, fmt)
        etag = etag_of(body)
        key = keys.feed_file(plan.info.name, fmt)
        if redis.hget(key, "etag") == etag.encode():
            continue
        changed = True
        # Last-Modified is when these bytes first appeared, so If-Modified-Since stays correct.
        redis.hset(key, mapping={"body": body, "etag": etag, "last_modified": now})
        write_atomic(settings.feeds_path / f"{plan.info.name}.{fmt}", body)
    return changed


def rebuild_feeds(
    redis: Redis, settings: Settings, sources: Sequence[Source], names: Iterable[str] | None = None
) -> list[str]:
    """Rebuild the named feeds (default: all); returns the names whose bytes changed.

    One odd feed never stops the others: a failure is logged and the rest are built.
    """
    plans = feed_plans(settings, sources)
    wanted = list(plans) if names is None else [n for n in names if n in plans]
    changed = []
    for name in wanted:
        try:
            if rebuild_feed(redis, settings, plans[name]):
                changed.append(name)
        except Exception:
            log.exception("feed.failed feed=%s", name)
    opml = render_opml([p.info for p in plans.values()], settings.public_url)
    write_atomic(settings.feeds_path / "feeds.opml", opml)
    return changed


def take_dirty(redis: Redis, keys: Keys) -> list[str]:
    """Atomically take the set of feeds marked dirty since the last rebuild."""
    pipe = redis.pipeline()
    pipe.smembers(keys.dirty_feeds)
    pipe.delete(keys.dirty_feeds)
    members, _ = pipe.execute()
    return sorted(m.decode() for m in members)
