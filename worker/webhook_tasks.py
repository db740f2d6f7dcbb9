"""Celery shells for webhook delivery; the logic is in :mod:`tasks.webhooks`.

``newswire.dispatch_webhooks`` (beat, every few seconds) hands due stream entries to
``newswire.deliver_webhook(webhook_id, entry_id)``, one task per attempt, carrying ids only.
Both run on the ``webhooks`` queue so that a backlog of polls never holds up deliveries, and
deliveries to a hanging subscriber never hold up polls.

The queue is declared here, on the task (``queue=``, which beat and every producer honour) and,
for a worker started without ``-Q``, added to the queues it consumes at start-up
(``celeryd_init``), because ``worker.app.configure`` replaces ``task_queues`` after this module
is imported. (Once ``configure`` lists ``Queue("webhooks")`` itself, the hook finds it there and
does nothing.)
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from celery.signals import celeryd_init
from kombu.entity import Queue

from tasks import metrics
from tasks import webhooks as hooks
from worker.app import Context, app, context

log = logging.getLogger("newswire.webhooks")


@cache
def policy() -> hooks.DeliveryPolicy:
    """Read once per process, like the settings."""
    return hooks.DeliveryPolicy.from_settings(context().settings)


def _consume_webhook_queue(options: dict[str, Any], **_: Any) -> None:
    """Listen on the webhooks queue too (unless -Q chose queues), and create the consumer groups
    before this worker handles any poll, so no event slips in before a group exists."""
    # The worker consumes from app.amqp.queues, built from task_queues on first use (which may
    # already have happened): add the queue there, before the worker selects its queues.
    queues = app.amqp.queues
    if not options.get("queues") and hooks.WEBHOOK_QUEUE not in queues:
        queues.add(Queue(hooks.WEBHOOK_QUEUE))  # type: ignore[no-untyped-call]
    ctx = context()
    if ctx.webhooks:
        hooks.ensure_groups(ctx.redis, ctx.settings, list(ctx.webhooks.values()))


celeryd_init.connect(_consume_webhook_queue, weak=False)


def _dispatch(ctx: Context, webhook_id: str) -> int:
    webhook = ctx.webhooks.get(webhook_id)
    if webhook is None:
        return 0
    entry_ids = hooks.dispatch(ctx.redis, ctx.settings, webhook, policy())
    for entry_id in entry_ids:
        deliver_webhook_task.delay(webhook_id, entry_id)
    return len(entry_ids)


def dispatch_webhooks() -> None:
    ctx = context()
    for webhook_id in ctx.webhooks:
        handed = _dispatch(ctx, webhook_id)
        if handed:
            log.info("webhook.dispatched webhook=%s deliveries=%d", webhook_id, handed)


def deliver_webhook(webhook_id: str, entry_id: str) -> None:
    ctx = context()
    webhook = ctx.webhooks.get(webhook_id)
    if webhook is None:  # removed from the config: its group and state stay for a later return
        log.warning("webhook.unknown webhook=%s entry=%s", webhook_id, entry_id)
        return
    result = hooks.deliver(ctx.redis, ctx.settings, ctx.fetcher, webhook, entry_id, policy())
    metrics.count(
        ctx.redis,
        ctx.settings.key_prefix,
        "newswire_webhook_deliveries_total",
        webhook=webhook_id,
        outcome=result.outcome,
    )
    error = result.error
    log.log(
        logging.WARNING if error else logging.INFO,
        "webhook.%s webhook=%s entry=%s attempts=%d reason=%s status=%s retry_in=%s",
        result.outcome,
        webhook_id,
        entry_id,
        result.attempts,
        error.reason if error else "",
        (error.status or "") if error else "",
        f"{result.countdown:.1f}s" if result.countdown is not None else "",
    )
    if result.outcome == "retry":
        deliver_webhook_task.apply_async((webhook_id, entry_id), countdown=result.countdown)
    elif result.outcome != "skipped":
        # A slot is free: fill it now rather than at the next beat tick.
        _dispatch(ctx, webhook_id)


# Registered by call rather than as decorators: Celery's decorators are untyped, and this keeps the
# functions above fully typed for mypy --strict.
dispatch_webhooks_task = app.task(name="newswire.dispatch_webhooks", queue=hooks.WEBHOOK_QUEUE)(
    dispatch_webhooks
)
deliver_webhook_task = app.task(name="newswire.deliver_webhook", queue=hooks.WEBHOOK_QUEUE)(
    deliver_webhook
)
