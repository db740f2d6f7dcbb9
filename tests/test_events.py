"""The event stream: consumer groups are at-least-once and replayable."""

from __future__ import annotations

import itertools

import redis as redis_lib

from config.settings import Settings
from tasks import events, store
from tests.test_store import SOURCE, make_article


def publish_articles(redis: redis_lib.Redis, settings: Settings, count: int) -> None:
    for n in range(count):
        store.save_article(redis, settings, SOURCE, make_article(n))


def test_a_consumer_that_dies_before_acking_gets_the_same_events_again(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    publish_articles(redis, settings, 10)
    stream = settings.stream_key
    first = events.consume_group(redis, stream, "svc", "c1", from_start=True, block_ms=100)
    seen = [next(first).envelope["id"] for _ in range(10)]
    # The consumer "dies": its generator is dropped while the 10th event is still unacknowledged.
    del first
    pending = redis.xpending(stream, "svc")["pending"]
    assert pending >= 1
    again = events.consume_group(redis, stream, "svc", "c1", block_ms=100)
    redelivered = [e.envelope["id"] for e in itertools.islice(again, pending)]
    assert redelivered == seen[-pending:]


def test_unacked_events_of_a_consumer_are_redelivered_in_full(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    publish_articles(redis, settings, 10)
    stream = settings.stream_key
    events.ensure_group(redis, stream, "svc", from_start=True)
    delivered = redis.xreadgroup("svc", "c1", {stream: ">"}, count=10)
    ids = [entry_id for entry_id, _ in delivered[0][1]]
    assert len(ids) == 10  # read, processed, never acknowledged: then the consumer dies
    restarted = events.consume_group(redis, stream, "svc", "c1", block_ms=100)
    assert [next(restarted).entry_id for _ in range(10)] == [i.decode() for i in ids]


def test_replay_from_any_id(redis: redis_lib.Redis, settings: Settings) -> None:
    publish_articles(redis, settings, 5)
    all_events = events.read_events(redis, settings.stream_key)
    after_second = events.read_events(redis, settings.stream_key, after=all_events[1].entry_id)
    assert [e.entry_id for e in after_second] == [e.entry_id for e in all_events[2:]]
    tailed = events.tail(redis, settings.stream_key, from_start=True, block_ms=100)
    assert [next(tailed).entry_id for _ in range(5)] == [e.entry_id for e in all_events]


def test_a_consumer_behind_the_trim_point_is_told(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    publish_articles(redis, settings, 3)
    first = events.read_events(redis, settings.stream_key)[0].entry_id
    assert not events.is_behind_trim(redis, settings.stream_key, first)
    redis.xtrim(settings.stream_key, maxlen=1, approximate=False)
    assert events.is_behind_trim(redis, settings.stream_key, first)
