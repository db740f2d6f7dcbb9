"""Rebuilding feeds from stored articles: render every format, keep the bytes in Redis for the
HTTP server (any number of web hosts) and write them atomically to the feed directory (static
hosting). A rebuild is a pure function of the stored articles, so unchanged input gives
unchanged bytes and ETags.

Design decisions (cost):

* **Round trips do not grow with the number of feeds.** One pipeline reads every requested
  feed's index (ZREVRANGE) and the stored ETag of every format; one more reads the articles,
  each id once: an article usually sits in its source feed, its topics and ``all``. The
  changed formats are stored with one pipeline per few MiB of bodies. A rebuild that changes
  nothing costs two round trips, whatever the number of feeds.
* **Each article is parsed and cleaned once per process**, not once per rebuild: a process
  keeps the ``RECENT_ARTICLES`` articles it rendered last, with their cleaned items
  (:class:`tasks.feeds.ItemCache`), and reuses them while the stored JSON is byte-identical.
  During a burst, rebuilds follow each other a second apart and ``all`` carries mostly the
  same 50 articles each time. Each feed's three formats share the items
  (:func:`tasks.feeds.render_all`).
* **Memory stays bounded**: feeds are read in batches of at most ``BATCH_ARTICLES`` distinct
  articles, and stored bodies are flushed every ``FLUSH_BYTES``.
* **Files first, then Redis, one directory fsync per flush.** A format's file is replaced
  (temp file, fsync, rename) before its new ETag is stored, and the directory is fsynced once
  before the ETags are: Redis never claims bytes the feed directory might not hold, so a crash
  in between is repaired by the next rebuild (it sees an ETag differing from its render).
* The ETag comparison is, as before, an optimisation read before writing, not a lock: two
  rebuilds racing on one feed both store the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from redis import Redis

from config.settings import Settings
from config.sources import ALL_FEED, Source
from tasks.feeds import (
    FORMATS,
    FeedInfo,
    ItemCache,
    fsync_directory,
    render_all,
    render_opml,
    write_atomic,
)
from tasks.keys import Keys, text
from tasks.models import Article

log = logging.getLogger(__name__)

BATCH_ARTICLES = 1000  # distinct articles read (and held) at once
FLUSH_BYTES = 4 << 20  # rendered bodies queued for Redis before they are sent
RECENT_ARTICLES = 2000  # parsed articles and cleaned items a process keeps between rebuilds

# Per process: stored JSON -> the Article parsed from it (reused while the JSON is unchanged),
# and the cleaned items of those Article objects.
_recent: OrderedDict[str, tuple[bytes, Article]] = OrderedDict()
_items = ItemCache(limit=RECENT_ARTICLES)


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
    return bool(_rebuild(redis, settings, [plan], strict=True))


def rebuild_feeds(
    redis: Redis, settings: Settings, sources: Sequence[Source], names: Iterable[str] | None = None
) -> list[str]:
    """Rebuild the named feeds (default: all); returns the names whose bytes changed.

    One odd feed never stops the others: a failure is logged and the rest are built.
    """
    plans = feed_plans(settings, sources)
    wanted = list(plans) if names is None else [n for n in names if n in plans]
    changed = _rebuild(redis, settings, [plans[name] for name in dict.fromkeys(wanted)])
    opml = render_opml([p.info for p in plans.values()], settings.public_url)
    opml_path = settings.feeds_path / "feeds.opml"
    if _read(opml_path) != opml:  # the feed list rarely changes: no rewrite, no fsync
        write_atomic(opml_path, opml)
    return changed


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


class _Store:
    """Changed formats: each file is replaced at once; the bodies and ETags are queued for Redis
    and sent by :meth:`flush`, after one fsync of the feed directory for all the renames."""

    def __init__(self, redis: Redis, keys: Keys, directory: Path) -> None:
        self.keys = keys
        self.directory = directory
        self.pipe = redis.pipeline(transaction=False)
        self.pending: dict[str, None] = {}  # feed names queued, in order
        self.queued = 0  # body bytes queued
        # Last-Modified is when these bytes first appeared, so If-Modified-Since stays correct.
        self.now = format_datetime(datetime.now(UTC), usegmt=True)

    def put(self, name: str, fmt: str, body: bytes, etag: str) -> None:
        write_atomic(self.directory / f"{name}.{fmt}", body, sync_directory=False)
        self.pipe.hset(
            self.keys.feed_file(name, fmt),
            mapping={"body": body, "etag": etag, "last_modified": self.now},
        )
        self.pending[name] = None
        self.queued += len(body)

    @property
    def full(self) -> bool:
        return self.queued >= FLUSH_BYTES

    def flush(self) -> list[str]:
        """Send what is queued; the names of the feeds stored. Queued writes are dropped even
        when sending fails (the files are in place; the next rebuild stores them again)."""
        names, self.pending, self.queued = list(self.pending), {}, 0
        if names:
            fsync_directory(self.directory)
            self.pipe.execute()  # empties the pipeline, whatever happens
        return names


def _rebuild(
    redis: Redis, settings: Settings, plans: Sequence[FeedPlan], *, strict: bool = False
) -> list[str]:
    """Render ``plans`` (each feed once) in every format; the names whose bytes changed.

    A failure is logged and the other feeds are built, unless ``strict``: then it is raised.
    """

    def failed(names: Iterable[str]) -> None:
        """Called in an ``except`` block: log the exception being handled, or re-raise it."""
        if strict:
            raise
        log.exception("feed.failed feed=%s", ",".join(names))

    if not plans:
        return []
    keys = Keys(settings.key_prefix)
    try:
        indexes, stored = _read_indexes(redis, keys, plans)
    except Exception:
        failed(plan.info.name for plan in plans)
        return []
    store = _Store(redis, keys, settings.feeds_path)
    changed: list[str] = []

    def flush() -> None:
        pending = list(store.pending)
        try:
            changed.extend(store.flush())
        except Exception:
            failed(pending)

    for batch in _batches(list(zip(plans, indexes, strict=True))):
        try:
            articles = _Articles(redis, keys, {i for _plan, ids in batch for i in ids})
        except Exception:
            failed(plan.info.name for plan, _ids in batch)
            continue
        for plan, ids in batch:
            name = plan.info.name
            try:
                bodies = render_all(plan.info, _select(articles.of(ids), plan), _items)
                for fmt, body in bodies.items():
                    etag = etag_of(body)
                    if stored[name, fmt] != etag.encode():
                        store.put(name, fmt, body, etag)
            except Exception:
                failed([name])
            if store.full:
                flush()
    flush()
    return changed


def _read_indexes(
    redis: Redis, keys: Keys, plans: Sequence[FeedPlan]
) -> tuple[list[list[str]], dict[tuple[str, str], Any]]:
    """Every feed's newest ids and every format's stored ETag, in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for plan in plans:
        # Read a little more than needed: syndicated copies are dropped from combined feeds.
        pipe.zrevrange(keys.feed_index(plan.info.name), 0, plan.items * 2 - 1)
    for plan in plans:
        for fmt in FORMATS:
            pipe.hget(keys.feed_file(plan.info.name, fmt), "etag")
    replies: list[Any] = pipe.execute()
    indexes = [[str(text(i)) for i in ids] for ids in replies[: len(plans)]]
    etags = iter(replies[len(plans) :])
    stored = {(plan.info.name, fmt): next(etags) for plan in plans for fmt in FORMATS}
    return indexes, stored


def _batches(
    feeds: list[tuple[FeedPlan, list[str]]],
) -> Iterable[list[tuple[FeedPlan, list[str]]]]:
    """Consecutive groups of feeds that together carry at most BATCH_ARTICLES distinct ids
    (a single larger feed is a batch of its own)."""
    batch: list[tuple[FeedPlan, list[str]]] = []
    ids: set[str] = set()
    for feed in feeds:
        new = ids.union(feed[1])
        if batch and len(new) > BATCH_ARTICLES:
            yield batch
            batch, new = [], set(feed[1])
        batch.append(feed)
        ids = new
    if batch:
        yield batch


class _Articles:
    """The stored articles of a batch, read in one round trip and parsed when first needed (an
    article that fails to parse fails the feeds that carry it, as before, not the batch)."""

    def __init__(self, redis: Redis, keys: Keys, ids: set[str]) -> None:
        ordered = sorted(ids)
        pipe = redis.pipeline(transaction=False)
        for article_id in ordered:
            pipe.hget(keys.article(article_id), "json")
        raws: list[Any] = pipe.execute() if ordered else []
        self._raw: dict[str, bytes | None] = dict(zip(ordered, raws, strict=True))
        self._parsed: dict[str, Article] = {}

    def of(self, ids: Sequence[str]) -> list[Article]:
        """The articles of ``ids`` in that order; an expired article (a stale index entry) is
        skipped."""
        articles = []
        for article_id in ids:
            article = self._parsed.get(article_id)
            if article is None:
                raw = self._raw.get(article_id)
                if not raw:
                    continue
                article = _parse(article_id, raw)
                self._parsed[article_id] = article
            articles.append(article)
        return articles


def _parse(article_id: str, raw: bytes) -> Article:
    """The Article stored as ``raw``: the same object as last time while the JSON is unchanged
    (so its cleaned item is reused too), else parsed afresh."""
    recent = _recent.get(article_id)
    if recent is not None and recent[0] == raw:
        _recent.move_to_end(article_id)
        return recent[1]
    article = Article.from_dict(json.loads(raw))
    _recent[article_id] = (raw, article)
    _recent.move_to_end(article_id)
    if len(_recent) > RECENT_ARTICLES:
        _recent.popitem(last=False)
    return article


def take_dirty(redis: Redis, keys: Keys) -> list[str]:
    """Atomically take the set of feeds marked dirty since the last rebuild."""
    pipe = redis.pipeline()
    pipe.smembers(keys.dirty_feeds)
    pipe.delete(keys.dirty_feeds)
    members, _ = pipe.execute()
    return sorted(m.decode() for m in members)
