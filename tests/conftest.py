"""Shared fixtures: a real Redis (own key prefix per test, cleaned afterwards) and settings.

Redis comes from REDIS_URL if set, else the server on 127.0.0.1:6379 if one answers, else a
private embedded redis-server started for the session. Never FLUSHALL: tests delete only the keys
under their own prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from config.settings import Settings, load_settings
from worker.redis_server import EmbeddedRedis, reachable

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    if reachable(LOCAL_REDIS):
        yield LOCAL_REDIS
        return
    # Short path: unix socket paths are limited to ~100 bytes.
    embedded = EmbeddedRedis(Path(f"/tmp/nwtest-{uuid.uuid4().hex[:8]}"), appendonly=False)
    try:
        yield embedded.start()
    finally:
        embedded.stop()


@pytest.fixture
def key_prefix() -> str:
    return f"nwtest:{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def redis(redis_url: str, key_prefix: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(match=f"{key_prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def settings(redis_url: str, key_prefix: str, tmp_path: Path, redis: redis_lib.Redis) -> Settings:
    """Settings for one test: its own Redis prefix and data dir, loopback allowed."""
    return load_settings(
        redis_url=redis_url,
        key_prefix=key_prefix,
        data_dir=tmp_path / "var",
        sources=tmp_path / "sources.yaml",
        allow_networks="127.0.0.0/8,::1/128",
        host_rate="1000/s",
        host_concurrency=16,
        fetch_deadline=10,
    )
