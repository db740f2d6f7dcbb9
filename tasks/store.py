"""Storage in Redis: which links are known, the atomic claim of new articles, updates, feed indexes.

"Is it new?" is decided in one Lua script that also stores the article, indexes it in its feeds,
marks those feeds dirty and appends its event: a crash before it leaves no trace, a crash after it
leaves a complete record, and two workers racing on one article produce one record and one event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, Literal

from redis import Redis

from config.settings import Settings
from config.sources import Source
from tasks import events, refresh, syndication
from tasks.keys import Keys, text
from tasks.models import Article
from tasks.normalize import article_id, canonical_url

SaveOutcome = Literal["new", "updated", "unchanged"]

_CLAIM = files("tasks").joinpath("claim.lua").read_text()
_UPDATE = files("tasks").joinpath("update.lua").read_text()


def link_id(url: str) -> str:
    return article_id(canonical_url(url))


def unknown_links(redis: Redis, keys: Keys, links: list[str]) -> list[str]:
    """The links not handled before, in order; one round trip for the whole batch."""
    if not links:
        return []
    pipe = redis.pipeline(transaction=False)
    for link in links:
        pipe.exists(keys.seen(link_id(link)))
    known = pipe.execute()
    return [link for link, exists in zip(links, known, strict=True) if not exists]


def mark_seen(redis: Redis, keys: Keys, url: str, ttl_seconds: int, value: str = "1") -> None:
    redis.set(keys.seen(link_id(url)), value, ex=ttl_seconds)


def _score(article: Article) -> float:
    when = article.published or article.fetched_at or datetime.fromtimestamp(0, UTC)
    return when.timestamp()


def _json(article: Article) -> str:
    return json.dumps(article.to_dict(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class SaveResult:
    outcome: SaveOutcome
    article: Article


def save_article(
    redis: Redis,
    settings: Settings,
    source: Source,
    article: Article,
    link_url: str | None = None,
    page: Validators | None = None,
) -> SaveResult:
    """Store a freshly extracted article: created, updated (content changed) or unchanged.

    ``page``: the validators of the response the article came from. The claim stores them (so
    later refreshes can cost a 304) and, for a new article, plans its first refresh, in the
    same atomic step.

    A near-copy of a story another source published first (syndication) gets ``duplicate_of``:
    it stays in its own source's feed but joins a combined feed (topics, ``all``) only where the
    original is not listed already, so readers of combined feeds see the story once.
    """
    keys = Keys(settings.key_prefix)
    signature = syndication.signature(article.text)
    original = syndication.find_original(redis, settings.key_prefix, article, signature)
    feeds = source.feed_names
    if original is not None:
        article = article.replace(duplicate_of=original)
        feeds = _feeds_without(redis, keys, feeds, original, own=source.id)
    ttl = settings.retention_seconds
    seen_url = link_url or article.url
    first_refresh = None
    if page is not None:
        first_seen = (article.fetched_at or datetime.now(UTC)).timestamp()
        first_refresh = refresh.plan(settings, source.id, page.url, first_seen)
    created = redis.register_script(_CLAIM)(
        keys=[
            keys.article(article.id),
            settings.stream_key,
            keys.dirty_feeds,
            keys.seen(link_id(seen_url)),
            keys.http_cache(page.url if page else seen_url),
            refresh.schedule_key(settings),
            *(keys.feed_index(f) for f in feeds),
        ],
        args=[
            _json(article),
            article.fingerprint,
            source.id,
            ttl,
            _score(article),
            events.encode(events.article_event(events.CREATED, article)),
            settings.stream_maxlen,
            (page.etag or "") if page else "",
            (page.last_modified or "") if page else "",
            page.content_hash if page else "",
            first_refresh[0] if first_refresh else "",
            repr(first_refresh[1]) if first_refresh else "",
            *feeds,
        ],
    )
    if created[0] == 1:
        syndication.index(redis, settings.key_prefix, article, ttl, signature)
        return SaveResult("new", article)
    old_fingerprint = str(text(created[1]))
    if old_fingerprint == article.fingerprint:
        return SaveResult("unchanged", article)
    return _update(redis, settings, keys, article, old_fingerprint)


def _feeds_without(
    redis: Redis, keys: Keys, feeds: tuple[str, ...], original: str, own: str
) -> tuple[str, ...]:
    """The source's own feed, plus the combined feeds that do not list ``original``."""
    pipe = redis.pipeline(transaction=False)
    for feed in feeds:
        pipe.zscore(keys.feed_index(feed), original)
    listed = pipe.execute()
    return tuple(
        feed for feed, score in zip(feeds, listed, strict=True) if feed == own or score is None
    )


def _update(
    redis: Redis, settings: Settings, keys: Keys, article: Article, old_fingerprint: str
) -> SaveResult:
    stored = load_article(redis, keys, article.id)
    if stored is None:  # expired between the two scripts; the next poll creates it again
        return SaveResult("unchanged", article)
    if stored.source_id != article.source_id:
        # Another source claimed this URL first; it owns the article and its updates.
        return SaveResult("unchanged", stored)
    now = datetime.now(UTC)
    # Identity and first-seen facts stay; content and `updated` move.
    merged = article.replace(
        published=stored.published
        if article.provenance.get("published") == "first_seen"
        else article.published or stored.published,
        fetched_at=stored.fetched_at,
        updated=article.updated
        if article.updated and article.updated > (stored.updated or article.updated)
        else now,
        duplicate_of=stored.duplicate_of,
    )
    source_feeds = _feeds_of(redis, keys, article.id)
    done = redis.register_script(_UPDATE)(
        keys=[
            keys.article(article.id),
            settings.stream_key,
            keys.dirty_feeds,
            *(keys.feed_index(f) for f in source_feeds),
        ],
        args=[
            _json(merged),
            merged.fingerprint,
            old_fingerprint,
            settings.retention_seconds,
            _score(merged),
            events.encode(events.article_event(events.UPDATED, merged)),
            settings.stream_maxlen,
            *source_feeds,
        ],
    )
    return SaveResult("updated" if done == 1 else "unchanged", merged)


def _feeds_of(redis: Redis, keys: Keys, article_id_: str) -> list[str]:
    """Feeds that list an article, as recorded when it was claimed."""
    raw = text(redis.hget(keys.article(article_id_), "feeds"))
    return raw.split() if raw else []


def load_article(redis: Redis, keys: Keys, article_id_: str) -> Article | None:
    raw = redis.hget(keys.article(article_id_), "json")
    return Article.from_dict(json.loads(raw)) if raw else None


def feed_articles(redis: Redis, keys: Keys, feed: str, limit: int) -> list[Article]:
    """The newest ``limit`` articles of a feed. Cost depends on ``limit``, not on the total."""
    ids: Any = redis.zrevrange(keys.feed_index(feed), 0, limit - 1)
    if not ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for raw_id in ids:
        pipe.hget(keys.article(str(text(raw_id))), "json")
    articles = []
    for raw in pipe.execute():
        if raw:  # an expired article leaves a stale index entry; skip it
            articles.append(Article.from_dict(json.loads(raw)))
    return articles


def validators(redis: Redis, keys: Keys, url: str) -> tuple[str | None, str | None, str | None]:
    """(etag, last_modified, content hash) stored for a URL's last 200 response."""
    etag, last_modified, digest = redis.hmget(keys.http_cache(url), "etag", "last_modified", "hash")
    return text(etag) or None, text(last_modified) or None, text(digest) or None


def save_listing_links(
    redis: Redis, keys: Keys, source_id: str, links: list[str], ttl_seconds: int
) -> None:
    redis.set(keys.listing_links(source_id), json.dumps(links), ex=ttl_seconds)


def listing_links(redis: Redis, keys: Keys, source_id: str) -> list[str]:
    """The links of a source's listing as last seen changed."""
    raw = redis.get(keys.listing_links(source_id))
    return list(json.loads(raw)) if raw else []


@dataclass(frozen=True)
class Validators:
    """What a conditional GET of ``url`` sends next time, and the body hash it got."""

    url: str
    etag: str | None
    last_modified: str | None
    content_hash: str


def save_validators(pipe: Redis, keys: Keys, validators: Validators, ttl_seconds: int) -> None:
    """Queue the writes on ``pipe`` (a pipeline), so callers batch them with their own."""
    key = keys.http_cache(validators.url)
    pipe.delete(key)
    pipe.hset(
        key,
        mapping={
            "etag": validators.etag or "",
            "last_modified": validators.last_modified or "",
            "hash": validators.content_hash,
        },
    )
    pipe.expire(key, ttl_seconds)
