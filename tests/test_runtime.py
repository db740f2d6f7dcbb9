"""Runtime guarantees: one beat at a time, Redis settings checked at start, embedded Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from config.settings import Settings
from tasks.errors import ConfigError
from tests.e2e_helpers import newswire_env, start, stop, wait_until, write_sources
from worker.redis_server import EmbeddedRedis
from worker.runtime import check_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def embedded() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(Path(f"/tmp/nw-rt-{uuid.uuid4().hex[:8]}"), appendonly=False)
    server.start()
    yield server
    server.stop()


def test_an_evicting_redis_is_refused_and_missing_persistence_is_a_warning(
    embedded: EmbeddedRedis,
) -> None:
    client = redis_lib.Redis.from_url(embedded.url)
    assert any("persistence is off" in w for w in check_redis(client))
    client.config_set("maxmemory-policy", "allkeys-lru")
    with pytest.raises(ConfigError) as caught:
        check_redis(client)
    assert "allkeys-lru" in caught.value.problems[0]


def test_embedded_redis_keeps_state_across_restarts() -> None:
    directory = Path(f"/tmp/nw-rt-{uuid.uuid4().hex[:8]}")
    first = EmbeddedRedis(directory)
    redis_lib.Redis.from_url(first.start()).set("kept", "yes")
    first.stop()
    second = EmbeddedRedis(directory)
    try:
        assert redis_lib.Redis.from_url(second.start()).get("kept") == b"yes"
    finally:
        second.stop()


def test_a_second_beat_waits_for_the_lease(
    settings: Settings, redis: redis_lib.Redis, tmp_path: Path
) -> None:
    env = newswire_env(
        REDIS_URL=str(settings.redis_url),
        NEWSWIRE_KEY_PREFIX=settings.key_prefix,
        NEWSWIRE_SOURCES=str(write_sources(tmp_path / "sources.yaml", "http://127.0.0.1:9")),
        NEWSWIRE_DATA_DIR=str(tmp_path / "var"),
    )
    first_log, second_log = tmp_path / "beat1.log", tmp_path / "beat2.log"
    first = start("beat", env=env, log=first_log)
    lease = f"{settings.key_prefix}beat:lease"
    try:
        holder = wait_until(lambda: redis.get(lease), 30, "the first beat's lease")
        second = start(
            "beat", env={**env, "NEWSWIRE_DATA_DIR": str(tmp_path / "var2")}, log=second_log
        )
        try:
            wait_until(lambda: "beat.waiting" in second_log.read_text(), 30, "the second beat")
            assert redis.get(lease) == holder  # the first one still holds it
            stop(first)
            # When the first stops, the second takes over.
            wait_until(lambda: redis.get(lease) not in (None, holder), 30, "the takeover")
        finally:
            stop(second)
    finally:
        stop(first)
