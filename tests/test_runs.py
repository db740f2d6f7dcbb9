"""Run bookkeeping on a real Redis: each item counted once, and the caller told what is left."""

from __future__ import annotations

import redis as redis_lib

from tasks import runs
from tasks.keys import Keys


def test_finish_many_counts_each_item_once_and_returns_what_is_pending(
    redis: redis_lib.Redis, key_prefix: str
) -> None:
    keys = Keys(key_prefix)
    run_id = runs.start_run(redis, keys, ["a"])
    runs.add_articles(redis, keys, run_id, ["https://x.test/1", "https://x.test/2"])
    batch = [runs.Finished("article:https://x.test/1", "new")]
    assert runs.finish_many(redis, keys, run_id, batch) == 2  # source:a and article 2 left
    assert runs.finish_many(redis, keys, run_id, batch) == 2  # redelivered: counted once
    runs.finish(redis, keys, run_id, "source:a", {"unchanged": 0})
    last = [runs.Finished("article:https://x.test/2", "failed", {"reason": "http_status"})]
    assert runs.finish_many(redis, keys, run_id, last) == 0
    progress = runs.progress(redis, keys, run_id)
    assert (progress.total, progress.pending) == (3, 0)
    assert progress.counts["new"] == 1 and progress.counts["failed"] == 1
    assert progress.errors == [{"reason": "http_status"}]
    assert runs.finish_many(redis, keys, run_id, []) is None
