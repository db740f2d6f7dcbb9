"""A generated news site for the pipeline benchmark, served from its own process.

    .venv/bin/python tests/benchmarks/site_server.py --sources 100 --articles 2000

``--sources`` listing pages ``/s<i>/news`` share ``--articles`` article pages ``/s<i>/news/<n>``
(the markup of tests/fixture_site.py: Thai titles, dated paragraphs, a "Source : X" line, a
related-news list and a disclaimer; each story with paragraphs of its own, as in a real news
section), dressed in the furniture of a real news site (tests/benchmarks/site_chrome.py: ~60 KB,
~850 elements) unless ``--light``; every 10th article is served as windows-874 bytes. Every page
has an ETag and a Last-Modified and answers a matching conditional GET with 304. ``/robots.txt``
allows everything.

The server is a small asyncio HTTP/1.1 server with keep-alive, so that serving costs the machine
as little CPU as possible: the benchmark measures the client side. It prints
``READY http://127.0.0.1:<port>`` once listening and exits when its stdin closes (the parent
died or is done) or on SIGTERM.

Control paths (not counted): ``GET /__stats`` returns the request counters as JSON (by kind and
status, plus the time of the first and last counted request); ``GET /__reset`` zeroes them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.benchmarks.site_chrome import dress  # noqa: E402
from tests.fixture_site import LAST_MODIFIED, article_html, listing_html  # noqa: E402

CP874_EVERY = 10
ROBOTS = b"User-agent: *\nAllow: /\n"
LISTING = re.compile(r"^/s\d+/news$")
ARTICLE = re.compile(r"^/s\d+/news/\d+$")
MAX_HEADER_BYTES = 16384


class Page:
    __slots__ = ("body", "content_type", "etag")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type
        self.etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def source_articles(sources: int, articles: int) -> list[list[int]]:
    """Article numbers (1-based, global) of each source, as evenly spread as possible."""
    per, extra = divmod(articles, sources)
    out, start = [], 1
    for i in range(sources):
        count = per + (1 if i < extra else 0)
        out.append(list(range(start, start + count)))
        start += count
    return out


def build_site(sources: int, articles: int, light: bool = False) -> dict[str, Page]:
    """The site's pages by path; article pages carry a real site's weight unless ``light``."""
    pages: dict[str, Page] = {"/robots.txt": Page(ROBOTS, "text/plain")}
    for index, ids in enumerate(source_articles(sources, articles)):
        base = f"/s{index}/news"
        listing = listing_html(1, 1, ids).replace('href="/en/news/', f'href="{base}/')
        pages[base] = Page(listing.encode(), "text/html; charset=utf-8")
        for n in ids:
            related = [r for r in (n + 1, n + 2, n + 3) if r in ids]
            cp874 = n % CP874_EVERY == 0
            charset = "windows-874" if cp874 else "utf-8"
            html = article_html(n, related=related, charset=charset, distinct=True)
            html = html if light else dress(html, n)
            if cp874:
                body, ctype = html.encode("cp874"), "text/html; charset=windows-874"
            else:
                body, ctype = html.encode(), "text/html; charset=utf-8"
            pages[f"{base}/{n}"] = Page(
                body.replace(b'href="/en/news/', f'href="{base}/'.encode()), ctype
            )
    return pages


class Site:
    def __init__(self, pages: dict[str, Page]) -> None:
        self.pages = pages
        sizes = [len(page.body) for path, page in pages.items() if ARTICLE.match(path)]
        self.article_bytes = sum(sizes) // max(len(sizes), 1)  # mean, for the report
        self.counts: Counter[str] = Counter()
        self.first: float | None = None
        self.last: float | None = None

    def kind(self, path: str) -> str:
        if LISTING.match(path):
            return "listing"
        if ARTICLE.match(path):
            return "article"
        if path == "/robots.txt":
            return "robots"
        return "other"

    def answer(self, path: str, headers: dict[str, str]) -> tuple[bytes, bool]:
        """(response bytes without body-less trailer, keep-alive?) for one GET/HEAD."""
        if path == "/__stats":
            stats = {
                "counts": dict(self.counts),
                "first": self.first,
                "last": self.last,
                "article_bytes": self.article_bytes,
            }
            return _response(200, "OK", json.dumps(stats).encode(), "application/json", {}), True
        if path == "/__reset":
            self.counts.clear()
            self.first = self.last = None
            return _response(200, "OK", b"{}", "application/json", {}), True
        now = time.time()
        self.first = self.first or now
        self.last = now
        kind = self.kind(path)
        page = self.pages.get(path)
        if page is None:
            self.counts[f"{kind} 404"] += 1
            return _response(404, "Not Found", b"not found", "text/plain", {}), True
        validators = {"ETag": page.etag, "Last-Modified": LAST_MODIFIED}
        if headers.get("if-none-match") == page.etag or (
            "if-none-match" not in headers and headers.get("if-modified-since") == LAST_MODIFIED
        ):
            self.counts[f"{kind} 304"] += 1
            return _response(304, "Not Modified", b"", None, validators), True
        self.counts[f"{kind} 200"] += 1
        return _response(200, "OK", page.body, page.content_type, validators), True


def _response(
    status: int, reason: str, body: bytes, ctype: str | None, headers: dict[str, str]
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body) if status != 304 else 0}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body if status != 304 else b"")


async def handle(site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            request_line, *header_lines = raw.decode("latin-1").split("\r\n")
            parts = request_line.split(" ")
            if len(parts) != 3:
                return
            method, target, _version = parts
            headers = {}
            for line in header_lines:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            data, keep = site.answer(target, headers)
            if method == "HEAD":
                data = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            writer.write(data)
            await writer.drain()
            if not keep or headers.get("connection", "").lower() == "close":
                return
    finally:
        writer.close()


async def serve(site: Site, host: str, port: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: handle(site, r, w), host, port, limit=MAX_HEADER_BYTES, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"READY http://{host}:{bound}", flush=True)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    # The parent holds our stdin: EOF means it is gone (or done), so stop.
    loop.add_reader(sys.stdin.fileno(), lambda: done.set() if not sys.stdin.read(1) else None)
    async with server:
        await done.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a generated news site.")
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--light", action="store_true", help="bare ~3 KB article pages")
    args = parser.parse_args()
    site = Site(build_site(args.sources, args.articles, args.light))
    asyncio.run(serve(site, args.host, args.port))


if __name__ == "__main__":
    main()
