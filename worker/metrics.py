"""Prometheus metrics, kept as counters in one Redis hash so every worker contributes.

Field names are ``metric{label="value",...}``; rendering groups them by metric name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import Redis

from config.settings import Settings
from config.sources import Source
from tasks import health
from tasks.keys import text
from tasks.metrics import HELP, metrics_key
from worker import app as celery_app


def render(redis: Redis, settings: Settings, sources: Sequence[Source]) -> bytes:
    lines: list[str] = []
    raw: Any = redis.hgetall(metrics_key(settings.key_prefix))
    counters = {str(text(k)): float(v) for k, v in raw.items()}
    by_metric: dict[str, list[tuple[str, float]]] = {}
    for field, value in sorted(counters.items()):
        name = field.split("{", 1)[0]
        by_metric.setdefault(name, []).append((field, value))
    for name, samples in by_metric.items():
        kind = "histogram" if name.endswith(("_bucket", "_sum", "_count")) else "counter"
        base = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        if kind == "counter" or name.endswith("_bucket"):
            lines.append(f"# HELP {base} {HELP.get(base, base)}")
            lines.append(f"# TYPE {base} {kind}")
        lines.extend(f"{field} {value:g}" for field, value in samples)

    lines.append("# HELP newswire_source_consecutive_failures Failed polls in a row per source")
    lines.append("# TYPE newswire_source_consecutive_failures gauge")
    rows = health.source_status(redis, settings, sources)
    for row in rows:
        lines.append(
            f'newswire_source_consecutive_failures{{source="{row["source_id"]}"}} '
            f"{row['consecutive_failures']}"
        )
    lines.append("# HELP newswire_source_articles Articles stored per source")
    lines.append("# TYPE newswire_source_articles gauge")
    for row in rows:
        lines.append(
            f'newswire_source_articles{{source="{row["source_id"]}"}} {row["articles_total"]}'
        )

    lines.append("# HELP newswire_queue_depth Tasks waiting per queue")
    lines.append("# TYPE newswire_queue_depth gauge")
    prefix = f"{settings.key_prefix}celery:"
    for queue in (celery_app.POLL_QUEUE, celery_app.ARTICLE_QUEUE, celery_app.FEED_QUEUE):
        lines.append(f'newswire_queue_depth{{queue="{queue}"}} {redis.llen(prefix + queue)}')
    lines.append("# HELP newswire_events_stream_length Entries in the event stream")
    lines.append("# TYPE newswire_events_stream_length gauge")
    lines.append(f"newswire_events_stream_length {redis.xlen(settings.stream_key)}")
    return ("\n".join(lines) + "\n").encode()
