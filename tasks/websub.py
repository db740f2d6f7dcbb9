"""WebSub publisher pings (W3C WebSub §5.1, "publish" as most hubs accept it).

When a rebuild changed a feed, the hub is told to fetch it again:
``POST <hub>`` with ``hub.mode=publish`` and one ``hub.url`` per changed feed URL. The ping goes
through the hardened fetcher (SSRF guard, timeouts). It runs as its own task after the rebuild,
so a slow or failing hub never blocks a rebuild; the task retries with backoff.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from config.settings import Settings
from tasks.feeds import FORMATS, feed_url
from tasks.fetch import Fetcher


def changed_feed_urls(settings: Settings, feed_names: Iterable[str]) -> list[str]:
    return [feed_url(settings.public_url, name, fmt) for name in feed_names for fmt in FORMATS]


def ping_hub(fetcher: Fetcher, hub: str, urls: list[str]) -> int:
    """Tell the hub these feeds changed; returns the hub's status. Raises FetchError."""
    body = urlencode([("hub.mode", "publish"), *(("hub.url", url) for url in urls)]).encode()
    page = fetcher.post(
        hub,
        body,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    return page.status
