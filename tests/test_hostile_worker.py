"""Hostile servers inside a real worker run: each bad source is reported with its reason code,
the worker survives, and a healthy source polled in the same run still delivers its articles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from config.settings import Settings
from tests import hostile_servers as hostile
from tests.e2e_helpers import (
    newswire,
    newswire_env,
    start,
    stop,
    wait_for_workers,
    write_sources,
)
from tests.fixture_site import FixtureSite, news_site

pytestmark = pytest.mark.integration

# source id -> (behaviour, the reason code newswire must report)
HOSTILE = {
    "header-drip": (hostile.header_drip(0.5), "timeout"),
    "silent": (hostile.silent, "timeout"),
    "gzip-bomb": (hostile.encoded(hostile.gzip_bomb(), "gzip"), "decompression_limit"),
    "endless": (hostile.endless_body, "too_large"),
    "metadata-redirect": (hostile.redirect("http://169.254.169.254/latest/"), "blocked_address"),
    "file-redirect": (hostile.redirect("file:///etc/passwd"), "bad_scheme"),
    "busy": (hostile.retry_after(503, "garbage"), "http_status"),
    "image": (
        hostile.respond(200, b"\x89PNG\r\n\x1a\n" + b"0" * 64, None, "image/png"),
        "not_html",
    ),
}


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    fixture = news_site(articles=8, per_page=8)
    with fixture.serve():
        yield fixture


@pytest.fixture
def server() -> Iterator[hostile.HostileServer]:
    with hostile.HostileServer().serve() as running:
        yield running


def test_hostile_sources_are_reported_and_the_healthy_one_still_flows(
    site: FixtureSite,
    server: hostile.HostileServer,
    settings: Settings,
    redis: redis_lib.Redis,
    tmp_path: Path,
) -> None:
    entries = "".join(
        f"""  - id: {source_id}
    url: {server.route(f"/{source_id}", behaviour)}
    allow_networks: [127.0.0.0/8]
"""
        for source_id, (behaviour, _reason) in HOSTILE.items()
    )
    sources = write_sources(tmp_path / "sources.yaml", site.base_url, entries)
    env = newswire_env(
        REDIS_URL=str(settings.redis_url),
        NEWSWIRE_KEY_PREFIX=settings.key_prefix,
        NEWSWIRE_SOURCES=str(sources),
        NEWSWIRE_DATA_DIR=str(tmp_path / "var"),
        NEWSWIRE_HOST_RATE="1000/s",
        NEWSWIRE_HOST_CONCURRENCY="16",
        NEWSWIRE_FETCH_CONNECT_TIMEOUT="1",
        NEWSWIRE_FETCH_READ_TIMEOUT="1",
        NEWSWIRE_FETCH_DEADLINE="2",
        NEWSWIRE_FETCH_MAX_BYTES=str(1024 * 1024),
    )
    log = tmp_path / "worker.log"
    worker = start("worker", "--concurrency", "2", env=env, log=log)
    try:
        wait_for_workers(redis, settings.key_prefix)
        result = newswire("fetch", "--all", "--wait", env=env)
        assert result.returncode == 1, result.stdout + result.stderr
        for source_id, (_behaviour, reason) in HOSTILE.items():
            assert re.search(rf"source={source_id} reason={reason}\b", result.stdout), (
                source_id,
                result.stdout,
            )
        assert "new=8" in result.stdout  # the healthy source, in the same run
        assert redis.zcard(f"{settings.key_prefix}feed:isit-news") == 8

        # The worker survived all of it and still works.
        assert worker.poll() is None
        again = newswire("fetch", "isit-news", "--wait", env=env)
        assert again.returncode == 0 and "failed=0" in again.stdout
    finally:
        stop(worker)
