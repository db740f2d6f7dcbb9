"""End to end, as a user runs it: real Celery worker, real Redis, a local HTTP news site.

The site has 200 articles on 10 listing pages (tests/fixture_site.py), some served as
windows-874. We check what reaches the feeds and the event stream, that broken sources are
reported without stopping the healthy one, and that a re-poll fetches no article page again.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import pytest
import redis as redis_lib

from config.settings import Settings
from tests.e2e_helpers import (
    free_port,
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

pytestmark = pytest.mark.integration

BROKEN_SOURCES = """  - id: broken-selector
    url: {base}/en/news
    listing: {{links: "div.no-such-list a"}}
    allow_networks: [127.0.0.0/8]
  - id: refused
    url: http://127.0.0.1:{closed_port}/news
    allow_networks: [127.0.0.0/8]
"""


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    fixture = news_site(articles=200, per_page=20)
    with fixture.serve():
        yield fixture


def article_requests(site: FixtureSite) -> int:
    return sum(1 for path in site.requests if re.match(r"^/en/news/\d+$", path))


@pytest.fixture
def worker_env(settings: Settings, site: FixtureSite, tmp_path: Path) -> dict[str, str]:
    extra = BROKEN_SOURCES.format(base=site.base_url, closed_port=free_port())
    sources = write_sources(tmp_path / "sources.yaml", site.base_url, extra)
    return newswire_env(
        REDIS_URL=str(settings.redis_url),
        NEWSWIRE_KEY_PREFIX=settings.key_prefix,
        NEWSWIRE_SOURCES=str(sources),
        NEWSWIRE_DATA_DIR=str(settings.data_dir),
        NEWSWIRE_HOST_RATE="200/s",
        NEWSWIRE_HOST_CONCURRENCY="8",
        NEWSWIRE_PUBLIC_URL="http://feeds.example.test",
    )


@pytest.fixture
def celery_worker(
    worker_env: dict[str, str], redis: redis_lib.Redis, settings: Settings, tmp_path: Path
) -> Iterator[Path]:
    log = tmp_path / "worker.log"
    process = start("worker", "--concurrency", "2", env=worker_env, log=log)
    try:
        wait_for_workers(redis, settings.key_prefix)
        yield log
    finally:
        assert stop(process) == 0, log.read_text()[-3000:]


def test_fetch_wait_fills_feeds_and_stream_and_reports_broken_sources(
    celery_worker: Path,
    worker_env: dict[str, str],
    site: FixtureSite,
    redis: redis_lib.Redis,
    settings: Settings,
) -> None:
    result = newswire("fetch", "--all", "--wait", env=worker_env)
    # Two sources fail, so the command fails; the healthy source still delivered everything.
    assert result.returncode == 1, result.stderr
    assert "summary: new=60 updated=0 duplicate=0 unchanged=0 failed=2" in result.stdout
    assert "source=broken-selector reason=no_links" in result.stdout
    assert re.search(r"source=refused reason=connect", result.stdout)

    feed_dir = settings.feeds_path
    rss = feedparser.parse((feed_dir / "isit-news.rss").read_bytes())
    atom = feedparser.parse((feed_dir / "isit-news.atom").read_bytes())
    for parsed in (rss, atom):
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert len(parsed.entries) == 50  # NEWSWIRE_FEED_ITEMS default
        newest = parsed.entries[0]
        assert newest.title.startswith("ราคาเหล็กแผ่นรีดร้อนในตลาดเอเชียปรับตัวสูงขึ้น (1)")
        assert newest.link.endswith("/en/news/1")
    assert [e.id for e in rss.entries] == [e.id for e in atom.entries] or len(
        {e.id for e in rss.entries}
    ) == 50
    content = rss.entries[0].content[0].value
    assert "National Steel Green and Low Carbon Development Conference" in content
    assert "Related News" not in content and "does not guarantee" not in content
    published = rss.entries[0].published_parsed
    assert (published.tm_year, published.tm_mon, published.tm_mday) == (2023, 9, 12)

    # The windows-874 page (every 10th article) arrives as Thai text, not mojibake.
    tenth = next(e for e in rss.entries if e.link.endswith("/en/news/10"))
    assert tenth.title.startswith("การประชุมการพัฒนาเหล็กสีเขียว")

    envelopes = stream_envelopes(redis, settings.stream_key)
    created = [e for e in envelopes if e["type"] == "newswire.article.created"]
    assert len(created) == 60
    assert len({e["data"]["id"] for e in created}) == 60
    seed_like = next(e["data"] for e in created if e["data"]["url"].endswith("/en/news/5"))
    assert seed_like["attribution"] == "CISA"
    assert seed_like["published"].startswith("2023-09-09")
    assert "does not guarantee" not in seed_like["text"]
    assert {e["type"] for e in envelopes} >= {"newswire.source.broken"}

    for topic_feed in ("steel", "all"):
        parsed = feedparser.parse((feed_dir / f"{topic_feed}.rss").read_bytes())
        assert len(parsed.entries) == 50

    # Rebuilds are coalesced: 60 new articles cause a handful of feed rebuilds, not 60.
    rebuilds = redis.hget(f"{settings.key_prefix}metrics", "newswire_feed_build_seconds_count")
    assert rebuilds is not None and 1 <= float(rebuilds) < 20

    log = celery_worker.read_text()
    assert '"source": "broken-selector"' in log and '"reason": "no_links"' in log
    assert '"source": "refused"' in log and '"reason": "connect"' in log

    # Polling again: nothing new, no article page fetched, no event added.
    before = article_requests(site)
    again = newswire("fetch", "isit-news", "--wait", env=worker_env)
    assert again.returncode == 0, again.stderr
    assert "new=0" in again.stdout and "failed=0" in again.stdout
    assert article_requests(site) == before
    assert len(stream_envelopes(redis, settings.stream_key)) == len(envelopes)

    status = newswire("status", "--json", env=worker_env)
    assert '"reason": "no_links"' in status.stdout


def test_run_serves_feeds_and_survives_sigterm_and_sigkill(site: FixtureSite) -> None:
    # Embedded Redis: no REDIS_URL. A short data dir keeps the unix socket path legal.
    data_dir = Path(f"/tmp/nw-e2e-{uuid.uuid4().hex[:8]}")
    port = free_port()
    data_dir.mkdir()
    sources = write_sources(data_dir / "sources.yaml", site.base_url)
    env = newswire_env(
        NEWSWIRE_SOURCES=str(sources),
        NEWSWIRE_DATA_DIR=str(data_dir),
        NEWSWIRE_HTTP_PORT=str(port),
        NEWSWIRE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        NEWSWIRE_HOST_RATE="200/s",
        NEWSWIRE_FEED_ITEMS="20",
    )
    log = data_dir / "run.log"
    feed_url = f"http://127.0.0.1:{port}/feeds/isit-news.rss"

    def feed_items() -> int:
        try:
            return len(feedparser.parse(httpx.get(feed_url, timeout=5).content).entries)
        except httpx.HTTPError:
            return 0

    def client() -> redis_lib.Redis:
        return redis_lib.Redis(unix_socket_path=str(data_dir / "redis" / "redis.sock"))

    try:
        run = start("run", env=env, log=log)
        wait_until(lambda: feed_items() == 20, 60, "a full feed from `newswire run`")
        atom = feedparser.parse(httpx.get(feed_url.replace(".rss", ".atom")).content)
        assert atom.bozo == 0 and len(atom.entries) == 20
        articles = client().zcard("newswire:feed:isit-news")
        assert stop(run, signal.SIGTERM) == 0, log.read_text()[-3000:]

        for sig in (signal.SIGTERM, signal.SIGKILL):
            run = start("run", env=env, log=log)
            wait_until(lambda: feed_items() == 20, 60, "the feed after a restart")
            before = article_requests(site)
            result = newswire("fetch", "--all", "--wait", env=env)
            assert result.returncode == 0, result.stderr
            assert "new=0" in result.stdout
            assert article_requests(site) == before
            stop(run, sig)
            if sig == signal.SIGKILL:  # children die with their parent; wait for them
                wait_until(
                    lambda: (
                        subprocess.run(
                            ["pgrep", "-f", str(data_dir)], capture_output=True
                        ).returncode
                        != 0
                    ),
                    30,
                    "child processes to exit after SIGKILL",
                )

        run = start("run", env=env, log=log)
        wait_until(lambda: feed_items() == 20, 60, "the feed after SIGKILL")
        envelopes = stream_envelopes(client(), "newswire:events")
        ids = [e["data"]["id"] for e in envelopes if e["type"] == "newswire.article.created"]
        assert len(ids) == len(set(ids)) == articles
        parsed = feedparser.parse(httpx.get(feed_url).content)
        assert len({e.id for e in parsed.entries}) == 20
        assert stop(run, signal.SIGTERM) == 0, log.read_text()[-3000:]
    finally:
        subprocess.run(["pkill", "-f", str(data_dir)], check=False)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_batch_that_runs_long_hands_its_remaining_pages_on(
    redis: redis_lib.Redis, settings: Settings, tmp_path: Path
) -> None:
    # With a 10 s task time limit no page fits the budget after the first (a page may take its
    # 30 s fetch deadline), so each task ingests one page and queues the rest as a new batch.
    fixture = news_site(articles=12, per_page=12)
    with fixture.serve():
        env = newswire_env(
            REDIS_URL=str(settings.redis_url),
            NEWSWIRE_KEY_PREFIX=settings.key_prefix,
            NEWSWIRE_SOURCES=str(write_sources(tmp_path / "sources.yaml", fixture.base_url)),
            NEWSWIRE_DATA_DIR=str(settings.data_dir),
            NEWSWIRE_HOST_RATE="200/s",
            NEWSWIRE_TASK_TIME_LIMIT="10",
            NEWSWIRE_VISIBILITY_TIMEOUT="60",
        )
        log = tmp_path / "worker.log"
        process = start("worker", "--concurrency", "2", env=env, log=log)
        try:
            wait_for_workers(redis, settings.key_prefix)
            result = newswire("fetch", "--all", "--wait", env=env)
        finally:
            assert stop(process) == 0, log.read_text()[-3000:]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary: new=12 updated=0 duplicate=0 unchanged=0 failed=0" in result.stdout
    handed_on = [line for line in log.read_text().splitlines() if "batch_handed_on" in line]
    assert len(handed_on) == 11
    created = stream_envelopes(redis, settings.stream_key)
    assert len({e["data"]["id"] for e in created}) == 12
