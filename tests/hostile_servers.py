"""Raw-socket HTTP servers that misbehave on purpose, for the fetcher's hardening tests.

``HostileServer`` answers each connection by path: the route's *behaviour* gets the socket and
does whatever it likes (drip headers, never answer, send a bomb). Every behaviour loop is bounded
and watches the server's stop event, so the server always stops on fixture teardown.
``HostileServer.connections`` counts accepted TCP connections, so tests can prove a server was
never contacted at all. ``RecordingServer`` records arrival times and peak concurrency for the
politeness tests; ``polite_worker`` is the code each spawned process runs against it.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import brotli  # type: ignore[import-untyped]

MAX_BEHAVIOUR_SECONDS = 30.0  # hard bound for any slow behaviour, whatever the client does


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""


Behaviour = Callable[[socket.socket, Request, threading.Event], None]


def _read_request(conn: socket.socket) -> Request | None:
    """Read one request head (and a Content-Length body), at most 64 KiB, within 5 s."""
    conn.settimeout(5)
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    try:
        while len(rest) < min(length, 1 << 20):
            chunk = conn.recv(4096)
            if not chunk:
                break
            rest += chunk
    except OSError:
        pass
    return Request(parts[0], parts[1], headers, rest)


def response_bytes(
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    content_type: str | None = "text/html; charset=utf-8",
    content_length: int | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} Status"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- behaviours ---------------------------------------------------------------------------------


def respond(
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    content_type: str | None = "text/html; charset=utf-8",
) -> Behaviour:
    """A complete, well-formed response."""
    data = response_bytes(status, body, headers, content_type)

    def behave(conn: socket.socket, request: Request, stop: threading.Event) -> None:
        conn.sendall(data)

    return behave


def silent(conn: socket.socket, request: Request, stop: threading.Event) -> None:
    """Accept, read the request, never answer."""
    stop.wait(MAX_BEHAVIOUR_SECONDS)


def drip(data: bytes, interval: float) -> Behaviour:
    """Send ``data`` one byte every ``interval`` seconds."""

    def behave(conn: socket.socket, request: Request, stop: threading.Event) -> None:
        end = time.monotonic() + MAX_BEHAVIOUR_SECONDS
        for i in range(len(data)):
            if stop.is_set() or time.monotonic() > end:
                return
            conn.sendall(data[i : i + 1])
            stop.wait(interval)

    return behave


def header_drip(interval: float = 0.25) -> Behaviour:
    return drip(response_bytes(200, b"<html><body>late</body></html>"), interval)


def body_drip(interval: float = 0.25) -> Behaviour:
    head = response_bytes(200, b"", content_length=4000)

    def behave(conn: socket.socket, request: Request, stop: threading.Event) -> None:
        conn.sendall(head)
        drip(b"<html>" + b"x" * 3994, interval)(conn, request, stop)

    return behave


def endless_body(conn: socket.socket, request: Request, stop: threading.Event) -> None:
    """No Content-Length, no end: HTML until the client hangs up (bounded at 1 GiB / 30 s)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html>")
    chunk = b"<p>" + b"spam " * 13000 + b"</p>\n"
    end = time.monotonic() + MAX_BEHAVIOUR_SECONDS
    sent = 0
    while not stop.is_set() and time.monotonic() < end and sent < 1 << 30:
        conn.sendall(chunk)
        sent += len(chunk)


def huge_content_length(conn: socket.socket, request: Request, stop: threading.Event) -> None:
    conn.sendall(response_bytes(200, b"<html>", content_length=10**12))
    stop.wait(MAX_BEHAVIOUR_SECONDS)  # never send the rest


def truncated(conn: socket.socket, request: Request, stop: threading.Event) -> None:
    """Content-Length 1000, 100 bytes, then close."""
    conn.sendall(response_bytes(200, b"<html>" + b"a" * 94, content_length=1000))


# --- bombs: 64 MiB of zeros in a few KiB ---------------------------------------------------------

BOMB_SIZE = 64 * 1024 * 1024


@cache
def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * BOMB_SIZE, compresslevel=9, mtime=0)


@cache
def deflate_bomb() -> bytes:
    return zlib.compress(b"\0" * BOMB_SIZE, 9)


@cache
def brotli_bomb() -> bytes:
    return bytes(brotli.compress(b"\0" * BOMB_SIZE, quality=5))


def encoded(body: bytes, coding: str) -> Behaviour:
    return respond(200, body, {"Content-Encoding": coding})


def triple_gzip() -> Behaviour:
    body = gzip.compress(gzip.compress(gzip.compress(b"<html>" + b"a" * 1000, mtime=0), mtime=0))
    return respond(200, body, {"Content-Encoding": "gzip, gzip, gzip"})


# --- redirects and Retry-After -------------------------------------------------------------------


def redirect(location: str, status: int = 302) -> Behaviour:
    return respond(status, b"<html>moved</html>", {"Location": location})


def retry_after(status: int, value: str) -> Behaviour:
    return respond(status, b"busy", {"Retry-After": value}, "text/plain")


# --- a Thai page in cp874, labelled every way Thai sites label it -----------------------------

THAI_HEADLINE = "การประชุมการพัฒนาเหล็กสีเขียวและคาร์บอนต่ำแห่งชาติครั้งที่ 4"
THAI_BODY = "ราคาเหล็กแผ่นรีดร้อนในตลาดเอเชียปรับตัวสูงขึ้น อุตสาหกรรมเหล็กไทยเร่งลดการปล่อยก๊าซเรือนกระจก"


def thai_page(header_label: str | None, meta_label: str | None) -> Behaviour:
    """cp874 bytes; the charset named in the Content-Type header and/or a <meta>, or nowhere."""
    meta = f'<meta charset="{meta_label}">' if meta_label else ""
    html = (
        f"<!DOCTYPE html><html lang='th'><head>{meta}<title>{THAI_HEADLINE}</title></head>"
        f"<body><h1>{THAI_HEADLINE}</h1><p>{THAI_BODY}</p></body></html>"
    )
    content_type = f"text/html; charset={header_label}" if header_label else "text/html"
    return respond(200, html.encode("cp874"), None, content_type)


# --- the servers ---------------------------------------------------------------------------------


class HostileServer:
    """A threaded raw-socket server dispatching on the request path (query included)."""

    def __init__(self, routes: dict[str, Behaviour] | None = None) -> None:
        self.routes: dict[str, Behaviour] = dict(routes or {})
        self.requests: list[Request] = []
        self.connections = 0
        self.base_url = ""
        self.port = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def route(self, path: str, behaviour: Behaviour) -> str:
        """Add a route; returns its absolute URL."""
        self.routes[path] = behaviour
        return self.base_url + path

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            behaviour = self.routes.get(request.path) or respond(
                404, b"nothing here", None, "text/plain"
            )
            # OSError: the client hung up, which is what clients do to hostile servers.
            with suppress(OSError):
                behaviour(conn, request, self._stop)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    @contextmanager
    def serve(self, host: str = "127.0.0.1") -> Iterator[HostileServer]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self.port}"
        acceptor = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        acceptor.start()
        try:
            yield self
        finally:
            self._stop.set()
            acceptor.join(5)
            listener.close()
            for thread in self._threads:
                thread.join(5)


@dataclass
class RecordingServer:
    """Answers every request after ``delay`` seconds; records arrival times and peak concurrency."""

    delay: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # time.time() of each request
    paths: list[str] = field(default_factory=list)
    peak: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def behaviour(self, conn: socket.socket, request: Request, stop: threading.Event) -> None:
        with self._lock:
            self.arrivals.append(time.time())
            self.paths.append(request.path)
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        try:
            stop.wait(self.delay)
            conn.sendall(response_bytes(200, b"<html><body>ok</body></html>"))
        finally:
            with self._lock:
                self._in_flight -= 1

    @contextmanager
    def serve(self) -> Iterator[str]:
        server = HostileServer()
        # Every path, including /robots.txt (an empty 200: allow all), gets the recorded answer.
        server.routes = _Everything(self.behaviour)
        with server.serve():
            yield server.base_url


class _Everything(dict[str, Behaviour]):
    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__()
        self._behaviour = behaviour

    def get(self, key: str, default: Any = None) -> Behaviour:
        return self._behaviour


def polite_worker(
    settings_kwargs: dict[str, Any], urls: list[str], start: Any, results: Any
) -> None:
    """Run in a spawned process: one Fetcher with Redis, fetching ``urls`` in turn."""
    import redis as redis_lib

    from config.settings import load_settings
    from tasks.errors import FetchError
    from tasks.fetch import Fetcher

    settings = load_settings(**settings_kwargs)
    client = redis_lib.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    outcomes: list[int | str] = []
    with Fetcher(settings, client) as fetcher:
        start.wait(30)
        for url in urls:
            try:
                outcomes.append(fetcher.get(url).status)
            except FetchError as exc:
                outcomes.append(exc.reason)
    client.close()
    results.put(outcomes)
