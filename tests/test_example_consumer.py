"""The example consumer (worker/example_consumer.py) keeps its at-least-once promise: an event it
was killed while handling comes back on restart, and events a dead member left unacknowledged
are claimed by a live one."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from config.settings import Settings
from tasks import events
from tests.e2e_helpers import REPO, newswire_env, stop, wait_until

GROUP = "demo"


def publish(redis: redis_lib.Redis, settings: Settings, n: int, start: int = 0) -> list[str]:
    """``n`` article events; returns their event ids, oldest first."""
    ids = []
    for i in range(start, start + n):
        envelope = {
            "specversion": "1.0",
            "id": events.event_id(events.CREATED, f"article-{i}", "fp"),
            "source": "newswire/isit-news",
            "type": events.CREATED,
            "time": "2026-01-01T00:00:00+00:00",
            "datacontenttype": "application/json",
            "data": {"id": f"article-{i}", "title": f"ข่าว {i}"},
        }
        events.publish(redis, settings.stream_key, envelope, maxlen=1000)
        ids.append(envelope["id"])
    return ids


class Consumer:
    """``python -m worker.example_consumer`` as a child process, its output in a file."""

    def __init__(self, settings: Settings, out: Path, *args: str) -> None:
        self.out = out
        env = newswire_env(REDIS_URL=str(settings.redis_url), NEWSWIRE_STREAM=settings.stream_key)
        with out.open("w") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "worker.example_consumer", "--group", GROUP, *args],
                env=env,
                cwd=REPO,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def lines(self) -> list[str]:
        return [line for line in self.out.read_text().splitlines() if " id=" in line]

    def event_ids(self) -> list[str]:
        return [m[1] for line in self.lines() if (m := re.search(r" id=(\w+)", line))]


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    started: list[Consumer] = []
    yield started
    for consumer in started:
        stop(consumer.process, timeout=10)


def test_an_event_being_handled_when_the_consumer_is_killed_comes_back_on_restart(
    redis: redis_lib.Redis, settings: Settings, tmp_path: Path, consumers: list[Consumer]
) -> None:
    ids = publish(redis, settings, 3)
    slow = Consumer(
        settings, tmp_path / "first.log", "--consumer", "c1", "--from-start",
        "--handle-seconds", "60",
    )  # fmt: skip
    consumers.append(slow)
    wait_until(lambda: slow.event_ids() == ids[:1], 30, "the first event to be printed")
    # Killed mid-handling: the event was printed but never acknowledged, and the rest of the
    # batch it had read was not even handled yet.
    assert stop(slow.process, signal.SIGKILL) == -signal.SIGKILL
    assert redis.xpending(settings.stream_key, GROUP)["pending"] == 3

    again = Consumer(settings, tmp_path / "second.log", "--consumer", "c1")
    consumers.append(again)
    wait_until(lambda: again.event_ids() == ids, 30, "every event after the restart")
    # Its own pending entries, in order, before anything new.
    assert all(line.endswith("(redelivered)") for line in again.lines())
    [late] = publish(redis, settings, 1, start=3)
    wait_until(lambda: again.event_ids() == [*ids, late], 30, "a new event")
    assert not again.lines()[-1].endswith("(redelivered)")
    assert stop(again.process) == 0  # SIGTERM: finishes the batch and exits cleanly
    assert redis.xpending(settings.stream_key, GROUP)["pending"] == 0


def test_a_live_consumer_claims_what_a_dead_one_left_unacknowledged(
    redis: redis_lib.Redis, settings: Settings, tmp_path: Path, consumers: list[Consumer]
) -> None:
    ids = publish(redis, settings, 4)
    redis.xgroup_create(settings.stream_key, GROUP, id="0")
    # A member that read two events and died without acknowledging them.
    redis.xreadgroup(GROUP, "dead-member", {settings.stream_key: ">"}, count=2)

    live = Consumer(settings, tmp_path / "live.log", "--consumer", "live", "--claim-idle", "0")
    consumers.append(live)
    wait_until(lambda: sorted(live.event_ids()) == sorted(ids), 30, "all four events")
    lines = live.lines()
    claimed = [line for line in lines if line.endswith("(redelivered)")]
    assert len(claimed) == 2 and all(f"id={i}" in "".join(claimed) for i in ids[:2])
    assert stop(live.process) == 0
    assert redis.xpending(settings.stream_key, GROUP)["pending"] == 0
