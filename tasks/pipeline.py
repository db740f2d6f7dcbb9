"""The orchestrator: it reads like the data flow.

    poll_listing:   listing page --fetch--> links --known?--> new links
    ingest_article: article URL --fetch--> page --extract--> Article --save--> new/updated/unchanged

Plain functions: the caller passes the fetcher, the Redis client, the settings and the source.
Celery task shells (worker/app.py) call these and turn typed errors into health records.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bs4 import BeautifulSoup
from redis import Redis

from config.settings import Settings
from config.sources import Source
from tasks import metrics, store
from tasks.errors import ParseError
from tasks.extract import analyze_article, extract_links, find_next_page
from tasks.fetch import Fetcher
from tasks.keys import Keys
from tasks.models import Article, FetchedPage
from tasks.normalize import absolute_url
from tasks.template import load_boilerplate, record_blocks

log = logging.getLogger(__name__)

# A link that failed permanently (404, no article on the page) is not fetched again for a day.
FAILED_LINK_TTL = 86400


@dataclass(frozen=True)
class ListingResult:
    source_id: str
    outcome: Literal["ok", "not_modified", "unchanged"]
    links: list[str]
    new_links: list[str]
    # The listing's validators, to be remembered only once the new links are safely queued
    # (see remember_listing): a poll killed in between must find the listing "changed" again.
    validators: store.Validators | None = None


def _record_fetch(redis: Redis, settings: Settings, source: Source, page: FetchedPage) -> None:
    metrics.observe(redis, settings.key_prefix, "newswire_fetch_seconds", page.elapsed_ms / 1000)
    metrics.count(
        redis,
        settings.key_prefix,
        "newswire_fetch_bytes_total",
        len(page.content),
        source=source.id,
    )


def _fetch_listing(
    fetcher: Fetcher, redis: Redis, keys: Keys, source: Source, url: str, settings: Settings
) -> tuple[FetchedPage | None, store.Validators | None]:
    """GET a listing with its stored validators; no page when it has not changed since."""
    etag, last_modified, digest = store.validators(redis, keys, url)
    page = fetcher.get(
        url,
        source=source,
        etag=etag,
        last_modified=last_modified,
        expect_html=source.kind != "feed",
    )
    _record_fetch(redis, settings, source, page)
    if page.not_modified:
        return None, None
    content_hash = hashlib.sha256(page.content).hexdigest()
    # Servers that ignore validators still send the same bytes: treat them as unchanged.
    if digest == content_hash:
        return None, None
    return page, store.Validators(url, page.etag, page.last_modified, content_hash)


def remember_listing(redis: Redis, settings: Settings, result: ListingResult) -> None:
    """Store the listing's validators and links; call after the new links were queued."""
    if result.validators is not None:
        keys = Keys(settings.key_prefix)
        pipe = redis.pipeline()
        store.save_validators(pipe, keys, result.validators, settings.retention_seconds)
        store.save_listing_links(
            pipe, keys, result.source_id, result.links, settings.retention_seconds
        )
        pipe.execute()


def links_from_feed(content: bytes, base_url: str) -> list[str]:
    """Item links of an RSS or Atom feed (sources of ``kind: feed``)."""
    soup = BeautifulSoup(content, "xml")
    links: list[str] = []
    for item in soup.find_all(["item", "entry"]):
        href = None
        link = item.find("link")
        if link is not None:
            href = link.get("href") or link.get_text(strip=True)
        resolved = absolute_url(base_url, str(href) if href else None)
        if resolved and resolved not in links:
            links.append(resolved)
    return links


def poll_listing(
    fetcher: Fetcher,
    redis: Redis,
    settings: Settings,
    source: Source,
    pages: int = 1,
    force: bool = False,
    enough_links: int | None = None,
) -> ListingResult:
    """Fetch a source's listing page(s) and return the article links not seen before.

    ``pages`` > 1 walks the pagination (a backfill), stopping early once ``enough_links`` links
    were found. ``force`` ignores stored validators. Raises FetchError / ParseError(no_links).
    """
    keys = Keys(settings.key_prefix)
    if source.kind == "article":
        return ListingResult(
            source.id,
            "ok",
            [source.url],
            store.unknown_links(redis, keys, [source.url]) or ([source.url] if force else []),
        )
    links: list[str] = []
    url: str | None = source.url
    outcome: Literal["ok", "not_modified", "unchanged"] = "ok"
    validators: store.Validators | None = None
    for page_number in range(pages):
        if url is None or (enough_links is not None and len(links) >= enough_links):
            break
        page: FetchedPage | None
        if force or page_number > 0:
            page = fetcher.get(url, source=source, expect_html=source.kind != "feed")
            _record_fetch(redis, settings, source, page)
        else:
            page, validators = _fetch_listing(fetcher, redis, keys, source, url, settings)
        if page is None:
            # Unchanged listing: its links are re-checked against the seen set anyway, so an
            # article whose task was lost (a crash, a Redis outage) is picked up again.
            outcome = "not_modified"
            links = store.listing_links(redis, keys, source.id)
            break
        if source.kind == "feed":
            found = links_from_feed(page.content, page.final_url)
            url = None
        else:
            html = page.text or page.content
            found = extract_links(html, page.final_url, source)
            url = find_next_page(html, page.final_url, source) if page_number + 1 < pages else None
        links.extend(link for link in found if link not in links)
    if outcome == "ok" and not links:
        raise ParseError(
            "no article links found on the listing page (selector broken?)",
            "no_links",
            source.id,
            source.url,
        )
    new_links = store.unknown_links(redis, keys, links)[: source.max_articles * pages]
    return ListingResult(source.id, outcome, links, new_links, validators)


def extract(
    page: FetchedPage, source: Source, boilerplate: frozenset[str], now: datetime
) -> tuple[Article, list[str]]:
    """Extract an article from a fetched page; a page without a date gets its first-seen time."""
    article, blocks = analyze_article(
        page.text if page.text is not None else page.content,
        page.final_url,
        source,
        fetched_at=now,
        boilerplate=boilerplate,
        content_type=page.headers.get("content-type"),
    )
    if article.published is None:
        article = article.replace(
            published=now, provenance={**article.provenance, "published": "first_seen"}
        )
    return article, blocks


def ingest_article(
    fetcher: Fetcher, redis: Redis, settings: Settings, source: Source, url: str
) -> store.SaveResult:
    """Fetch, extract and save one article page. Raises FetchError / ParseError."""
    started = time.perf_counter()
    page = fetcher.get(url, source=source)
    _record_fetch(redis, settings, source, page)
    boilerplate = load_boilerplate(redis, settings.key_prefix, source.id)
    now = datetime.now(UTC)
    article, blocks = extract(page, source, boilerplate, now)
    record_blocks(
        redis, settings.key_prefix, source.id, page.final_url, blocks, learned=bool(boilerplate)
    )
    # The page's validators let the scheduled refreshes (tasks/refresh.py) cost a 304.
    page_validators = store.Validators(
        url, page.etag, page.last_modified, hashlib.sha256(page.content).hexdigest()
    )
    result = store.save_article(
        redis, settings, source, article, link_url=url, page=page_validators
    )
    log.info(
        "article.done source=%s url=%s outcome=%s id=%s ms=%d",
        source.id,
        url,
        result.outcome,
        article.id,
        (time.perf_counter() - started) * 1000,
    )
    return result


def forget_failed_link(redis: Redis, settings: Settings, url: str) -> None:
    """A permanently failing link is not fetched again on every poll (it is retried daily)."""
    store.mark_seen(redis, Keys(settings.key_prefix), url, FAILED_LINK_TTL, value="failed")


def refresh_article(
    fetcher: Fetcher, redis: Redis, settings: Settings, source: Source, url: str
) -> str:
    """Re-fetch one article; returns "not_modified", "unchanged" or "updated"."""
    keys = Keys(settings.key_prefix)
    etag, last_modified, digest = store.validators(redis, keys, url)
    page = fetcher.get(url, source=source, etag=etag, last_modified=last_modified)
    if page.not_modified:
        return "not_modified"
    content_hash = hashlib.sha256(page.content).hexdigest()
    pipe = redis.pipeline()
    store.save_validators(
        pipe,
        keys,
        store.Validators(url, page.etag, page.last_modified, content_hash),
        settings.retention_seconds,
    )
    pipe.execute()
    if content_hash == digest:
        return "not_modified"
    boilerplate = load_boilerplate(redis, settings.key_prefix, source.id)
    article, _blocks = extract(page, source, boilerplate, datetime.now(UTC))
    return store.save_article(redis, settings, source, article, link_url=url).outcome
