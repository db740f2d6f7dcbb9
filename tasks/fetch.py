"""Fetching web pages like a good citizen that no hostile server can hurt.

``Fetcher.get(url)`` returns a :class:`~tasks.models.FetchedPage` (200, or 304 when the
validators match) or raises :class:`~tasks.errors.FetchError` with a reason code
(PRODUCT.md §11). One ``Fetcher`` per worker process, built after fork.

Design decisions:

* **The deadline is enforced at the socket.** httpx timeouts apply per read, so a server that
  drips one byte per second never trips them. Every socket operation goes through
  :class:`_DeadlineStream`, which shrinks the timeout of each read/write/connect to what is left
  of the request's deadline (a context variable set by ``get``), and fails once it is spent.
  No watchdog thread, no signal: the worker thread itself notices, within one socket timeout.
* **Connections go only to checked addresses.** httpx has no public hook for the network
  backend, so :func:`_guard` installs :class:`tasks.netguard.GuardedBackend` (resolve, check,
  connect to the checked IP) into each transport's httpcore pool. One httpx client exists per
  distinct allow-list, so a pooled keep-alive connection opened under a generous allow-list is
  never reused by a request that is not allowed that network. Every hop (each redirect) is also
  checked before politeness and robots are consulted, which gives an early, clear error and is
  the only check possible behind a proxy (the proxy resolves the name itself).
* **Bodies are decoded by hand.** We read ``iter_raw()`` and undo content codings ourselves with
  output limits (``zlib`` ``max_length``, brotli ``output_buffer_limit``), so a 10 KiB gzip bomb
  stops at ``fetch_max_bytes`` decoded bytes instead of inflating in memory first. At most two
  codings are undone; more is treated as a bomb.
* **Redirects are followed by hand**, each hop re-checked (scheme, address, robots, politeness);
  redirect bodies are never read.
* **Politeness is optional.** With a Redis client, per-host rate and concurrency limits are
  shared by all workers (:mod:`tasks.politeness`); they apply to GETs (pages, robots.txt), not
  to POSTs to webhook receivers and hubs, which are deliveries, not crawling. robots.txt is
  always obeyed unless the source opts out (:mod:`tasks.robots`); without Redis its cache is
  per process.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import re
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

import brotli  # type: ignore[import-untyped]  # no stubs; pyproject is not ours to edit
import httpcore
import httpx
from redis import Redis

from config.settings import IPNetwork, Settings
from config.sources import Source
from tasks.decode import decode_html
from tasks.errors import FetchError
from tasks.models import FetchedPage
from tasks.netguard import GuardedBackend, NetGuard, Resolver, system_resolver
from tasks.politeness import HostLimiter
from tasks.robots import MAX_ROBOTS_BYTES, RobotsCache

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_CODINGS = 2
MAX_RETRY_AFTER = 6 * 3600.0
MAX_POLITE_WAIT = 10.0  # seconds a request may wait for its host's turn before rate_limited
ACCEPT_HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
ACCEPT_ANY = "*/*"
ACCEPT_ENCODING = "gzip, deflate, br"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types servers put on HTML by mistake: the body decides (sniffing) instead of the header.
SNIFF_TYPES = frozenset(
    {
        "",
        "text/plain",
        "application/octet-stream",
        "binary/octet-stream",
        "application/unknown",
        "unknown/unknown",
        "application/xml",
        "text/xml",
    }
)

# Absolute monotonic time by which the current request must be done (None: no deadline).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "newswire_fetch_deadline", default=None
)


# --- the deadline, enforced on every socket operation ------------------------------------------


def _clamp(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("request deadline exceeded")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return self._inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _guard(
    transport: httpx.HTTPTransport, guard: NetGuard, trusted: Sequence[tuple[str, int]]
) -> httpx.HTTPTransport:
    """Install the guarded, deadline-aware backend into an httpx transport's httpcore pool.

    httpx 0.28 offers no public way to pass a network backend. Fail loudly (at start-up, and in
    tests) if the private attribute ever moves, rather than silently connecting unguarded.
    """
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx/httpcore internals changed: cannot install the SSRF guard")
    pool._network_backend = _DeadlineBackend(GuardedBackend(guard, trusted))
    return transport


class _GuardedClient(httpx.Client):
    """An httpx client whose proxy transports (from settings or the environment) are guarded too:
    they connect unchecked only to the proxy itself."""

    def __init__(self, guard: NetGuard, **kwargs: Any) -> None:
        self._netguard = guard
        super().__init__(**kwargs)

    def _init_proxy_transport(
        self, proxy: httpx.Proxy, *args: Any, **kwargs: Any
    ) -> httpx.BaseTransport:
        transport = super()._init_proxy_transport(proxy, *args, **kwargs)
        assert isinstance(transport, httpx.HTTPTransport)
        port = proxy.url.port or (443 if proxy.url.scheme == "https" else 80)
        return _guard(transport, self._netguard, [(proxy.url.host, port)])


# --- content codings, undone with output limits ------------------------------------------------


class _Exceeded(Exception):
    """A decoder produced more than its limit."""


class _Decoder(Protocol):
    def feed(self, data: bytes, limit: int) -> bytes:
        """Decode ``data``; may return at most ``limit`` bytes, more means raise _Exceeded."""
        ...


class _ZlibDecoder:
    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        # 16 + MAX_WBITS: gzip header; MAX_WBITS: zlib header ("deflate" as the RFC means it).
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._first = True

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._obj.decompress(data, limit + 1)
        except zlib.error:
            # Many servers send raw deflate without the zlib header; browsers accept it.
            if not (self._first and not self._gzip):
                raise
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._obj.decompress(data, limit + 1)
        self._first = False
        if len(out) > limit:  # max_length reached: the rest would be more still
            raise _Exceeded
        return out


class _BrotliDecoder:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        out: bytes = self._obj.process(data, output_buffer_limit=limit + 1)
        while len(out) <= limit and not self._obj.can_accept_more_data():
            out += self._obj.process(b"", output_buffer_limit=limit + 1 - len(out))
        if len(out) > limit:
            raise _Exceeded
        return out


def _content_codings(headers: httpx.Headers) -> list[str]:
    codings = []
    for value in headers.get_list("content-encoding"):
        codings += [c.strip().lower() for c in value.split(",") if c.strip()]
    return [c for c in codings if c != "identity"]


def _decoder(coding: str) -> _Decoder:
    if coding in ("gzip", "x-gzip", "deflate"):
        return _ZlibDecoder(coding)
    if coding == "br":
        return _BrotliDecoder()
    raise FetchError(f"unsupported content coding {coding!r}", "encoding")


# --- small helpers -------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), clamped to
    [0, 6 h]. Anything else (negative numbers, garbage) is ignored: None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


_SNIFF_TAGS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
    b"<!--",
)
_XML_DECL = re.compile(rb"^<\?xml[^>]*\?>\s*", re.I)


def looks_like_html(content: bytes) -> bool:
    """WHATWG MIME sniffing's HTML rule: after whitespace, one of a few tags followed by a space
    or '>'. An XML declaration in front is skipped (XHTML)."""
    head = content[:1024].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    head = _XML_DECL.sub(b"", head)
    for tag in _SNIFF_TAGS:
        if head.startswith(tag):
            rest = head[len(tag) : len(tag) + 1]
            if tag == b"<!--" or rest in (b" ", b">", b"\t", b"\n", b"\r", b"/"):
                return True
    return False


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _authority(url: httpx.URL) -> str:
    """scheme://host[:port], the unit of politeness and of robots.txt."""
    default = {"http": 80, "https": 443}.get(url.scheme)
    port = f":{url.port}" if url.port and url.port != default else ""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}{port}"


@dataclass
class _Body:
    content: bytes
    truncated: bool = False


# --- the fetcher ---------------------------------------------------------------------------------


class Fetcher:
    """One per worker process (build after fork). Wraps one httpx client per allow-list."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis | None = None,
        *,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self._resolver = resolver
        self._clients: dict[frozenset[IPNetwork], tuple[httpx.Client, NetGuard]] = {}
        self._lock = threading.Lock()
        self._timeout = httpx.Timeout(
            connect=settings.fetch_connect_timeout,
            read=settings.fetch_read_timeout,
            write=settings.fetch_read_timeout,
            pool=settings.fetch_deadline,
        )
        self._robots = RobotsCache(redis, settings.key_prefix)
        self._warned_ignore_robots: set[str] = set()
        self._limiter = (
            HostLimiter(
                redis,
                settings.key_prefix,
                rate=settings.host_rate,
                concurrency=settings.host_concurrency,
                # A lease outlives any request that holds it; a crashed worker's lease expires.
                lease_seconds=settings.fetch_deadline + 5,
            )
            if redis is not None
            else None
        )

    # -- public API --

    def get(
        self,
        url: str,
        *,
        source: Source | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        expect_html: bool = True,
    ) -> FetchedPage:
        """GET a page: 200 with decoded text for HTML, or 304 when the validators match."""
        source_id = source.id if source else None
        allow = tuple(self.settings.allow_networks) + tuple(source.allow_networks if source else ())
        headers = {"Accept": ACCEPT_HTML if expect_html else ACCEPT_ANY}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        with self._deadline(), self._errors(source_id, url):
            return self._fetch(
                "GET",
                url,
                headers,
                None,
                allow=allow,
                expect_html=expect_html,
                follow=True,
                source=source,
                robots=True,
                polite=True,
            )

    def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        allow_networks: Sequence[IPNetwork] = (),
    ) -> FetchedPage:
        """POST (webhooks, WebSub pings): same guard, timeouts and caps; no robots, no politeness,
        no redirects (a receiver that redirects is misconfigured: reported as http_status)."""
        allow = tuple(self.settings.allow_networks) + tuple(allow_networks)
        with self._deadline(), self._errors(None, url):
            return self._fetch(
                "POST",
                url,
                dict(headers),
                body,
                allow=allow,
                expect_html=False,
                follow=False,
                polite=False,
            )

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client, _netguard in clients:
            client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --

    def _client(self, allow: tuple[IPNetwork, ...]) -> tuple[httpx.Client, NetGuard]:
        key = frozenset(allow)
        with self._lock:
            if key not in self._clients:
                guard = NetGuard(key, self._resolver)
                transport = _guard(
                    httpx.HTTPTransport(trust_env=self.settings.trust_env), guard, ()
                )
                client = _GuardedClient(
                    guard,
                    transport=transport,
                    proxy=self.settings.proxy,
                    trust_env=self.settings.trust_env,
                    timeout=self._timeout,
                    follow_redirects=False,
                    headers={"User-Agent": self.settings.ua, "Accept-Encoding": ACCEPT_ENCODING},
                )
                self._clients[key] = (client, guard)
            return self._clients[key]

    @contextmanager
    def _deadline(self) -> Iterator[None]:
        """Set the request deadline unless an outer call (get -> robots.txt) already did."""
        if _DEADLINE.get() is not None:
            yield
            return
        token = _DEADLINE.set(time.monotonic() + self.settings.fetch_deadline)
        try:
            yield
        finally:
            _DEADLINE.reset(token)

    @contextmanager
    def _errors(self, source_id: str | None, url: str) -> Iterator[None]:
        """Turn every failure into a FetchError carrying source and URL."""
        try:
            yield
        except FetchError as exc:
            if (exc.source_id is None and source_id is not None) or exc.url is None:
                raise FetchError(
                    exc.message,
                    exc.reason,
                    exc.source_id or source_id,
                    exc.url or url,
                    status=exc.status,
                    retry_after=exc.retry_after,
                ) from None
            raise
        except httpx.TimeoutException as exc:
            raise FetchError(_timeout_message(exc), "timeout", source_id, url) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise FetchError(f"unusable URL: {exc}", "bad_scheme", source_id, url) from None
        except httpx.ConnectError as exc:
            raise FetchError(f"cannot connect: {exc}", "connect", source_id, url) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            # Connection reset, truncated body, garbage instead of HTTP: a network failure.
            raise FetchError(
                f"connection failed: {type(exc).__name__}: {exc}", "connect", source_id, url
            ) from None

    def _fetch(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        allow: tuple[IPNetwork, ...],
        expect_html: bool,
        follow: bool,
        source: Source | None = None,
        robots: bool = False,
        polite: bool,
    ) -> FetchedPage:
        """One page: the exchange, then what the page layer demands (type, non-empty, text)."""
        started = time.monotonic()
        final, response, content = self._exchange(
            method,
            url,
            headers,
            body,
            allow=allow,
            follow=follow,
            expect_html=expect_html,
            source=source,
            robots=robots,
            polite=polite,
            max_bytes=self.settings.fetch_max_bytes,
        )
        if response.status_code == 304:
            return self._page(url, final, response, b"", None, None, started)
        content_type = response.headers.get("content-type")
        media = _media_type(content_type)
        if method == "GET" and not content:
            raise FetchError(
                f"HTTP {response.status_code} with an empty body",
                "empty_body",
                status=response.status_code,
            )
        is_html = media in HTML_TYPES or (media in SNIFF_TYPES and looks_like_html(content))
        if expect_html and not is_html:
            raise FetchError(
                f"not an HTML page (Content-Type: {media or 'none'}; the body does not look like"
                " HTML either)",
                "not_html",
            )
        text, encoding = decode_html(content, content_type) if is_html else (None, None)
        return self._page(url, final, response, content, text, encoding, started)

    def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        allow: tuple[IPNetwork, ...],
        follow: bool,
        expect_html: bool,
        source: Source | None,
        robots: bool,
        polite: bool,
        max_bytes: int,
        truncate: bool = False,
    ) -> tuple[httpx.URL, httpx.Response, bytes]:
        """Send the request and follow redirects by hand; every hop is checked again.

        ``polite`` requests wait for the host's turn (:mod:`tasks.politeness`) and a 429/503
        with Retry-After pushes the host's schedule back; POSTs to receivers do neither.

        Returns the final URL, the (closed) final response and its decoded body, which is empty
        for 304. Raises FetchError for anything but 2xx and a 304 answering our validators.
        """
        client, guard = self._client(allow)
        current = _parse_url(url)
        conditional = "If-None-Match" in headers or "If-Modified-Since" in headers
        for hop in range(self.settings.fetch_max_redirects + 1):
            port = current.port or _default_port(current)
            guard.resolve(current.host, port, _remaining())  # early, clear refusal
            host = _authority(current)
            if robots:
                self._check_robots(current, allow, source)
            request = client.build_request(method, current, headers=headers, content=body)
            with self._polite(host, polite):
                response = client.send(request, stream=True)
                try:
                    status = response.status_code
                    if follow and status in REDIRECT_STATUSES:
                        if hop >= self.settings.fetch_max_redirects:
                            raise FetchError(
                                f"more than {self.settings.fetch_max_redirects} redirects",
                                "too_many_redirects",
                                status=status,
                            )
                        current = _redirect_target(current, response.headers.get("location"))
                        continue  # the redirect body is never read
                    if status == 304 and conditional:
                        return current, response, b""
                    if not 200 <= status < 300:
                        raise self._status_error(host, response, polite)
                    media = _media_type(response.headers.get("content-type"))
                    if expect_html and media not in HTML_TYPES and media not in SNIFF_TYPES:
                        # Refused before reading: no point downloading a video to say no.
                        raise FetchError(f"not an HTML page (Content-Type: {media})", "not_html")
                    content = _read_body(response, max_bytes, truncate=truncate).content
                    return current, response, content
                finally:
                    response.close()
        raise AssertionError("unreachable: the last hop returns or raises")

    def _status_error(self, host: str, response: httpx.Response, polite: bool) -> FetchError:
        status = response.status_code
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after and polite and self._limiter is not None:
                self._limiter.push_back(host, retry_after)  # every worker backs off
        return FetchError(
            f"HTTP {status} {response.reason_phrase}".strip(),
            "http_status",
            status=status,
            retry_after=retry_after,
        )

    @contextmanager
    def _polite(self, host: str, polite: bool) -> Iterator[None]:
        if self._limiter is None or not polite:
            yield
            return
        remaining = _remaining() or MAX_POLITE_WAIT
        with self._limiter.slot(host, min(remaining, MAX_POLITE_WAIT)):
            yield

    def _check_robots(
        self, url: httpx.URL, allow: tuple[IPNetwork, ...], source: Source | None
    ) -> None:
        if source is not None and source.ignore_robots:
            if source.id not in self._warned_ignore_robots:
                self._warned_ignore_robots.add(source.id)
                log.warning("robots.ignored source=%s: ignore_robots is set", source.id)
            return
        host = _authority(url)

        def fetch_robots(robots_url: str) -> str:
            # Same guard, deadline and politeness as the page; errors name the robots.txt URL.
            with self._errors(source.id if source else None, robots_url):
                _final, _response, content = self._exchange(
                    "GET",
                    robots_url,
                    {"Accept": "text/plain,*/*;q=0.5"},
                    None,
                    allow=allow,
                    follow=True,
                    expect_html=False,
                    source=source,
                    robots=False,
                    polite=True,
                    max_bytes=MAX_ROBOTS_BYTES,
                    truncate=True,
                )
            return content.decode("utf-8", "replace")

        try:
            rules, verdict = self._robots.lookup(host, fetch_robots)
        except FetchError as exc:  # the host is unreachable: report it for the page's URL
            raise FetchError(
                f"{host}/robots.txt: {exc.message}",
                exc.reason,
                exc.source_id,
                status=exc.status,
                retry_after=exc.retry_after,
            ) from None
        path = url.raw_path.decode("ascii", "replace")
        if not rules.allowed(path):
            why = (
                "robots.txt disallows it"
                if verdict.outcome == "rules"
                else (f"robots.txt is unavailable ({verdict.note}); staying away for now")
            )
            raise FetchError(
                f"{path}: {why}",
                "robots_disallowed",
                retry_after=self._robots.retry_after(host)
                if verdict.outcome == "disallow_all"
                else None,
            )

    @staticmethod
    def _page(
        url: str,
        final: httpx.URL,
        response: httpx.Response,
        content: bytes,
        text: str | None,
        encoding: str | None,
        started: float,
    ) -> FetchedPage:
        return FetchedPage(
            url=url,
            final_url=str(final),
            status=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            content=content,
            text=text,
            encoding=encoding,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
        )


def _remaining() -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError("request deadline exceeded", "timeout")
    return remaining


def _timeout_message(exc: Exception) -> str:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() >= deadline - 0.05:
        return "request deadline exceeded"
    return f"timed out: {type(exc).__name__}"


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _parse_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"unusable URL {url!s}: {exc}", "bad_scheme") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"only http and https can be fetched, not {parsed.scheme!r}", "bad_scheme")
    if not parsed.host:
        raise FetchError(f"URL has no host: {url!s}", "bad_scheme")
    return parsed


def _redirect_target(current: httpx.URL, location: str | None) -> httpx.URL:
    if not location or not location.strip():
        raise FetchError("redirect without a Location header", "http_status")
    try:
        target = current.join(location.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(f"unusable redirect Location {location!r}: {exc}", "bad_scheme") from None
    return _parse_url(target)


def _read_body(response: httpx.Response, max_bytes: int, *, truncate: bool = False) -> _Body:
    """Read and decode the body, never holding more than ``max_bytes`` decoded bytes.

    ``too_large`` when the raw (or identity) body exceeds the cap, ``decompression_limit`` when
    decoding would. With ``truncate`` the first ``max_bytes`` are returned instead (robots.txt).
    """
    codings = _content_codings(response.headers)
    if len(codings) > MAX_CODINGS:
        raise FetchError(
            f"{len(codings)} content codings ({', '.join(codings)}): refusing to unpack",
            "decompression_limit",
        )
    decoders = [_decoder(c) for c in reversed(codings)]  # undo the last coding first
    declared = response.headers.get("content-length", "")
    if not truncate and declared.strip().isdigit() and int(declared) > max_bytes:
        raise FetchError(
            f"Content-Length {int(declared)} exceeds the {max_bytes}-byte limit", "too_large"
        )
    produced = [0] * len(decoders)
    raw_total = 0
    chunks: list[bytes] = []
    size = 0
    try:
        for raw in response.iter_raw():
            raw_total += len(raw)
            if raw_total > max_bytes and not truncate:
                raise FetchError(f"body exceeds the {max_bytes}-byte limit", "too_large")
            data = raw
            for i, decoder in enumerate(decoders):
                data = decoder.feed(data, max_bytes - produced[i])
                produced[i] += len(data)
            if size + len(data) > max_bytes:
                if truncate:
                    chunks.append(data[: max_bytes - size])
                    return _Body(b"".join(chunks), truncated=True)
                raise FetchError(f"body exceeds the {max_bytes}-byte limit", "too_large")
            chunks.append(data)
            size += len(data)
            if raw_total > max_bytes:  # truncating: enough raw bytes read, whatever they made
                return _Body(b"".join(chunks), truncated=True)
    except _Exceeded:
        if truncate:
            return _Body(b"".join(chunks), truncated=True)
        raise FetchError(
            f"decoded body exceeds the {max_bytes}-byte limit ({', '.join(codings)})",
            "decompression_limit",
        ) from None
    except (zlib.error, brotli.error) as exc:
        raise FetchError(f"corrupt {', '.join(codings)} body: {exc}", "encoding") from None
    return _Body(b"".join(chunks))
