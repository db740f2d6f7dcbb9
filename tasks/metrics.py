"""Counting what happens, for /metrics: cheap HINCRBYFLOAT on one Redis hash, shared by workers."""

from __future__ import annotations

from redis import Redis

HELP = {
    "newswire_polls_total": "Listing polls by source, outcome and reason",
    "newswire_articles_total": "Article pages processed by source and outcome",
    "newswire_fetch_bytes_total": "Bytes downloaded (decoded) by source",
    "newswire_fetch_seconds": "Fetch latency",
    "newswire_feed_build_seconds": "Feed rebuild time",
}
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def metrics_key(prefix: str) -> str:
    return f"{prefix}metrics"


def _labels(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}" if inner else ""


def count(redis: Redis, prefix: str, name: str, amount: float = 1, **labels: str) -> None:
    redis.hincrbyfloat(metrics_key(prefix), name + _labels(labels), amount)


def observe(redis: Redis, prefix: str, name: str, seconds: float, **labels: str) -> None:
    """One histogram observation (cumulative buckets, as Prometheus expects)."""
    pipe = redis.pipeline(transaction=False)
    key = metrics_key(prefix)
    for bound in (*LATENCY_BUCKETS, float("inf")):
        if seconds <= bound:
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            pipe.hincrbyfloat(key, f"{name}_bucket" + _labels({**labels, "le": le}), 1)
    pipe.hincrbyfloat(key, f"{name}_sum" + _labels(labels), seconds)
    pipe.hincrbyfloat(key, f"{name}_count" + _labels(labels), 1)
    pipe.execute()
