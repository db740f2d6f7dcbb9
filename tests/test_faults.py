"""Exactly once for readers, at least once for services — under faults.

Each test runs real `newswire worker` processes on Redis against a local site whose article
pages answer slowly (so work is in flight when the fault strikes), injects one fault, lets the
system recover (a short broker visibility timeout brings unacknowledged tasks back), polls again,
and then checks: every article exactly once in every feed, exactly one `created` event per
article, nothing missing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import feedparser
import pytest
import redis as redis_lib

from config.settings import Settings
from tests.e2e_helpers import (
    newswire,
    newswire_env,
    start,
    stop,
    stream_envelopes,
    wait_for_workers,
    wait_until,
    write_sources,
)
from tests.fixture_site import FixtureSite, news_site
from worker.redis_server import EmbeddedRedis

pytestmark = pytest.mark.integration

ARTICLES = 24


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    fixture = news_site(articles=ARTICLES, per_page=8)
    for path, page in fixture.pages.items():
        if re.match(r"^/en/news/\d+$", path):
            page.delay = 0.25
    with fixture.serve():
        yield fixture


def fault_env(redis_url: str, prefix: str, site: FixtureSite, tmp_path: Path) -> dict[str, str]:
    return newswire_env(
        REDIS_URL=redis_url,
        NEWSWIRE_KEY_PREFIX=prefix,
        NEWSWIRE_SOURCES=str(write_sources(tmp_path / "sources.yaml", site.base_url)),
        NEWSWIRE_DATA_DIR=str(tmp_path / "var"),
        NEWSWIRE_HOST_RATE="1000/s",
        NEWSWIRE_HOST_CONCURRENCY="16",
        # Unacknowledged tasks of a dead worker come back after this long.
        NEWSWIRE_VISIBILITY_TIMEOUT="16",
        NEWSWIRE_TASK_TIME_LIMIT="12",
    )


@pytest.fixture
def env(settings: Settings, site: FixtureSite, tmp_path: Path) -> dict[str, str]:
    return fault_env(str(settings.redis_url), settings.key_prefix, site, tmp_path)


def stored(redis: redis_lib.Redis, prefix: str) -> int:
    return int(redis.zcard(f"{prefix}feed:isit-news"))


def start_worker(env: dict[str, str], log: Path, concurrency: int = 2) -> subprocess.Popen[bytes]:
    return start("worker", "--concurrency", str(concurrency), env=env, log=log, new_session=True)


def worker_mid_run(
    env: dict[str, str], redis: redis_lib.Redis, prefix: str, log: Path
) -> subprocess.Popen[bytes]:
    """A worker in the middle of a first poll: some articles stored, more in flight."""
    worker = start_worker(env, log)
    wait_for_workers(redis, prefix)
    assert newswire("fetch", "--all", env=env).returncode == 0
    wait_until(lambda: stored(redis, prefix) >= 3, 60, "some articles")
    return worker


def recover_and_check(redis: redis_lib.Redis, prefix: str, env: dict[str, str], log: Path) -> None:
    """Start a fresh worker, let redelivered tasks finish, poll again, check exactly-once."""
    worker = start_worker(env, log)
    try:
        wait_until(lambda: stored(redis, prefix) == ARTICLES, 120, "every article stored")
        result = newswire("fetch", "--all", "--wait", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert_exactly_once(redis, prefix, Path(env["NEWSWIRE_DATA_DIR"]) / "feeds")
    finally:
        stop(worker)


def assert_exactly_once(redis: redis_lib.Redis, prefix: str, feed_dir: Path) -> None:
    created = [
        e["data"]["id"]
        for e in stream_envelopes(redis, f"{prefix}events")
        if e["type"] == "newswire.article.created"
    ]
    assert len(created) == len(set(created)) == ARTICLES
    for feed in ("isit-news", "steel", "all"):
        assert redis.zcard(f"{prefix}feed:{feed}") == ARTICLES
        entries = feedparser.parse((feed_dir / f"{feed}.rss").read_bytes()).entries
        assert len(entries) == len({e.id for e in entries}) == ARTICLES


def test_sigkill_of_the_whole_worker_mid_poll(
    env: dict[str, str], redis: redis_lib.Redis, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = worker_mid_run(env, redis, settings.key_prefix, log)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert stored(redis, settings.key_prefix) < ARTICLES  # the fault struck mid-run
    recover_and_check(redis, settings.key_prefix, env, log)


def test_sigkill_of_a_pool_child(
    env: dict[str, str], redis: redis_lib.Redis, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = worker_mid_run(env, redis, settings.key_prefix, log)
    try:
        children = subprocess.run(
            ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
        ).stdout.split()
        assert children, "the prefork pool has children"
        os.kill(int(children[0]), signal.SIGKILL)
        # task_reject_on_worker_lost: the child's task goes back to the queue at once.
        wait_until(lambda: stored(redis, settings.key_prefix) == ARTICLES, 120, "all articles")
    finally:
        stop(worker)
    recover_and_check(redis, settings.key_prefix, env, log)


def test_sigterm_to_the_process_group(
    env: dict[str, str], redis: redis_lib.Redis, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = worker_mid_run(env, redis, settings.key_prefix, log)
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(60) == 0, log.read_text()[-2000:]
    recover_and_check(redis, settings.key_prefix, env, log)


def producer(settings: Settings, env: dict[str, str]) -> ModuleType:
    """The Celery app, configured like the workers, for sending tasks from the test."""
    from config.sources import load_sources
    from worker import app as celery_app

    celery_app.configure(settings, load_sources(env["NEWSWIRE_SOURCES"]))
    return celery_app


def test_the_same_task_delivered_twice(
    env: dict[str, str],
    redis: redis_lib.Redis,
    settings: Settings,
    site: FixtureSite,
    tmp_path: Path,
) -> None:
    celery_app = producer(settings, env)
    url = f"{site.base_url}/en/news/7"
    for _ in range(3):
        celery_app.fetch_articles_task.delay("isit-news", [url])
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_until(lambda: stored(redis, settings.key_prefix) == 1, 60, "the article")
        queue = f"{settings.key_prefix}celery:articles"
        unacked = f"{settings.key_prefix}celery:unacked"
        wait_until(
            lambda: redis.llen(queue) == 0 and redis.hlen(unacked) == 0,
            60,
            "all three deliveries handled",
        )
    finally:
        stop(worker)
    created = [
        e
        for e in stream_envelopes(redis, settings.stream_key)
        if e["type"] == "newswire.article.created"
    ]
    assert len(created) == 1


def test_work_that_keeps_killing_its_worker_is_dead_lettered(
    env: dict[str, str],
    redis: redis_lib.Redis,
    settings: Settings,
    site: FixtureSite,
    tmp_path: Path,
) -> None:
    celery_app = producer(settings, env)
    url = f"{site.base_url}/en/news/5"
    # As if three workers had died on this page: the next delivery gives up on it.
    redis.set(f"{settings.key_prefix}attempts:fetch_article:isit-news:{url}", 3)
    celery_app.fetch_articles_task.delay("isit-news", [url])
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_until(lambda: redis.llen(f"{settings.key_prefix}dead:tasks"), 60, "a dead letter")
    finally:
        stop(worker)
    assert stored(redis, settings.key_prefix) == 0
    status = newswire("status", "--json", env=env)
    assert "dead-lettered" in status.stdout


def test_redis_restarted_mid_run(site: FixtureSite, tmp_path: Path) -> None:
    directory = Path(f"/tmp/nw-fault-{uuid.uuid4().hex[:8]}")
    server = EmbeddedRedis(directory, appendonly=True)
    url = server.start()
    client = redis_lib.Redis.from_url(url)
    env = fault_env(url, "newswire:", site, tmp_path)
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_for_workers(client, "newswire:")
        assert newswire("fetch", "--all", env=env).returncode == 0
        wait_until(lambda: stored(client, "newswire:") >= 3, 60, "some articles")
        server.stop()  # SHUTDOWN: the AOF is flushed, the worker loses its broker
        server = EmbeddedRedis(directory, appendonly=True)
        server.start()
        client = redis_lib.Redis.from_url(url)
        wait_until(lambda: stored(client, "newswire:") == ARTICLES, 150, "every article")
    finally:
        stop(worker)
    try:
        recover_and_check(client, "newswire:", env, log)
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(directory)], check=False)


def test_four_workers_four_sources_linking_the_same_articles(
    settings: Settings, redis: redis_lib.Redis, tmp_path: Path
) -> None:
    site = news_site(articles=ARTICLES, per_page=ARTICLES)
    listing = site.pages["/en/news"]
    for letter in "abcd":
        site.pages[f"/{letter}/news"] = listing
    with site.serve():
        entries = "".join(
            f"""  - id: source-{letter}
    url: {site.base_url}/{letter}/news
    topics: [steel]
    allow_networks: [127.0.0.0/8]
"""
            for letter in "abcd"
        )
        (tmp_path / "sources.yaml").write_text("sources:\n" + entries)
        env = newswire_env(
            REDIS_URL=str(settings.redis_url),
            NEWSWIRE_KEY_PREFIX=settings.key_prefix,
            NEWSWIRE_SOURCES=str(tmp_path / "sources.yaml"),
            NEWSWIRE_DATA_DIR=str(tmp_path / "var"),
            NEWSWIRE_HOST_RATE="1000/s",
            NEWSWIRE_HOST_CONCURRENCY="16",
        )
        workers = [start_worker(env, tmp_path / f"worker{i}.log", concurrency=1) for i in range(4)]
        try:
            wait_for_workers(redis, settings.key_prefix, count=4)
            result = newswire("fetch", "--all", "--wait", env=env)
            assert result.returncode == 0, result.stdout + result.stderr
        finally:
            for worker in workers:
                stop(worker)
    created = [
        e["data"]["id"]
        for e in stream_envelopes(redis, settings.stream_key)
        if e["type"] == "newswire.article.created"
    ]
    assert len(created) == len(set(created)) == ARTICLES
    for feed in ("steel", "all"):
        entries = feedparser.parse((settings.feeds_path / f"{feed}.rss").read_bytes()).entries
        assert len(entries) == len({e.id for e in entries}) == ARTICLES
    owners = sum(redis.zcard(f"{settings.key_prefix}feed:source-{x}") for x in "abcd")
    assert owners == ARTICLES  # each article belongs to the one source that claimed it first
