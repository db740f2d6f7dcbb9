"""Fetcher.get / post on well-behaved servers: pages, validators, codings, redirects, errors."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Iterator

import brotli  # type: ignore[import-untyped]
import pytest
import redis as redis_lib

from config.settings import Settings
from config.sources import Source
from tasks.errors import FetchError
from tasks.fetch import (
    Fetcher,
    _Exceeded,
    _ZlibDecoder,
    looks_like_html,
    parse_retry_after,
)
from tests import hostile_servers as hs
from tests.fixture_site import LAST_MODIFIED, FixtureSite, news_site

HTML = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Steel news</p></body></html>"


@pytest.fixture
def fetcher(settings: Settings) -> Iterator[Fetcher]:
    with Fetcher(settings) as fetcher:
        yield fetcher


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    with news_site(articles=12).serve() as served:
        yield served


@pytest.fixture(scope="module")
def server() -> Iterator[hs.HostileServer]:
    with hs.HostileServer().serve() as served:
        yield served


def test_page_is_fetched_and_decoded(fetcher: Fetcher, site: FixtureSite) -> None:
    url = site.base_url + "/en/news/10"  # served as windows-874
    page = fetcher.get(url)
    assert (page.status, page.url, page.final_url) == (200, url, url)
    assert page.encoding == "cp874" and page.text is not None and "เหล็ก" in page.text
    assert page.headers["content-type"] == "text/html; charset=windows-874"
    assert all(name == name.lower() for name in page.headers)
    assert page.etag and page.last_modified == LAST_MODIFIED
    assert page.elapsed_ms > 0 and not page.not_modified


def test_conditional_get_returns_304(fetcher: Fetcher, site: FixtureSite) -> None:
    url = site.base_url + "/en/news/1"
    first = fetcher.get(url)
    by_etag = fetcher.get(url, etag=first.etag)
    by_date = fetcher.get(url, last_modified=first.last_modified)
    for page in (by_etag, by_date):
        assert page.status == 304 and page.not_modified
        assert page.content == b"" and page.text is None


def test_request_headers_describe_us(fetcher: Fetcher, server: hs.HostileServer) -> None:
    fetcher.get(server.route("/hello", hs.respond(200, HTML)))
    request = next(r for r in server.requests if r.path == "/hello")
    assert request.headers["user-agent"] == fetcher.settings.ua
    assert request.headers["accept-encoding"] == "gzip, deflate, br"
    assert "text/html" in request.headers["accept"]


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(HTML)),
        ("deflate", zlib.compress(HTML)),
        ("deflate", zlib.compress(HTML)[2:-4]),  # raw deflate, as some servers send it
        ("br", brotli.compress(HTML)),
        ("gzip, br", brotli.compress(gzip.compress(HTML))),
        ("identity", HTML),
    ],
    ids=["gzip", "zlib-deflate", "raw-deflate", "br", "gzip-then-br", "identity"],
)
def test_content_codings_are_undone(
    coding: str, body: bytes, fetcher: Fetcher, server: hs.HostileServer
) -> None:
    url = server.route(f"/coded/{coding.replace(', ', '+')}/{len(body)}", hs.encoded(body, coding))
    assert fetcher.get(url).content == HTML


def test_redirects_are_followed_by_hand(fetcher: Fetcher, server: hs.HostileServer) -> None:
    final = server.route("/final", hs.respond(200, HTML))
    server.route("/r2", hs.redirect("final", 307))  # relative Location
    start = server.route("/r1", hs.redirect(server.base_url + "/r2", 301))
    page = fetcher.get(start)
    assert page.url == start and page.final_url == final
    assert page.text is not None and "Steel news" in page.text


def test_http_errors_carry_status_and_transience(
    fetcher: Fetcher, site: FixtureSite, server: hs.HostileServer
) -> None:
    source = Source(id="isit-news", url=site.base_url + "/en/news")
    with pytest.raises(FetchError) as missing:
        fetcher.get(site.base_url + "/gone", source=source)
    assert (missing.value.reason, missing.value.status) == ("http_status", 404)
    assert missing.value.source_id == "isit-news" and not missing.value.transient
    with pytest.raises(FetchError) as broken:
        fetcher.get(server.route("/500", hs.respond(502, b"bad gateway")))
    assert broken.value.status == 502 and broken.value.transient


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(FetchError) as caught:
        fetcher.get(url)
    assert caught.value.reason == "bad_scheme"


def test_html_is_recognised_without_a_content_type(
    fetcher: Fetcher, server: hs.HostileServer
) -> None:
    assert fetcher.get(server.route("/untyped", hs.respond(200, HTML, None, None))).text
    plain = server.route("/plain", hs.respond(200, b"just words", None, "text/plain"))
    with pytest.raises(FetchError) as caught:
        fetcher.get(plain)
    assert caught.value.reason == "not_html"


def test_non_html_is_returned_as_bytes_when_not_expecting_html(
    fetcher: Fetcher, server: hs.HostileServer
) -> None:
    feed = b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>'
    url = server.route("/feed.xml", hs.respond(200, feed, None, "application/rss+xml"))
    page = fetcher.get(url, expect_html=False)
    assert page.content == feed and page.text is None


def test_post_sends_the_body_and_does_not_follow_redirects(
    fetcher: Fetcher, server: hs.HostileServer
) -> None:
    url = server.route("/hook", hs.respond(204, b"", None, None))
    page = fetcher.post(url, b'{"id": 1}', {"Content-Type": "application/json", "webhook-id": "1"})
    assert page.status == 204
    hook = next(r for r in server.requests if r.path == "/hook")
    assert hook.method == "POST" and hook.body == b'{"id": 1}'
    assert hook.headers["webhook-id"] == "1"
    with pytest.raises(FetchError) as caught:
        fetcher.post(server.route("/moved", hs.redirect("/hook", 308)), b"x", {})
    assert caught.value.reason == "http_status" and caught.value.status == 308


def test_post_bypasses_the_hosts_politeness_limits(
    settings: Settings, redis: redis_lib.Redis, server: hs.HostileServer
) -> None:
    """Deliveries to receivers are not page fetches: the per-host rate and concurrency limits
    never hold them back, and a receiver's Retry-After does not push back page fetches."""
    busy = server.route("/busy-hook", hs.retry_after(429, "30"))
    hook = server.route("/quiet-hook", hs.respond(204, b"", None, None))
    page = server.route("/page", hs.respond(200, HTML))
    with Fetcher(settings, redis) as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.post(busy, b"x", {})
        assert caught.value.status == 429 and caught.value.retry_after == 30
        assert fetcher.get(page).status == 200  # not pushed back by the receiver's 429
        assert fetcher._limiter is not None
        fetcher._limiter.push_back(server.base_url, 30)  # page fetches must now wait 30 s
        with pytest.raises(FetchError) as held:
            fetcher.get(page)
        assert held.value.reason == "rate_limited"
        assert fetcher.post(hook, b"x", {}).status == 204


def test_post_is_guarded_too(settings: Settings) -> None:
    closed = settings.model_copy(update={"allow_networks": []})
    with Fetcher(closed) as fetcher, pytest.raises(FetchError) as caught:
        fetcher.post("http://127.0.0.1:9/hook", b"x", {})
    assert caught.value.reason == "blocked_address"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        ("  7 ", 7.0),
        ("99999999999", 6 * 3600.0),
        ("-3", None),
        ("1.5", None),
        ("tomorrow", None),
        ("", None),
        (None, None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60.0


def test_sniffing() -> None:
    assert looks_like_html(b"\n  <!DOCTYPE html><html>")
    assert looks_like_html(b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml">')
    assert looks_like_html(b"\xef\xbb\xbf<p>hello</p>")
    assert not looks_like_html(b'{"json": true}')
    assert not looks_like_html(b"<rss version='2.0'>")
    assert not looks_like_html(b"<abbr>not a sniffed tag</abbr>")


def test_decoder_memory_stays_near_the_cap() -> None:
    bomb = hs.gzip_bomb()  # 64 MiB of zeros
    cap = 1024 * 1024
    decoder = _ZlibDecoder("gzip")
    tracemalloc.start()
    try:
        with pytest.raises(_Exceeded):
            produced = 0
            for i in range(0, len(bomb), 65536):
                produced += len(decoder.feed(bomb[i : i + 65536], cap - produced))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * cap
