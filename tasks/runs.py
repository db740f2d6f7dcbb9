"""Progress of one `newswire fetch --wait` run, tracked in Redis across all workers.

A run is a set of pending work items: ``source:<id>`` for each polled source and
``article:<url>`` for each article it queued. A poll adds its articles *before* removing itself,
so the set is empty only when everything is done. Counting happens only when an item is removed,
so a task that runs twice (redelivery) is counted once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from redis import Redis

from tasks.keys import Keys

RUN_TTL_SECONDS = 86400
COUNTERS = ("new", "updated", "duplicate", "unchanged", "failed")


@dataclass
class RunProgress:
    total: int
    pending: int
    counts: dict[str, int]
    errors: list[dict[str, str | None]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.total - self.pending


def start_run(redis: Redis, keys: Keys, source_ids: list[str]) -> str:
    run_id = uuid.uuid4().hex[:12]
    pipe = redis.pipeline()
    pipe.hset(keys.run(run_id), mapping={"total": len(source_ids), **dict.fromkeys(COUNTERS, 0)})
    if source_ids:
        pipe.sadd(keys.run_pending(run_id), *(f"source:{s}" for s in source_ids))
    pipe.expire(keys.run(run_id), RUN_TTL_SECONDS)
    pipe.expire(keys.run_pending(run_id), RUN_TTL_SECONDS)
    pipe.execute()
    return run_id


def add_articles(redis: Redis, keys: Keys, run_id: str, urls: list[str]) -> None:
    if not urls:
        return
    added = redis.sadd(keys.run_pending(run_id), *(f"article:{u}" for u in urls))
    redis.hincrby(keys.run(run_id), "total", added)


def finish(
    redis: Redis,
    keys: Keys,
    run_id: str,
    item: str,
    counts: dict[str, int] | None = None,
    error: dict[str, str | None] | None = None,
) -> None:
    """Mark ``item`` done; add ``counts`` only if this call is the one that removed it."""
    if redis.srem(keys.run_pending(run_id), item) != 1:
        return
    pipe = redis.pipeline()
    for counter, amount in (counts or {}).items():
        if amount:
            pipe.hincrby(keys.run(run_id), counter, amount)
    if error:
        pipe.rpush(keys.run(run_id) + ":errors", json.dumps(error))
        pipe.expire(keys.run(run_id) + ":errors", RUN_TTL_SECONDS)
    pipe.execute()


@dataclass(frozen=True)
class Finished:
    """One finished work item of a run: what to count, and the failure if any."""

    item: str
    counter: str
    error: dict[str, str | None] | None = None


# Removes each item from the pending set and counts it only if this call removed it, so a
# redelivered batch is never counted twice. One round trip for a whole batch.
_FINISH_MANY = f"""
for i = 1, #ARGV, 3 do
  if redis.call('SREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 1], 1)
    if ARGV[i + 2] ~= '' then
      redis.call('RPUSH', KEYS[3], ARGV[i + 2])
      redis.call('EXPIRE', KEYS[3], {RUN_TTL_SECONDS})
    end
  end
end
return redis.call('SCARD', KEYS[1])
"""


def finish_many(redis: Redis, keys: Keys, run_id: str, finished: list[Finished]) -> int | None:
    """Mark a batch of items done; how many items of the run are still pending afterwards."""
    if not finished:
        return None
    args: list[str] = []
    for done in finished:
        args += [done.item, done.counter, json.dumps(done.error) if done.error else ""]
    pending = redis.register_script(_FINISH_MANY)(
        keys=[keys.run_pending(run_id), keys.run(run_id), keys.run(run_id) + ":errors"],
        args=args,
    )
    return int(pending)


def progress(redis: Redis, keys: Keys, run_id: str) -> RunProgress:
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.run(run_id))
    pipe.scard(keys.run_pending(run_id))
    pipe.lrange(keys.run(run_id) + ":errors", 0, -1)
    raw, pending, errors = pipe.execute()
    data = {k.decode(): int(v) for k, v in raw.items()}
    return RunProgress(
        total=data.get("total", 0),
        pending=int(pending),
        counts={c: data.get(c, 0) for c in COUNTERS},
        errors=[json.loads(e) for e in errors],
    )
