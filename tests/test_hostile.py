"""A hostile server gets a clean FetchError with the right reason, within the deadline, and the
fetcher keeps working for the next, healthy site.

Settings here are tight (1 s connect/read timeouts, 2 s deadline, 1 MiB decoded cap) so every case
is quick; the elapsed-time bounds are generous (deadline plus a margin), never tight.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from config.settings import Settings, load_settings
from tasks.errors import FetchError
from tasks.fetch import Fetcher
from tests import hostile_servers as hs
from tests.fixture_site import FixtureSite, news_site

DEADLINE = 2.0
MARGIN = 2.0  # scheduling slack on a busy CI machine
MAX_BYTES = 1024 * 1024


@pytest.fixture
def tight(redis_url: str, key_prefix: str, tmp_path: Path) -> Settings:
    return load_settings(
        redis_url=redis_url,
        key_prefix=key_prefix,
        data_dir=tmp_path / "var",
        sources=tmp_path / "sources.yaml",
        allow_networks="127.0.0.0/8",
        fetch_connect_timeout=1,
        fetch_read_timeout=1,
        fetch_deadline=DEADLINE,
        fetch_max_bytes=MAX_BYTES,
        fetch_max_redirects=3,
    )


@pytest.fixture
def fetcher(tight: Settings) -> Iterator[Fetcher]:
    with Fetcher(tight) as fetcher:
        yield fetcher


# Servers live for the module (each test adds its own routes); starting them per test costs time.
@pytest.fixture(scope="module")
def hostile() -> Iterator[hs.HostileServer]:
    with hs.HostileServer().serve() as server:
        yield server


@pytest.fixture(scope="module")
def healthy() -> Iterator[FixtureSite]:
    with news_site(articles=3).serve() as site:
        yield site


def fails(fetcher: Fetcher, url: str, **kwargs: object) -> tuple[FetchError, float]:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetcher.get(url, **kwargs)  # type: ignore[arg-type]
    return caught.value, time.monotonic() - started


def still_works(fetcher: Fetcher, site: FixtureSite) -> None:
    page = fetcher.get(site.base_url + "/en/news/1")
    assert page.status == 200 and page.text and "Nanjing" in page.text


CASES: dict[str, tuple[hs.Behaviour, str]] = {
    "silent": (hs.silent, "timeout"),
    "body-drip": (hs.body_drip(0.25), "timeout"),
    "endless-body": (hs.endless_body, "too_large"),
    "huge-content-length": (hs.huge_content_length, "too_large"),
    "truncated-body": (hs.truncated, "connect"),
    "gzip-bomb": (hs.encoded(hs.gzip_bomb(), "gzip"), "decompression_limit"),
    "deflate-bomb": (hs.encoded(hs.deflate_bomb(), "deflate"), "decompression_limit"),
    "brotli-bomb": (hs.encoded(hs.brotli_bomb(), "br"), "decompression_limit"),
    "triple-encoding": (hs.triple_gzip(), "decompression_limit"),
    "corrupt-gzip": (hs.encoded(b"\x1f\x8b\x08\x00garbage-not-gzip", "gzip"), "encoding"),
    "unknown-coding": (hs.encoded(b"whatever", "compress"), "encoding"),
    "redirect-loop": (hs.redirect("/case/redirect-loop"), "too_many_redirects"),
    "redirect-to-file": (hs.redirect("file:///etc/passwd"), "bad_scheme"),
    "redirect-to-gopher": (hs.redirect("gopher://127.0.0.1:70/_GET"), "bad_scheme"),
    "redirect-to-metadata": (
        hs.redirect("http://169.254.169.254/latest/meta-data/"),
        "blocked_address",
    ),
    "redirect-to-ipv6-loopback": (hs.redirect("http://[::1]:8080/"), "blocked_address"),
    "redirect-without-location": (hs.respond(302, b"", None), "http_status"),
    "image": (hs.respond(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 100, None, "image/png"), "not_html"),
    "json": (hs.respond(200, b'{"a": 1}', None, "application/json"), "not_html"),
    "untyped-binary": (hs.respond(200, b"\x00\x01\x02PK\x03\x04", None, None), "not_html"),
    "empty": (hs.respond(200, b"", None), "empty_body"),
    "server-error": (hs.respond(500, b"oops", None), "http_status"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_server_yields_reason_within_deadline(
    case: str, fetcher: Fetcher, hostile: hs.HostileServer, healthy: FixtureSite
) -> None:
    behaviour, reason = CASES[case]
    url = hostile.route(f"/case/{case}", behaviour)

    error, elapsed = fails(fetcher, url)

    assert error.reason == reason, error
    assert error.url == url
    assert elapsed < DEADLINE + MARGIN
    still_works(fetcher, healthy)


def test_deadline_bounds_a_header_drip_that_no_read_timeout_catches(
    fetcher: Fetcher, hostile: hs.HostileServer, healthy: FixtureSite
) -> None:
    # 0.25 s per byte is far inside the 1 s read timeout: only the deadline can stop it.
    url = hostile.route("/drip", hs.header_drip(0.25))
    error, elapsed = fails(fetcher, url)
    assert error.reason == "timeout" and error.transient
    assert "deadline" in error.message
    assert DEADLINE - 0.5 < elapsed < DEADLINE + MARGIN
    still_works(fetcher, healthy)


def test_bomb_is_cut_at_the_cap_not_inflated(
    fetcher: Fetcher, hostile: hs.HostileServer, healthy: FixtureSite
) -> None:
    # A cap just above the bomb's size would be needed to accept it; the message says why not.
    url = hostile.route("/bomb", hs.encoded(hs.gzip_bomb(), "gzip"))
    error, _ = fails(fetcher, url)
    assert error.reason == "decompression_limit"
    assert str(MAX_BYTES) in error.message
    still_works(fetcher, healthy)


RETRY_AFTER = [
    ("seconds", 429, "120", 120.0),
    ("huge", 429, "999999999", 6 * 3600.0),
    ("negative", 429, "-5", None),
    ("garbage", 503, "soon, maybe", None),
    ("absent", 503, "", None),
]


@pytest.mark.parametrize(("name", "status", "header", "expected"), RETRY_AFTER)
def test_retry_after_is_parsed_clamped_or_ignored(
    name: str,
    status: int,
    header: str,
    expected: float | None,
    fetcher: Fetcher,
    hostile: hs.HostileServer,
    healthy: FixtureSite,
) -> None:
    behaviour = hs.retry_after(status, header) if header else hs.respond(status, b"busy", None)
    error, _ = fails(fetcher, hostile.route(f"/busy/{name}", behaviour))
    assert (error.reason, error.status, error.retry_after) == ("http_status", status, expected)
    assert error.transient  # 429 and 5xx are retried with backoff
    still_works(fetcher, healthy)


def test_retry_after_as_http_date(
    fetcher: Fetcher, hostile: hs.HostileServer, healthy: FixtureSite
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    future_error, _ = fails(fetcher, hostile.route("/date", hs.retry_after(503, when)))
    past_error, _ = fails(fetcher, hostile.route("/past", hs.retry_after(429, past)))
    assert future_error.retry_after is not None and 80 < future_error.retry_after <= 90
    assert past_error.retry_after == 0.0
    still_works(fetcher, healthy)


@pytest.mark.parametrize(
    ("header", "meta"),
    [
        ("windows-874", None),
        ("tis-620", None),
        ("iso-8859-11", None),
        (None, "windows-874"),  # meta only
        (None, None),  # no declaration at all: detection
    ],
)
def test_thai_cp874_page_decodes_under_every_label(
    header: str | None, meta: str | None, fetcher: Fetcher, hostile: hs.HostileServer
) -> None:
    page = fetcher.get(hostile.route("/thai", hs.thai_page(header, meta)))
    assert page.encoding == "cp874"
    assert page.text is not None
    assert hs.THAI_HEADLINE in page.text and hs.THAI_BODY in page.text


def test_unreachable_port_is_a_connect_error(fetcher: Fetcher, healthy: FixtureSite) -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error, elapsed = fails(fetcher, f"http://127.0.0.1:{port}/")
    # robots.txt is asked first; its connect error is reported as it is (transient).
    assert error.reason == "connect" and error.transient
    assert error.url == f"http://127.0.0.1:{port}/" and "robots.txt" in error.message
    assert elapsed < DEADLINE + MARGIN
    still_works(fetcher, healthy)
