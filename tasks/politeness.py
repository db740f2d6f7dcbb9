"""Per-host politeness shared by every worker: a request rate and a concurrency limit in Redis.

Design decisions:

* **Check-and-reserve is one Lua script** (never GET then SET from Python), so any number of
  workers on any number of machines share one schedule per host. The same call takes the
  concurrency lease and reserves the rate slot, so a request costs two round trips (acquire,
  release), and the scripts are sent by SHA (EVALSHA), not as text on every call.
* **Rate: a next-allowed time per host.** Each request reserves the slot ``max(now, next)`` and
  moves ``next`` one interval further (1 / ``host_rate``), then sleeps until its slot. This spaces
  requests exactly, without bursts, and never loses a slot to a race. Time is Redis's ``TIME``,
  so clocks of different worker machines do not matter.
* **Concurrency: a semaphore of expiring leases** (a sorted set: token -> expiry). A worker that
  dies while holding a lease loses it when the lease expires (the request deadline plus a
  margin), so a crash never wedges a host.
* **Waiting is bounded.** A caller waits at most ``max_wait`` seconds (the fetcher passes what is
  left of its deadline, at most 10 s); beyond that it gets a transient ``rate_limited``
  FetchError with ``retry_after``, and the task is retried later instead of holding a worker.
  A slot that would be too far away is not reserved, so giving up costs the host nothing.
* **Retry-After pushes the schedule.** A 429/503 with Retry-After moves the host's next-allowed
  time, so every worker backs off, not just the one that was told.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from redis import Redis
from redis.commands.core import Script

from tasks.errors import FetchError

# Redis before 7 refuses writes after TIME unless effects replication is switched on; from 7 on
# this is the default and the call is a harmless no-op.
_NOW_MS = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# One round trip per attempt: a concurrency lease and the next rate slot, together or neither.
# KEYS[1] lease set, KEYS[2] next-allowed time (ms).
# ARGV: limit, lease_ms, token, interval_ms, max_wait_ms.
# Returns {1, wait_ms}: lease granted and slot reserved (sleep wait_ms, then go);
#         {0, wait_ms}: the slot is further away than max_wait_ms (nothing taken);
#         {-1, 0}:      every lease is taken (nothing taken; try again shortly).
ACQUIRE = (
    _NOW_MS
    + """
local interval = tonumber(ARGV[4])
local next_at = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(now, next_at)
local wait = start - now
if wait > tonumber(ARGV[5]) then return {0, wait} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return {-1, 0} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
redis.call('SET', KEYS[2], start + interval, 'PX', wait + interval + 60000)
return {1, wait}
"""
)

# KEYS[1] next-allowed time (ms). ARGV: delay_ms. Pushes the next slot to at least now + delay.
PUSH_BACK = (
    _NOW_MS
    + """
local target = now + tonumber(ARGV[1])
local next_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if target > next_at then
  redis.call('SET', KEYS[1], target, 'PX', tonumber(ARGV[1]) + 60000)
end
return target - now
"""
)


def _script(source: str) -> Script:
    """A module-level script: calls send its SHA (EVALSHA), and redis-py loads it into a server
    that does not know it yet. No client is registered: each call passes the caller's, which is
    built after fork."""
    return Script(cast(Redis, None), source.encode())


_ACQUIRE = _script(ACQUIRE)
_PUSH_BACK = _script(PUSH_BACK)

_POLL_SECONDS = (0.02, 0.1)  # jittered wait between lease attempts


class HostLimiter:
    """Rate (requests/s) and concurrency limits per host, shared through Redis.

    ``host`` is whatever names the politeness unit; the fetcher passes ``scheme://host[:port]``.
    A request costs two round trips: one script call takes a lease and reserves the rate slot,
    one command releases the lease.
    """

    def __init__(
        self,
        redis: Redis,
        key_prefix: str,
        rate: float,
        concurrency: int,
        lease_seconds: float,
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.interval_ms = max(1, round(1000 / rate))
        self.concurrency = concurrency
        self.lease_ms = max(1000, round(lease_seconds * 1000))

    def _key(self, host: str, kind: str) -> str:
        return f"{self.key_prefix}host:{kind}:{host}"

    @contextmanager
    def slot(self, host: str, max_wait: float) -> Iterator[None]:
        """Hold one of the host's concurrency leases and wait for its next rate slot.

        Raises FetchError ``rate_limited`` when either would take longer than ``max_wait``.
        """
        token = self._lease(host, time.monotonic() + max_wait)
        try:
            yield
        finally:
            self.redis.zrem(self._key(host, "leases"), token)

    def push_back(self, host: str, seconds: float) -> None:
        """No request to ``host`` before ``seconds`` from now (a Retry-After was received)."""
        _PUSH_BACK(
            keys=[self._key(host, "next")], args=[max(0, round(seconds * 1000))], client=self.redis
        )

    def _lease(self, host: str, give_up: float) -> str:
        """Take a lease and reserve the next rate slot, then sleep until the slot; the lease's
        token. Whoever gets the lease gets the slot, so neither is held without the other."""
        token = uuid.uuid4().hex
        keys = [self._key(host, "leases"), self._key(host, "next")]
        while True:
            max_wait_ms = max(0, int((give_up - time.monotonic()) * 1000))
            args: list[int | str] = [
                self.concurrency,
                self.lease_ms,
                token,
                self.interval_ms,
                max_wait_ms,
            ]
            result: Any = _ACQUIRE(keys=keys, args=args, client=self.redis)
            granted, wait_ms = int(result[0]), int(result[1])
            if granted == 1:
                if wait_ms > 0:
                    time.sleep(wait_ms / 1000)
                return token
            if granted == 0:
                raise FetchError(
                    f"next request to {host} allowed in {wait_ms / 1000:.1f}s",
                    "rate_limited",
                    retry_after=wait_ms / 1000,
                )
            if time.monotonic() >= give_up:
                raise FetchError(
                    f"{self.concurrency} requests to {host} already in flight",
                    "rate_limited",
                    retry_after=1.0,
                )
            time.sleep(min(random.uniform(*_POLL_SECONDS), max(give_up - time.monotonic(), 0)))
