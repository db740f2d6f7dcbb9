"""robots.txt: RFC 9309 matching, the shared cache, and refusals through a real server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import redis as redis_lib

from config.settings import Settings
from config.sources import Source
from tasks.errors import FetchError
from tasks.fetch import Fetcher
from tasks.robots import ERROR_TTL, Robots, RobotsCache, verdict_for
from tests import hostile_servers as hs

ROBOTS = """\
# comments and unknown lines are ignored
Sitemap: https://example.org/sitemap.xml

User-agent: *
Disallow: /private
Allow: /private/press
Disallow: /*.pdf$
Disallow: /search*q=
Disallow: /tmp/

User-agent: otherbot
Disallow: /

User-agent: Newswire/2.0   # the product token is "newswire", matched case-insensitively
User-agent: anotherbot
Disallow: /en/archive
Allow: /en/archive/2023
Disallow: /*?session=
Allow: /page
Disallow: /page
Disallow:
"""


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/", True),
        ("/en/news", True),
        ("/en/archive", False),
        ("/en/archive/2022/x", False),
        ("/en/archive/2023/x", True),  # longer Allow wins
        ("/en/news?session=abc", False),  # * wildcard
        ("/page", True),  # equal length: Allow wins
        ("/private", True),  # the * group does not apply to us: we have our own group
        ("/robots.txt", True),
    ],
)
def test_our_group_is_used_with_longest_match(path: str, allowed: bool) -> None:
    assert Robots.parse(ROBOTS).allowed(path) is allowed


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/private", False),
        ("/private/x", False),
        ("/private/press/release-1", True),
        ("/docs/a.pdf", False),
        ("/docs/a.pdf?x=1", True),  # $ anchors the end
        ("/search?lang=en&q=steel", False),
        ("/tmp", True),
        ("/tmp/", False),
    ],
)
def test_star_group_applies_to_agents_without_a_group(path: str, allowed: bool) -> None:
    assert Robots.parse(ROBOTS, agent="somebot").allowed(path) is allowed


def test_groups_for_the_same_agent_are_merged_and_empty_file_allows_all() -> None:
    text = (
        "User-agent: newswire\nDisallow: /a\n\nUser-agent: x\nDisallow: /\n\n"
        "User-agent: NEWSWIRE\nDisallow: /b\n"
    )
    robots = Robots.parse(text)
    assert not robots.allowed("/a/1") and not robots.allowed("/b/1") and robots.allowed("/c")
    assert Robots.parse("").allowed("/anything")
    assert Robots.parse("User-agent: newswire\nDisallow:\n").allowed("/x")


def test_percent_encoding_and_non_ascii_compare_equal() -> None:
    robots = Robots.parse("User-agent: *\nDisallow: /ข่าว\nDisallow: /a%2fb\n")
    assert not robots.allowed("/%E0%B8%82%E0%B9%88%E0%B8%B2%E0%B8%A7/1")
    assert not robots.allowed("/a%2Fb")


def test_http_outcomes_map_to_rfc_verdicts() -> None:
    def failing(status: int):  # type: ignore[no-untyped-def]
        def fetch(url: str) -> str:
            raise FetchError("x", "http_status", status=status)

        return fetch

    assert verdict_for(failing(404), "u").outcome == "allow_all"
    assert verdict_for(failing(403), "u").outcome == "allow_all"
    assert verdict_for(failing(500), "u").outcome == "disallow_all"
    assert verdict_for(failing(429), "u").outcome == "disallow_all"


@pytest.fixture
def server() -> Iterator[hs.HostileServer]:
    with hs.HostileServer().serve() as served:
        yield served


def page(server: hs.HostileServer, path: str) -> str:
    return server.route(path, hs.respond(200, b"<html><body>news</body></html>"))


def test_disallowed_page_is_refused_through_a_real_server(
    settings: Settings, redis: redis_lib.Redis, server: hs.HostileServer
) -> None:
    server.route("/robots.txt", hs.respond(200, ROBOTS.encode(), None, "text/plain"))
    ok, refused = page(server, "/en/archive/2023/a"), page(server, "/en/archive/2019/b")
    with Fetcher(settings, redis) as fetcher:
        assert fetcher.get(ok).status == 200
        with pytest.raises(FetchError) as caught:
            fetcher.get(refused)
    assert caught.value.reason == "robots_disallowed"
    assert not caught.value.transient
    assert [r.path for r in server.requests] == ["/robots.txt", "/en/archive/2023/a"]
    assert "newswire" in server.requests[0].headers["user-agent"]

    # Cached in Redis under the documented key, shared with the next worker: no refetch.
    key = f"{settings.key_prefix}robots:{server.base_url}"
    assert json.loads(redis.get(key) or b"{}")["outcome"] == "rules"
    assert 23 * 3600 < redis.ttl(key) <= 24 * 3600
    with Fetcher(settings, redis) as other_worker:
        assert other_worker.get(ok).status == 200
    assert [r.path for r in server.requests].count("/robots.txt") == 1


def test_robots_5xx_disallows_for_a_while_and_4xx_allows(
    settings: Settings, redis: redis_lib.Redis, server: hs.HostileServer
) -> None:
    server.route("/robots.txt", hs.respond(503, b"down", None, "text/plain"))
    url = page(server, "/x")
    with Fetcher(settings, redis) as fetcher, pytest.raises(FetchError) as caught:
        fetcher.get(url)
    assert caught.value.reason == "robots_disallowed"
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= ERROR_TTL
    assert [r.path for r in server.requests] == ["/robots.txt"]

    # No robots.txt at all (404): everything is allowed.
    with hs.HostileServer().serve() as missing, Fetcher(settings, redis) as fetcher:
        assert fetcher.get(page(missing, "/y")).status == 200


def test_ignore_robots_skips_it_and_warns_once(
    settings: Settings, server: hs.HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    everything = b"User-agent: *\nDisallow: /\n"
    server.route("/robots.txt", hs.respond(200, everything, None, "text/plain"))
    url = page(server, "/z")
    source = Source(id="rude", url=url, ignore_robots=True)
    with caplog.at_level(logging.WARNING, logger="tasks.fetch"), Fetcher(settings) as fetcher:
        assert fetcher.get(url, source=source).status == 200
        assert fetcher.get(url, source=source).status == 200
        with pytest.raises(FetchError):
            fetcher.get(url)  # without the opt-out the rules apply
    assert [r.path for r in server.requests].count("/robots.txt") == 1
    assert len([r for r in caplog.records if "ignore_robots" in r.getMessage()]) == 1


def test_cache_without_redis_is_per_process() -> None:
    calls: list[str] = []

    def fetch(url: str) -> str:
        calls.append(url)
        return "User-agent: *\nDisallow: /no\n"

    cache = RobotsCache(None, "x:")
    for _ in range(3):
        robots, _verdict = cache.lookup("https://example.org", fetch)
        assert not robots.allowed("/no")
    assert calls == ["https://example.org/robots.txt"]
