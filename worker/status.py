"""The status report shared by `newswire status --json` and `GET /status`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import Redis

from config.settings import Settings
from config.sources import Source, Webhook
from tasks import events, health
from tasks.keys import Keys
from tasks.webhooks import webhook_status


def status_report(
    redis: Redis, settings: Settings, sources: Sequence[Source], webhooks: Sequence[Webhook]
) -> dict[str, Any]:
    stream = settings.stream_key
    return {
        "sources": health.source_status(redis, settings, sources),
        "events": {
            "stream": stream,
            "length": redis.xlen(stream),
            # A consumer whose last id is older than this may have missed events.
            "oldest_id": events.oldest_retained(redis, stream),
        },
        "webhooks": webhook_status(redis, settings, list(webhooks)),
        "dead_letters": redis.llen(Keys(settings.key_prefix).dead_letters),
    }
