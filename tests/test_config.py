"""Configuration: every problem is reported with file, source id and field; exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import load_settings
from config.sources import load_sources, parse_duration, parse_sources
from tasks.errors import ConfigError

GOOD = """
sources:
  - id: isit-news
    name: Iron & Steel Institute of Thailand — News
    url: https://example.org/en/news
    interval: 15m
    language: en
    timezone: Asia/Bangkok
    topics: [steel, asia]
    listing:
      links: "div.news-list a.title"
      next_page: "a.next"
    article:
      title: "h1"
      published: ".news-date"
      body: ".news-detail"
      attribution: ".news-source"
      remove: [".related-news", ".disclaimer"]
  - id: cron-source
    url: https://example.com/
    interval: "*/15 * * * *"
    allow_networks: [127.0.0.0/8]
"""

BAD = """
sources:
  - id: Bad_ID
    url: ftp://example.org/
  - id: slow
    url: https://example.org/
    interval: 2s
    timezone: Mars/Olympus
    listing: {links: "a[[["}
    colour: blue
  - id: slow
    url: https://example.org/other
  - id: nets
    url: https://example.org/
    allow_networks: [not-a-network]
"""


def test_the_product_contract_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD)
    first, second = load_sources(path)
    assert first.id == "isit-news"
    assert first.interval_seconds == 900
    assert first.topics == ("steel", "asia")
    assert first.article.remove == (".related-news", ".disclaimer")
    assert first.feed_names == ("isit-news", "steel", "asia", "all")
    assert second.interval_seconds is None  # cron
    assert [str(n) for n in second.allow_networks] == ["127.0.0.0/8"]


def test_every_problem_is_listed_with_file_source_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    problems = "\n".join(caught.value.problems)
    assert f"{path}: source 'Bad_ID': id:" in problems
    assert f"{path}: source 'Bad_ID': url:" in problems and "http" in problems
    assert "source 'slow': interval:" in problems
    assert "source 'slow': timezone:" in problems
    assert "source 'slow': listing.links: invalid CSS selector" in problems
    assert "source 'slow': colour:" in problems
    assert "source 'slow': id: duplicate" in problems
    assert "source 'nets': allow_networks:" in problems


def config_validate(sources: Path) -> subprocess.CompletedProcess[str]:
    """`newswire config validate` with nothing but the sources file in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", "config", "validate"],
        env={"NEWSWIRE_SOURCES": str(sources), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )


def test_config_validate_exits_2_and_names_the_culprits(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = config_validate(path)
    assert result.returncode == 2
    assert "source 'slow': timezone:" in result.stderr
    assert "source 'Bad_ID': url:" in result.stderr


def test_config_validate_accepts_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    result = config_validate(path)
    assert result.returncode == 0, result.stderr
    assert "2 source(s)" in result.stdout


def test_missing_file_and_broken_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_sources(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: [ {id: a, url: ")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_sources(broken)


def test_topic_names_may_not_collide_with_feeds() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_sources(
            {
                "sources": [
                    {"id": "a", "url": "https://a.example/", "topics": ["b"]},
                    {"id": "b", "url": "https://b.example/", "topics": ["all"]},
                ]
            }
        )
    assert any("'b' is also a source id" in p for p in caught.value.problems)
    assert any("'all'" in p for p in caught.value.problems)


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("1h30m", 5400), ("90s", 90), ("2d", 172800), ("45", 45)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWIRE_ALLOW_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.setenv("NEWSWIRE_HOST_RATE", "30/m")
    monkeypatch.setenv("NEWSWIRE_DATA_DIR", "/srv/newswire")
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/3")
    settings = load_settings()
    assert [str(n) for n in settings.allow_networks] == ["127.0.0.0/8", "::1/128"]
    assert settings.host_rate == 0.5
    assert settings.feeds_path == Path("/srv/newswire/feeds")
    assert settings.redis_url == "redis://example:6379/3"
    assert settings.stream_key == "newswire:events"
    assert settings.ua.startswith("newswire/")


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWIRE_HTTP_PORT", "eighty")
    monkeypatch.setenv("NEWSWIRE_ALLOW_NETWORKS", "10.0.0.0/99")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    joined = "\n".join(caught.value.problems)
    assert "NEWSWIRE_HTTP_PORT" in joined
    assert "NEWSWIRE_ALLOW_NETWORKS" in joined
