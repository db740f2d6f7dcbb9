"""The HTTP server: feeds, OPML, an HTML index, /status, /metrics and /healthz.

Feeds are served from Redis (the bytes the last rebuild produced), so any number of web processes
on any hosts serve the same feeds. Conditional requests (ETag / Last-Modified -> 304), HEAD and
gzip are handled here; the standard library's threading server is enough for cached blobs.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from redis import Redis, RedisError

from config.settings import Settings
from config.sources import Source, Webhook
from tasks.feedbuild import FeedPlan, feed_plans, rebuild_feed
from tasks.feeds import FORMATS, render_index_html, render_opml
from tasks.keys import Keys, text
from worker import metrics
from worker.status import status_report

log = logging.getLogger("newswire.http")

FEED_PATH = re.compile(r"^/feeds/([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.(rss|atom|json)$")


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        settings: Settings,
        sources: Sequence[Source],
        redis: Redis,
        address: tuple[str, int] | None = None,
        webhooks: Sequence[Webhook] = (),
    ) -> None:
        self.settings = settings
        self.sources = list(sources)
        self.webhooks = list(webhooks)
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.plans: dict[str, FeedPlan] = feed_plans(settings, sources)
        shortest = min((s.interval_seconds or 900 for s in sources), default=900)
        self.max_age = int(max(60, min(shortest / 2, 3600)))
        super().__init__(address or (settings.http_host, settings.http_port), FeedHandler)


class FeedHandler(BaseHTTPRequestHandler):
    server: FeedServer
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "newswire"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, head: bool) -> None:
        path = urlsplit(self.path).path
        try:
            match = FEED_PATH.match(path)
            if match:
                self._feed(match[1], match[2], head)
            elif path in ("/", "/feeds", "/feeds/"):
                body = render_index_html(
                    [p.info for p in self.server.plans.values()], self.server.settings.public_url
                )
                self._send(200, body, "text/html; charset=utf-8", head)
            elif path == "/feeds.opml":
                body = render_opml(
                    [p.info for p in self.server.plans.values()], self.server.settings.public_url
                )
                self._send(200, body, "text/x-opml; charset=utf-8", head)
            elif path == "/healthz":
                self._healthz(head)
            elif path == "/status":
                self._status(head)
            elif path == "/metrics":
                body = metrics.render(self.server.redis, self.server.settings, self.server.sources)
                self._send(200, body, "text/plain; version=0.0.4; charset=utf-8", head)
            else:
                self._error(404, f"no such page: {path}", head)
        except RedisError as exc:
            self._error(503, f"redis unavailable: {exc}", head)

    def _feed(self, name: str, fmt: str, head: bool) -> None:
        plan = self.server.plans.get(name)
        if plan is None:
            known = ", ".join(sorted(self.server.plans))
            self._error(404, f"unknown feed {name!r}; feeds: {known}", head)
            return
        key = self.server.keys.feed_file(name, fmt)
        stored: Any = self.server.redis.hgetall(key)
        if not stored:  # never built yet (no article so far): build it now, empty but valid
            rebuild_feed(self.server.redis, self.server.settings, plan)
            stored = self.server.redis.hgetall(key)
        body: bytes = stored[b"body"]
        etag, last_modified = str(text(stored[b"etag"])), str(text(stored[b"last_modified"]))
        headers = {
            "ETag": etag,
            "Last-Modified": last_modified,
            "Cache-Control": f"public, max-age={self.server.max_age}",
        }
        if self._not_modified(etag, last_modified):
            self._send(304, b"", None, head, headers)
            return
        self._send(200, body, FORMATS[fmt], head, headers)

    def _not_modified(self, etag: str, last_modified: str) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            # A gzip response carries the same ETag with a -gzip suffix; either matches.
            tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            return "*" in tags or etag in tags or etag[:-1] + '-gzip"' in tags
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
        return False

    def _healthz(self, head: bool) -> None:
        try:
            self.server.redis.ping()
        except RedisError as exc:
            self._send(
                503, json.dumps({"ok": False, "redis": str(exc)}).encode(), "application/json", head
            )
            return
        self._send(200, b'{"ok":true,"redis":"ok"}', "application/json", head)

    def _status(self, head: bool) -> None:
        server = self.server
        body = status_report(server.redis, server.settings, server.sources, server.webhooks)
        self._send(200, json.dumps(body, indent=2).encode(), "application/json", head)

    def _error(self, status: int, message: str, head: bool) -> None:
        body = json.dumps({"error": message, "status": status}).encode()
        self._send(status, body, "application/json", head)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        head: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        headers = dict(headers or {})
        gzipped = (
            status == 200 and len(body) > 512 and "gzip" in self.headers.get("Accept-Encoding", "")
        )
        if gzipped:
            body = gzip.compress(body, mtime=0)  # mtime=0: same bytes every time
            headers["Content-Encoding"] = "gzip"
            if "ETag" in headers:
                headers["ETag"] = headers["ETag"][:-1] + '-gzip"'
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status in (200, 304):
            self.send_header("Vary", "Accept-Encoding")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if status != 304 else 0))
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(body)


def serve(
    settings: Settings, sources: Sequence[Source], redis: Redis, webhooks: Sequence[Webhook] = ()
) -> FeedServer:
    """Create the server (bound, not yet serving): call ``serve_forever()`` on it."""
    return FeedServer(settings, sources, redis, webhooks=webhooks)
