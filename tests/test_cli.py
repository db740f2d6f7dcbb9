"""The CLI from outside: `check` previews a source without writing anything."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from config.settings import Settings
from tests.e2e_helpers import REPO, newswire, newswire_env, write_sources
from tests.fixture_site import FixtureSite, Page, news_site


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    fixture = news_site(articles=12, per_page=6)
    fixture.pages["/empty"] = Page(b"<html><body><p>Nothing here.</p></body></html>")
    with fixture.serve():
        yield fixture


def env_for(site: FixtureSite, tmp_path: Path) -> dict[str, str]:
    sources = write_sources(tmp_path / "sources.yaml", site.base_url)
    return newswire_env(
        NEWSWIRE_SOURCES=str(sources),
        NEWSWIRE_ALLOW_NETWORKS="127.0.0.0/8",
        NEWSWIRE_DATA_DIR=str(tmp_path / "var"),
    )


def test_check_a_source_prints_articles_and_writes_nothing(
    site: FixtureSite, tmp_path: Path
) -> None:
    result = newswire("check", "isit-news", "--limit", "3", env=env_for(site, tmp_path))
    assert result.returncode == 0, result.stderr
    assert "3 article(s)" in result.stdout
    assert "ราคาเหล็กแผ่นรีดร้อนในตลาดเอเชียปรับตัวสูงขึ้น (1)" in result.stdout
    assert "published:   2023-09-13T00:00:00+07:00" in result.stdout
    assert "attribution: Reuters" in result.stdout
    assert not (tmp_path / "var").exists()  # no Redis, no files: nothing written


def test_check_json_output(site: FixtureSite, tmp_path: Path) -> None:
    result = newswire("check", "isit-news", "--limit", "2", "--json", env=env_for(site, tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [a["url"].rsplit("/", 1)[1] for a in report["articles"]] == ["1", "2"]
    assert report["articles"][0]["attribution"] == "Reuters"


def test_check_a_url_with_nothing_usable_fails_with_reason_codes(
    site: FixtureSite, tmp_path: Path
) -> None:
    env = env_for(site, tmp_path)
    empty = newswire("check", f"{site.base_url}/empty", env=env)
    assert empty.returncode != 0
    assert "no_content" in empty.stderr
    missing = newswire("check", f"{site.base_url}/missing", env=env)
    assert missing.returncode != 0
    assert "http_status" in missing.stderr
    unknown = newswire("check", "no-such-source", env=env)
    assert unknown.returncode != 0
    assert "no-such-source" in unknown.stderr


def test_events_tail_from_start_prints_one_json_event_per_line(
    settings: Settings, redis: redis_lib.Redis, tmp_path: Path
) -> None:
    from tasks import store
    from tests.test_store import SOURCE, make_article

    for n in (1, 2):
        store.save_article(redis, settings, SOURCE, make_article(n))
    env = newswire_env(
        REDIS_URL=str(settings.redis_url),
        NEWSWIRE_KEY_PREFIX=settings.key_prefix,
        NEWSWIRE_DATA_DIR=str(tmp_path / "var"),
    )
    tail = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "events", "tail", "--from-start"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [json.loads(tail.stdout.readline()) for _ in range(2)]  # type: ignore[union-attr]
    finally:
        tail.terminate()
        tail.communicate(timeout=10)
    assert [e["type"] for e in lines] == ["newswire.article.created"] * 2
    assert [e["data"]["title"] for e in lines] == ["Title 1", "Title 2"]
