"""Counting what happens, for /metrics: counters in one Redis hash, shared by all workers.

Increments are buffered in the process and written in one pipeline by ``flush()`` (task shells
call it when they finish; it also happens on its own once a second), so counting costs no
Redis round trip per event. A crash loses at most the last second of counts.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from redis import Redis

FLUSH_SECONDS = 1.0

HELP = {
    "newswire_polls_total": "Listing polls by source, outcome and reason",
    "newswire_articles_total": "Article pages processed by source and outcome",
    "newswire_fetch_bytes_total": "Bytes downloaded (decoded) by source",
    "newswire_fetch_seconds": "Fetch latency",
    "newswire_feed_build_seconds": "Feed rebuild time",
    "newswire_webhook_deliveries_total": "Webhook delivery attempts by webhook and outcome",
}
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def metrics_key(prefix: str) -> str:
    return f"{prefix}metrics"


def _labels(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}" if inner else ""


class _Buffer:
    """Pending increments per Redis hash key, with the time of the last flush."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.flushed_at = time.monotonic()


_buffer = _Buffer()


def _add(redis: Redis, key: str, increments: dict[str, float]) -> None:
    with _buffer.lock:
        fields = _buffer.pending[key]
        for field, amount in increments.items():
            fields[field] += amount
        due = time.monotonic() - _buffer.flushed_at >= FLUSH_SECONDS
    if due:
        flush(redis)


def flush(redis: Redis) -> None:
    """Write buffered increments in one round trip."""
    with _buffer.lock:
        pending, _buffer.pending = _buffer.pending, defaultdict(lambda: defaultdict(float))
        _buffer.flushed_at = time.monotonic()
    if not pending:
        return
    pipe = redis.pipeline(transaction=False)
    for key, fields in pending.items():
        for field, amount in fields.items():
            pipe.hincrbyfloat(key, field, amount)
    pipe.execute()


def count(redis: Redis, prefix: str, name: str, amount: float = 1, **labels: str) -> None:
    _add(redis, metrics_key(prefix), {name + _labels(labels): amount})


def observe(redis: Redis, prefix: str, name: str, seconds: float, **labels: str) -> None:
    """One histogram observation (cumulative buckets, as Prometheus expects)."""
    increments = {
        f"{name}_bucket"
        + _labels({**labels, "le": "+Inf" if bound == float("inf") else f"{bound:g}"}): 1.0
        for bound in (*LATENCY_BUCKETS, float("inf"))
        if seconds <= bound
    }
    increments[f"{name}_sum" + _labels(labels)] = seconds
    increments[f"{name}_count" + _labels(labels)] = 1.0
    _add(redis, metrics_key(prefix), increments)
