"""The HTTP server over real sockets: conditional GET, HEAD, gzip, content types, 404s."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator

import feedparser
import httpx
import pytest
import redis as redis_lib

from config.settings import Settings
from tasks import store
from tasks.feedbuild import rebuild_feeds
from tests.test_store import SOURCE, make_article
from worker.server import FeedServer


@pytest.fixture
def server(settings: Settings, redis: redis_lib.Redis) -> Iterator[str]:
    feed_server = FeedServer(settings, [SOURCE], redis, address=("127.0.0.1", 0))
    thread = threading.Thread(target=feed_server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{feed_server.server_address[1]}"
    finally:
        feed_server.shutdown()
        feed_server.server_close()


def add_article(redis: redis_lib.Redis, settings: Settings, n: int) -> None:
    store.save_article(redis, settings, SOURCE, make_article(n))
    rebuild_feeds(redis, settings, [SOURCE])


def test_conditional_get_cycle(server: str, redis: redis_lib.Redis, settings: Settings) -> None:
    add_article(redis, settings, 1)
    url = f"{server}/feeds/isit-news.rss"
    first = httpx.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/rss+xml")
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert len(feedparser.parse(first.content).entries) == 1

    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304

    add_article(redis, settings, 2)
    changed = httpx.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert len(feedparser.parse(changed.content).entries) == 2


def test_formats_head_and_gzip(server: str, redis: redis_lib.Redis, settings: Settings) -> None:
    for n in range(1, 4):
        store.save_article(redis, settings, SOURCE, make_article(n, body="Long text. " * 100))
    rebuild_feeds(redis, settings, [SOURCE])
    types = {
        "rss": "application/rss+xml",
        "atom": "application/atom+xml",
        "json": "application/feed+json",
    }
    for fmt, content_type in types.items():
        for feed in ("isit-news", "steel", "all"):
            response = httpx.get(f"{server}/feeds/{feed}.{fmt}")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith(content_type)
            assert "max-age=" in response.headers["cache-control"]
    head = httpx.head(f"{server}/feeds/all.atom")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0

    with httpx.Client() as client:
        raw = client.get(f"{server}/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.headers["vary"] == "Accept-Encoding"
        # The gzip variant revalidates with its own ETag.
        again = client.get(
            f"{server}/feeds/all.atom",
            headers={"Accept-Encoding": "gzip", "If-None-Match": raw.headers["etag"]},
        )
        assert again.status_code == 304
    stream = httpx.get(f"{server}/feeds/all.atom", headers={"Accept-Encoding": "identity"})
    assert gzip.compress(stream.content)  # plain bytes when gzip was not asked for
    assert "content-encoding" not in stream.headers


def test_unknown_feed_is_a_clear_404(server: str) -> None:
    response = httpx.get(f"{server}/feeds/nope.rss")
    assert response.status_code == 404
    assert "unknown feed 'nope'" in response.json()["error"]
    assert "isit-news" in response.json()["error"]


def test_a_feed_without_articles_yet_is_valid_and_empty(server: str) -> None:
    response = httpx.get(f"{server}/feeds/steel.atom")
    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0 and parsed.entries == []


def test_index_opml_health_status_metrics(
    server: str, redis: redis_lib.Redis, settings: Settings
) -> None:
    add_article(redis, settings, 1)
    index = httpx.get(f"{server}/")
    assert index.status_code == 200 and "/feeds/isit-news.rss" in index.text
    opml = httpx.get(f"{server}/feeds.opml")
    assert opml.status_code == 200 and "isit-news" in opml.text
    assert httpx.get(f"{server}/healthz").json() == {"ok": True, "redis": "ok"}
    status = httpx.get(f"{server}/status").json()
    assert status["sources"][0]["source_id"] == "isit-news"
    assert status["events"]["length"] == 1
    metrics = httpx.get(f"{server}/metrics")
    assert metrics.status_code == 200
    assert 'newswire_queue_depth{queue="articles"}' in metrics.text
