"""Per-host politeness holds across processes: rate and concurrency are shared through Redis."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from config.settings import Settings, load_settings
from tasks.errors import FetchError
from tasks.fetch import Fetcher
from tasks.politeness import HostLimiter
from tests import hostile_servers as hs


def run_workers(
    settings_kwargs: dict[str, Any], base_url: str, processes: int, per_process: int
) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=hs.polite_worker,
            args=(
                settings_kwargs,
                [f"{base_url}/p{i}-{j}" for j in range(per_process)],
                start,
                results,
            ),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.2)
    start.set()  # all go at once; the slower starters simply join the queue later
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    results.close()
    results.join_thread()
    return outcomes


def kwargs(redis_url: str, key_prefix: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = dict(
        redis_url=redis_url,
        key_prefix=key_prefix,
        data_dir=str(tmp_path / "var"),
        sources=str(tmp_path / "s.yaml"),
        allow_networks="127.0.0.0/8",
        fetch_deadline=20,
    )
    return {**defaults, **extra}


def test_rate_and_concurrency_limits_hold_across_processes(
    redis_url: str, key_prefix: str, tmp_path: Path, redis: redis_lib.Redis
) -> None:
    rate = 10.0  # requests per second, for all workers together
    recorder = hs.RecordingServer(delay=0.25)  # slow answers make workers overlap
    with recorder.serve() as base_url:
        outcomes = run_workers(
            kwargs(redis_url, key_prefix, tmp_path, host_rate=f"{rate}/s", host_concurrency=2),
            base_url,
            processes=3,
            per_process=5,
        )
    assert all(o == [200] * 5 for o in outcomes), outcomes
    arrivals = sorted(recorder.arrivals)
    requests = len(arrivals)  # 15 pages + one or more robots.txt
    assert requests >= 16
    span = arrivals[-1] - arrivals[0]
    # n requests spaced 1/rate apart need (n-1)/rate seconds; allow 15% for network jitter.
    assert span >= (requests - 1) / rate * 0.85, (span, requests)
    # Without limits 3 workers would overlap; the recorded peak stays at the limit.
    assert recorder.peak <= 2


def test_concurrency_limit_of_one_serialises_workers(
    redis_url: str, key_prefix: str, tmp_path: Path, redis: redis_lib.Redis
) -> None:
    # Threads, each with its own Fetcher (its own worker state), sharing only Redis: quicker to
    # start than processes, and the limit cannot tell the difference.
    settings = load_settings(
        **kwargs(redis_url, key_prefix, tmp_path, host_rate="1000/s", host_concurrency=1)
    )
    recorder = hs.RecordingServer(delay=0.2)
    statuses: list[int | str] = []

    def worker(n: int) -> None:
        client = redis_lib.Redis.from_url(redis_url)
        with Fetcher(settings, client) as fetcher:
            for j in range(2):
                try:
                    statuses.append(fetcher.get(f"{base_url}/t{n}-{j}").status)
                except FetchError as exc:
                    statuses.append(exc.reason)
        client.close()

    with recorder.serve() as base_url:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert statuses == [200] * 8
    assert recorder.peak == 1


def test_waiting_is_bounded_and_gives_rate_limited(
    settings: Settings, redis: redis_lib.Redis
) -> None:
    limiter = HostLimiter(redis, settings.key_prefix, rate=0.1, concurrency=1, lease_seconds=5)
    with limiter.slot("http://h", max_wait=1):
        pass  # takes the slot now; the next one is 10 s away
    started = time.monotonic()
    with pytest.raises(FetchError) as caught, limiter.slot("http://h", max_wait=0.5):
        pass
    assert caught.value.reason == "rate_limited" and caught.value.transient
    assert caught.value.retry_after is not None and 9 < caught.value.retry_after <= 10
    assert time.monotonic() - started < 0.5  # a hopeless wait is not even attempted


def test_lease_of_a_crashed_worker_expires(settings: Settings, redis: redis_lib.Redis) -> None:
    limiter = HostLimiter(redis, settings.key_prefix, rate=1000, concurrency=1, lease_seconds=1)
    # A worker that dies inside its slot never releases: simulate by acquiring only.
    token = limiter._lease("http://h", time.monotonic() + 1)
    assert token
    with pytest.raises(FetchError):
        limiter._lease("http://h", time.monotonic() + 0.2)
    with limiter.slot("http://h", max_wait=3):  # granted once the 1 s lease has expired
        pass


def test_retry_after_pushes_every_worker_back(
    redis_url: str, key_prefix: str, tmp_path: Path, redis: redis_lib.Redis
) -> None:
    settings = load_settings(
        **kwargs(redis_url, key_prefix, tmp_path, host_rate="1000/s", fetch_deadline=5)
    )
    with hs.HostileServer().serve() as server:
        busy = server.route("/busy", hs.retry_after(429, "30"))
        fine = server.route("/fine", hs.respond(200, b"<html>ok</html>"))
        with Fetcher(settings, redis) as first, Fetcher(settings, redis) as second:
            with pytest.raises(FetchError) as told:
                first.get(busy)
            assert told.value.retry_after == 30
            with pytest.raises(FetchError) as held:
                second.get(fine)
    assert held.value.reason == "rate_limited"
    assert held.value.retry_after is not None and 25 < held.value.retry_after <= 30
    assert [r.path for r in server.requests] == ["/robots.txt", "/busy"]
