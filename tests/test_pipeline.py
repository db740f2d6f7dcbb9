"""The pipeline functions without Celery: a real Redis and a local site over real sockets."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import redis as redis_lib

from config.settings import Settings
from config.sources import Source, parse_sources
from tasks import pipeline, refresh
from tasks.fetch import Fetcher
from tasks.keys import Keys
from tasks.store import feed_articles, load_article
from tests.fixture_site import FixtureSite, Page, article_html, news_site


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    fixture = news_site(articles=12, per_page=6)
    with fixture.serve():
        yield fixture


@pytest.fixture
def fetcher(settings: Settings, redis: redis_lib.Redis) -> Iterator[Fetcher]:
    with Fetcher(settings, redis) as client:
        yield client


def source_for(site: FixtureSite, **extra: object) -> Source:
    entry = {
        "id": "isit-news",
        "url": f"{site.base_url}/en/news",
        "timezone": "Asia/Bangkok",
        "topics": ["steel"],
        **extra,
    }
    return parse_sources({"sources": [entry]})[0]


def article_fetches(site: FixtureSite) -> int:
    return sum(1 for path in site.requests if re.match(r"^/en/news/\d+$", path))


def test_poll_then_ingest_then_an_unchanged_poll_fetches_nothing(
    site: FixtureSite, fetcher: Fetcher, redis: redis_lib.Redis, settings: Settings
) -> None:
    source = source_for(site)
    first = pipeline.poll_listing(fetcher, redis, settings, source)
    assert first.outcome == "ok" and len(first.new_links) == 6
    for url in first.new_links:
        assert pipeline.ingest_article(fetcher, redis, settings, source, url).outcome == "new"
    pipeline.remember_listing(redis, settings, first)

    fetched = article_fetches(site)
    second = pipeline.poll_listing(fetcher, redis, settings, source)
    assert second.outcome == "not_modified" and second.new_links == []
    assert article_fetches(site) == fetched
    keys = Keys(settings.key_prefix)
    assert len(feed_articles(redis, keys, "steel", 50)) == 6


def test_a_lost_article_is_found_again_even_when_the_listing_is_unchanged(
    site: FixtureSite, fetcher: Fetcher, redis: redis_lib.Redis, settings: Settings
) -> None:
    source = source_for(site)
    first = pipeline.poll_listing(fetcher, redis, settings, source)
    for url in first.new_links[1:]:  # the first article's task is "lost"
        pipeline.ingest_article(fetcher, redis, settings, source, url)
    pipeline.remember_listing(redis, settings, first)
    second = pipeline.poll_listing(fetcher, redis, settings, source)
    assert second.outcome == "not_modified"
    assert second.new_links == first.new_links[:1]


def test_validators_are_remembered_only_after_the_links_are_queued(
    site: FixtureSite, fetcher: Fetcher, redis: redis_lib.Redis, settings: Settings
) -> None:
    source = source_for(site)
    pipeline.poll_listing(fetcher, redis, settings, source)
    # The poll "crashed" before remember_listing: the next poll sees the listing as changed.
    again = pipeline.poll_listing(fetcher, redis, settings, source)
    assert again.outcome == "ok" and len(again.new_links) == 6


def test_backfill_walks_pages_until_enough_links(
    site: FixtureSite, fetcher: Fetcher, redis: redis_lib.Redis, settings: Settings
) -> None:
    result = pipeline.poll_listing(
        fetcher, redis, settings, source_for(site), pages=10, enough_links=8
    )
    assert len(result.links) == 12  # two listing pages of six
    assert site.hits("/en/news?page=2") == 1


def test_an_edited_article_is_updated_by_its_refresh(
    site: FixtureSite, fetcher: Fetcher, redis: redis_lib.Redis, settings: Settings
) -> None:
    source = source_for(site)
    url = f"{site.base_url}/en/news/3"
    created = pipeline.ingest_article(fetcher, redis, settings, source, url)
    again = pipeline.ingest_article(fetcher, redis, settings, source, url)
    assert again.outcome == "unchanged"
    assert redis.zcard(refresh.schedule_key(settings)) == 1  # a second claim plans nothing
    assert refresh.take_due(
        redis, Keys(settings.key_prefix), now=created.article.fetched_at.timestamp() + 3601
    )  # scheduled an hour after first seen, by the claim itself
    assert pipeline.refresh_article(fetcher, redis, settings, source, url) == "not_modified"

    edited = article_html(3, related=[4]).replace("(story 3)", "(story 3, corrected)")
    site.pages["/en/news/3"] = Page(edited.encode())
    assert pipeline.refresh_article(fetcher, redis, settings, source, url) == "updated"
    stored = load_article(redis, Keys(settings.key_prefix), created.article.id)
    assert stored is not None and "corrected" in stored.text
    assert stored.id == created.article.id and stored.published == created.article.published


def test_feed_sources_take_their_links_from_rss(
    fetcher: Fetcher, redis: redis_lib.Redis, settings: Settings
) -> None:
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><title>a</title><link>/en/news/1</link></item>
    <item><title>b</title><link>https://other.example/x</link></item></channel></rss>"""
    site = FixtureSite({"/feed.xml": Page(rss, content_type="application/rss+xml")})
    with site.serve():
        source = parse_sources(
            {"sources": [{"id": "f", "url": f"{site.base_url}/feed.xml", "kind": "feed"}]}
        )[0]
        result = pipeline.poll_listing(fetcher, redis, settings, source)
    assert result.links == [f"{site.base_url}/en/news/1", "https://other.example/x"]
