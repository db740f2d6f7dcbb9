"""WebSub: feeds advertise the hub, and a changed feed is pinged to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import feedparser
import pytest

from config.settings import Settings
from tasks.errors import FetchError
from tasks.feeds import FeedInfo, render_atom, render_rss
from tasks.fetch import Fetcher
from tasks.websub import changed_feed_urls, ping_hub


class Hub:
    def __init__(self, status: int) -> None:
        self.status = status
        self.pings: list[dict[str, list[str]]] = []


@pytest.fixture
def hub() -> Iterator[tuple[Hub, str]]:
    state = Hub(204)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.pings.append(parse_qs(self.rfile.read(length).decode()))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hub"
    finally:
        server.shutdown()
        server.server_close()


def test_ping_names_every_format_of_each_changed_feed(
    hub: tuple[Hub, str], settings: Settings
) -> None:
    state, url = hub
    urls = changed_feed_urls(settings, ["isit-news", "all"])
    with Fetcher(settings) as fetcher:
        assert ping_hub(fetcher, url, urls) == 204
    (ping,) = state.pings
    assert ping["hub.mode"] == ["publish"]
    assert sorted(ping["hub.url"]) == sorted(urls)
    assert f"{settings.public_url}/feeds/isit-news.atom" in ping["hub.url"]


def test_a_failing_hub_raises_a_retryable_error(hub: tuple[Hub, str], settings: Settings) -> None:
    state, url = hub
    state.status = 503
    with Fetcher(settings) as fetcher, pytest.raises(FetchError) as caught:
        ping_hub(fetcher, url, ["http://localhost:8080/feeds/all.rss"])
    assert caught.value.reason == "http_status" and caught.value.transient


def test_feeds_advertise_the_hub() -> None:
    info = FeedInfo(
        name="all",
        title="All",
        description="d",
        site_url="https://e.org/",
        public_url="https://feeds.e.org",
        hub_url="https://hub.e.org/",
    )
    for rendered in (render_rss(info, []), render_atom(info, [])):
        links = feedparser.parse(rendered).feed.links
        assert {"rel": "hub", "href": "https://hub.e.org/"}.items() <= next(
            link for link in links if link.get("rel") == "hub"
        ).items()
