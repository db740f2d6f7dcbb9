"""The Celery app and its task shells.

Tasks carry ids and URLs, never pages or articles. Each shell looks up its inputs, calls the plain
pipeline functions in ``tasks/``, and turns typed errors into health records. Resources (the Redis
client, the HTTP fetcher) are built per worker process, after the fork.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab
from kombu.entity import Exchange, Queue
from redis import Redis, RedisError

from config.settings import Settings
from config.sources import Source, Webhook, is_cron
from tasks import health, metrics, pipeline, refresh, runs, store, websub
from tasks.errors import FetchError, NewswireError, ParseError
from tasks.feedbuild import rebuild_feeds, take_dirty
from tasks.fetch import Fetcher
from tasks.keys import Keys

log = logging.getLogger("newswire.worker")

POLL_QUEUE = "polls"
ARTICLE_QUEUE = "articles"
FEED_QUEUE = "feeds"
WEBHOOK_QUEUE = "webhooks"  # deliveries to subscribers, apart so a slow one never blocks work
# Feed rebuilds wait this long after the first dirty mark, so a burst of articles coalesces
# (a rebuild renders `all` and the topic feeds again each time). A `fetch --wait` run's last
# article does not wait (see request_rebuild).
REBUILD_DELAY_SECONDS = 2.0
REBUILD_FLAG_TTL = 60
# Deliveries of one unit of work before it is dead-lettered (see too_many_attempts).
MAX_ATTEMPTS = 3
# Article pages per task, at most: amortizes broker and bookkeeping costs, small enough that a
# poll's pages still spread over every worker process. A batch that runs long hands the rest of
# its pages on (see fetch_articles_task), so slow hosts never push it past the time limit.
ARTICLE_BATCH = 16
WEBSUB_RETRIES = 6
ATTEMPTS_TTL = 3600
RETRY_TICK_SECONDS = 15
WEBHOOK_TICK_SECONDS = 5
# Listing pages a source's first poll may walk to fill its feed.
FIRST_POLL_PAGES = 10

app = Celery("newswire", set_as_current=True)


def broker_url(redis_url: str) -> str:
    """kombu spells a unix socket ``redis+socket://``; redis-py spells it ``unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


@dataclass
class Context:
    """What a task needs: configuration (set once) and per-process clients (built lazily)."""

    settings: Settings
    sources: dict[str, Source]
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    _pid: int = 0
    _redis: Redis | None = None
    _fetcher: Fetcher | None = field(default=None, repr=False)

    def _ensure_process(self) -> None:
        # Clients made before a fork would be shared by all prefork children: rebuild after it.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            assert self.settings.redis_url
            self._redis = Redis.from_url(self.settings.redis_url, health_check_interval=30)
            self._fetcher = Fetcher(self.settings, self._redis)

    @property
    def redis(self) -> Redis:
        self._ensure_process()
        assert self._redis is not None
        return self._redis

    @property
    def fetcher(self) -> Fetcher:
        self._ensure_process()
        assert self._fetcher is not None
        return self._fetcher

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.key_prefix)


_context: Context | None = None


def context() -> Context:
    if _context is None:
        raise RuntimeError("worker.app.configure() was not called in this process")
    return _context


def configure(
    settings: Settings, sources: list[Source], webhooks: list[Webhook] | None = None
) -> Celery:
    """Configure the app for these settings and sources; call once at the process edge."""
    global _context
    assert settings.redis_url, "settings.redis_url must be resolved (embedded or REDIS_URL)"
    _context = Context(
        settings, {s.id: s for s in sources}, {w.id: w for w in webhooks or [] if w.enabled}
    )
    keys = Keys(settings.key_prefix)
    # Connections cached for an earlier configuration would publish to its broker and prefix.
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    app.conf.update(
        broker_url=broker_url(settings.redis_url),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # Longer than any task may run, or a slow task would be delivered twice.
            "visibility_timeout": settings.visibility_timeout,
            # Sweep for tasks abandoned by dead workers every tenth of that (at most 10 s);
            # kombu's default sweeps only every ~100 s.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout // 10)),
            "unacked_restore_throttle": 1,
            "global_keyprefix": keys.celery_prefix,
        },
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Task shells handle every page or server failure themselves; what escapes them is
        # infrastructure (Redis unreachable mid-task). Such a task is not acknowledged, so the
        # broker delivers it again instead of dropping the rest of its work.
        task_acks_on_failure_or_timeout=False,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=max(5, settings.task_time_limit - 30),
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_soft_shutdown_timeout=15.0,
        worker_enable_soft_shutdown_on_idle=True,
        task_default_queue=POLL_QUEUE,
        # Each queue gets its own exchange and routing key; a bare Queue(name) would be bound to
        # the default exchange and key, and every message would land in every queue.
        task_queues=[
            Queue(name, Exchange(name, type="direct"), routing_key=name)
            for name in (POLL_QUEUE, ARTICLE_QUEUE, FEED_QUEUE, WEBHOOK_QUEUE)
        ],
        task_routes={
            "newswire.poll_source": {"queue": POLL_QUEUE},
            "newswire.fetch_articles": {"queue": ARTICLE_QUEUE},
            "newswire.rebuild_feeds": {"queue": FEED_QUEUE},
            "newswire.refresh_article": {"queue": ARTICLE_QUEUE},
            "newswire.websub_ping": {"queue": FEED_QUEUE},
        },
        beat_schedule=beat_schedule(sources, bool(_context.webhooks)),
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        timezone="UTC",
    )
    return app


def beat_schedule(sources: list[Source], webhooks: bool = False) -> dict[str, dict[str, Any]]:
    """One entry per source from its `interval`, plus a safety-net feed rebuild."""
    schedule: dict[str, dict[str, Any]] = {}
    for source in sources:
        if not source.enabled:
            continue
        if is_cron(source.interval):
            minute, hour, day_of_month, month, day_of_week = source.interval.split()
            every: Any = crontab(minute, hour, day_of_week, day_of_month, month)
        else:
            every = timedelta(seconds=source.interval_seconds or 900)
        schedule[f"poll:{source.id}"] = {
            "task": "newswire.poll_source",
            "schedule": every,
            "args": (source.id,),
            "options": {"expires": max(30.0, (source.interval_seconds or 900) * 0.9)},
        }
    schedule["rebuild-dirty-feeds"] = {
        "task": "newswire.rebuild_feeds",
        "schedule": timedelta(seconds=60),
    }
    schedule["refresh-recent-articles"] = {
        "task": "newswire.refresh_due",
        "schedule": timedelta(seconds=60),
    }
    # Failed sources are retried when their backoff ends, not only at their next interval.
    schedule["retry-failed-sources"] = {
        "task": "newswire.retry_failed_sources",
        "schedule": timedelta(seconds=RETRY_TICK_SECONDS),
    }
    if webhooks:
        schedule["dispatch-webhooks"] = {
            "task": "newswire.dispatch_webhooks",
            "schedule": timedelta(seconds=WEBHOOK_TICK_SECONDS),
        }
    return schedule


def count(ctx: Context, name: str, **labels: str) -> None:
    metrics.count(ctx.redis, ctx.settings.key_prefix, name, 1, **labels)


def request_rebuild(ctx: Context, now: bool = False) -> None:
    """Schedule one rebuild for however many articles arrive in the next moment, or, ``now``,
    rebuild at once (a `fetch --wait` run just finished its last article: nothing more is
    coming, and its caller is waiting for the feeds)."""
    scheduled = ctx.redis.set(ctx.keys.rebuild_scheduled, "1", nx=True, ex=REBUILD_FLAG_TTL)
    if scheduled or now:
        rebuild_feeds_task.apply_async(countdown=0 if now else REBUILD_DELAY_SECONDS)


@app.task(name="newswire.poll_source")
def poll_source_task(
    source_id: str, run_id: str | None = None, pages: int = 1, force: bool = False
) -> None:
    ctx = context()
    source = ctx.sources.get(source_id)
    if source is None:
        log.error("poll.unknown_source source=%s", source_id)
        if run_id:
            runs.finish(
                ctx.redis,
                ctx.keys,
                run_id,
                f"source:{source_id}",
                {"failed": 1},
                {
                    "source_id": source_id,
                    "reason": "config",
                    "message": "unknown source",
                    "scope": "source",
                },
            )
        return
    if not force and run_id is None and not health.may_poll(ctx.redis, ctx.keys, source):
        log.info("poll.skipped source=%s reason=backoff", source_id)
        return
    if too_many_attempts(ctx, "poll_source", source_id):
        error = ParseError(
            f"dead-lettered after {MAX_ATTEMPTS} polls that never finished",
            "internal",
            source_id,
            source.url,
        )
        poll_failed(ctx, source, run_id, error, 0.0)
        return
    enough_links = None
    if pages == 1 and health.never_succeeded(ctx.redis, ctx.keys, source):
        # First poll of a source: walk the pagination until its feed can be filled.
        pages, enough_links = FIRST_POLL_PAGES, source.feed_items or ctx.settings.feed_items
    started = time.perf_counter()
    try:
        result = pipeline.poll_listing(
            ctx.fetcher, ctx.redis, ctx.settings, source, pages, force, enough_links
        )
    except NewswireError as error:
        poll_failed(ctx, source, run_id, error, started)
        return
    except RedisError:
        raise  # infrastructure: the task is redelivered (see task_acks_on_failure_or_timeout)
    except Exception as exc:
        log.exception("poll.crashed source=%s", source_id)
        poll_failed(
            ctx, source, run_id, ParseError(repr(exc), "internal", source_id, source.url), started
        )
        return
    finally:
        attempt_done(ctx, "poll_source", source_id)
    if run_id:
        runs.add_articles(ctx.redis, ctx.keys, run_id, result.new_links)
    for batch in batches(result.new_links, ARTICLE_BATCH):
        fetch_articles_task.delay(source_id, batch, run_id)
    pipeline.remember_listing(ctx.redis, ctx.settings, result)
    count(ctx, "newswire_polls_total", source=source_id, outcome=result.outcome, reason="")
    health.record_success(
        ctx.redis, ctx.settings, source, result.outcome, len(result.links), len(result.new_links)
    )
    log.info(
        "poll.done source=%s url=%s outcome=%s links=%d new=%d ms=%d",
        source_id,
        source.url,
        result.outcome,
        len(result.links),
        len(result.new_links),
        (time.perf_counter() - started) * 1000,
    )
    metrics.flush(ctx.redis)
    if run_id:
        # Known links are not fetched again: they count as unchanged.
        known = len(result.links) - len(result.new_links)
        runs.finish(ctx.redis, ctx.keys, run_id, f"source:{source_id}", {"unchanged": known})


def batches(links: list[str], most: int) -> list[list[str]]:
    """``links`` in the fewest batches of at most ``most``, as even as possible (20 links make
    10 + 10, not 16 + 4: both halves finish at the same time on two processes)."""
    count = -(-len(links) // most)
    return [links[i::count] for i in range(count)] if links else []


def poll_failed(
    ctx: Context, source: Source, run_id: str | None, error: NewswireError, started: float
) -> None:
    count(ctx, "newswire_polls_total", source=source.id, outcome="failed", reason=error.reason)
    delay = health.record_failure(ctx.redis, ctx.settings, source, error)
    log.warning(
        "poll.failed source=%s url=%s outcome=failed reason=%s error=%s retry_in=%ds ms=%d",
        source.id,
        error.url or source.url,
        error.reason,
        error.message,
        delay,
        (time.perf_counter() - started) * 1000 if started else 0,
    )
    if run_id:
        runs.finish(
            ctx.redis,
            ctx.keys,
            run_id,
            f"source:{source.id}",
            {"failed": 1},
            {**error.to_dict(), "scope": "source"},
        )


def _attempts_key(ctx: Context, task: str, *args: str) -> str:
    return f"{ctx.keys.prefix}attempts:{task}:{':'.join(args)}"


def too_many_attempts(ctx: Context, task: str, *args: str) -> bool:
    """Count deliveries of one unit of work; True once it has been tried MAX_ATTEMPTS times.

    With acks_late, a page that kills its worker process (a parser crash, out of memory) is
    delivered again and again. The counter survives the crash because it is in Redis; after the
    last attempt the work is dead-lettered and reported instead of being retried for ever.
    """
    return bool(over_attempts(ctx, task, [args]))


def over_attempts(ctx: Context, task: str, units: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """``too_many_attempts`` for many units of work (a batch's pages) in one round trip: the
    units that are dead-lettered now."""
    if not units:
        return []
    pipe = ctx.redis.pipeline(transaction=False)
    for args in units:
        pipe.incr(_attempts_key(ctx, task, *args))
        pipe.expire(_attempts_key(ctx, task, *args), ATTEMPTS_TTL)
    counts = [int(n) for n in pipe.execute()[::2]]
    over = [(args, n - 1) for args, n in zip(units, counts, strict=True) if n > MAX_ATTEMPTS]
    for args, attempts in over:
        ctx.redis.rpush(
            ctx.keys.dead_letters,
            json.dumps({"task": task, "args": list(args), "attempts": attempts}),
        )
        log.error("task.dead_lettered task=%s args=%s attempts=%d", task, args, attempts)
    return [args for args, _ in over]


def attempt_done(ctx: Context, task: str, *args: str) -> None:
    attempts_done(ctx, task, [args])


def attempts_done(ctx: Context, task: str, units: list[tuple[str, ...]]) -> None:
    """``attempt_done`` for many units of work in one round trip."""
    if units:
        ctx.redis.delete(*(_attempts_key(ctx, task, *args) for args in units))


@app.task(name="newswire.fetch_articles")
def fetch_articles_task(source_id: str, urls: list[str], run_id: str | None = None) -> None:
    """Fetch, extract and save a small batch of one source's new article pages.

    A batch shares one broker message, one run-bookkeeping call and one rebuild request. Each
    page is still claimed atomically on its own, and pages finished by an earlier delivery of
    the same batch are skipped (their links are seen), so a redelivered batch is safe. A batch
    that runs long (slow hosts) queues its remaining pages as a new batch instead of risking the
    time limit, which would kill the task and redeliver the whole batch.
    """
    ctx = context()
    source = ctx.sources.get(source_id)
    if source is None:
        log.error("article.unknown_source source=%s urls=%d", source_id, len(urls))
        return
    todo = store.unknown_links(ctx.redis, ctx.keys, urls)
    given_up = {
        args[-1] for args in over_attempts(ctx, "fetch_article", [(source_id, url) for url in todo])
    }
    # Past this point a page might not finish before the soft time limit: hand the rest on.
    # (Not in-process: an eager run has no time limit, and handing on there would nest.)
    hand_on_after = time.monotonic() + ctx.settings.task_time_limit - 30 - page_seconds(ctx)
    may_hand_on = not fetch_articles_task.request.is_eager
    finished: list[runs.Finished] = []
    ingested: list[str] = []
    changed = False
    for index, url in enumerate(urls):
        if url not in todo:
            finished.append(runs.Finished(f"article:{url}", "unchanged"))
            continue
        if ingested and may_hand_on and time.monotonic() > hand_on_after:
            rest = urls[index:]
            # Not attempted here: their counters restart before the next batch counts them.
            attempts_done(ctx, "fetch_article", [(source_id, u) for u in rest if u in todo])
            fetch_articles_task.delay(source_id, rest, run_id)
            log.info("article.batch_handed_on source=%s urls=%d", source_id, len(rest))
            break
        outcome, error = ingest_one(ctx, source, url, given_up=url in given_up)
        ingested.append(url)
        count(ctx, "newswire_articles_total", source=source_id, outcome=outcome)
        changed = changed or outcome in ("new", "updated")
        detail = {**error.to_dict(), "scope": "article"} if error else None
        finished.append(runs.Finished(f"article:{url}", outcome, detail))
    pending = runs.finish_many(ctx.redis, ctx.keys, run_id, finished) if run_id else None
    if changed:
        request_rebuild(ctx, now=pending == 0)
    attempts_done(ctx, "fetch_article", [(source_id, url) for url in ingested])
    metrics.flush(ctx.redis)


def page_seconds(ctx: Context) -> float:
    """The longest one article page may take: its fetch deadline, plus time to extract it."""
    return ctx.settings.fetch_deadline + 10.0


def ingest_one(
    ctx: Context, source: Source, url: str, given_up: bool = False
) -> tuple[str, NewswireError | None]:
    """One article page: its outcome (new, updated, unchanged, duplicate, failed) and error.

    ``given_up``: the page was tried MAX_ATTEMPTS times already (see too_many_attempts).
    """
    if given_up:
        error = ParseError(
            f"dead-lettered after {MAX_ATTEMPTS} attempts that never finished",
            "internal",
            source.id,
            url,
        )
        article_failed(ctx, source, url, error)
        return "failed", error
    try:
        result = pipeline.ingest_article(ctx.fetcher, ctx.redis, ctx.settings, source, url)
    except NewswireError as error:
        article_failed(ctx, source, url, error)
        return "failed", error
    except RedisError:
        raise  # infrastructure: the task is redelivered (see task_acks_on_failure_or_timeout)
    except Exception as exc:
        # A bug, not a bad page: keep the traceback, count it, never lose the run's bookkeeping.
        log.exception("article.crashed source=%s url=%s", source.id, url)
        crash = ParseError(repr(exc), "internal", source.id, url)
        article_failed(ctx, source, url, crash)
        return "failed", crash
    if result.article.source_id != source.id:
        return "duplicate", None  # another source claimed this URL first
    return result.outcome, None


def article_failed(ctx: Context, source: Source, url: str, error: NewswireError) -> None:
    health.record_article_failure(ctx.redis, ctx.settings, source, error)
    log.warning(
        "article.failed source=%s url=%s reason=%s error=%s",
        source.id,
        url,
        error.reason,
        error.message,
    )
    if not (isinstance(error, FetchError) and error.transient):
        pipeline.forget_failed_link(ctx.redis, ctx.settings, url)


@app.task(name="newswire.refresh_due")
def refresh_due_task() -> None:
    ctx = context()
    for due in refresh.take_due(ctx.redis, ctx.keys):
        refresh_article_task.delay(due.source_id, due.url, due.first_seen)


@app.task(name="newswire.refresh_article")
def refresh_article_task(source_id: str, url: str, first_seen: float) -> None:
    ctx = context()
    source = ctx.sources.get(source_id)
    if source is None:
        return
    try:
        outcome = pipeline.refresh_article(ctx.fetcher, ctx.redis, ctx.settings, source, url)
    except NewswireError as error:
        log.info("refresh.failed source=%s url=%s reason=%s", source_id, url, error.reason)
        outcome = "failed"
    log.info("refresh.done source=%s url=%s outcome=%s", source_id, url, outcome)
    if outcome == "updated":
        count(ctx, "newswire_articles_total", source=source_id, outcome="updated")
        request_rebuild(ctx)
    refresh.schedule(ctx.redis, ctx.settings, source_id, url, first_seen)


@app.task(name="newswire.websub_ping", bind=True, max_retries=WEBSUB_RETRIES)
def websub_ping_task(self: Any, feed_names: list[str]) -> None:
    ctx = context()
    hub = ctx.settings.websub_hub
    if not hub:
        return
    try:
        status = websub.ping_hub(
            ctx.fetcher, hub, websub.changed_feed_urls(ctx.settings, feed_names)
        )
    except NewswireError as error:
        # Countdowns stay far below the broker visibility timeout (see STYLE.md traps).
        delay = min(600, 10 * 2**self.request.retries)
        log.warning("websub.failed hub=%s reason=%s retry_in=%ds", hub, error.reason, delay)
        raise self.retry(countdown=delay) from error
    log.info("websub.pinged hub=%s feeds=%s status=%d", hub, ",".join(feed_names), status)


@app.task(name="newswire.retry_failed_sources")
def retry_failed_sources_task() -> None:
    ctx = context()
    for source_id in health.retry_due(ctx.redis, ctx.keys, list(ctx.sources.values())):
        log.info("poll.retry source=%s", source_id)
        poll_source_task.delay(source_id)


@app.task(name="newswire.rebuild_feeds")
def rebuild_feeds_task() -> None:
    ctx = context()
    names = take_dirty(ctx.redis, ctx.keys)
    if names:
        started = time.perf_counter()
        changed = rebuild_feeds(ctx.redis, ctx.settings, list(ctx.sources.values()), names)
        metrics.observe(
            ctx.redis,
            ctx.settings.key_prefix,
            "newswire_feed_build_seconds",
            time.perf_counter() - started,
        )
        log.info("feeds.rebuilt feeds=%s changed=%s", ",".join(names), ",".join(changed))
        if changed and ctx.settings.websub_hub:
            websub_ping_task.delay(changed)
    metrics.flush(ctx.redis)
    # Clear the flag only after rendering; anything marked dirty meanwhile gets its own rebuild.
    ctx.redis.delete(ctx.keys.rebuild_scheduled)
    if ctx.redis.scard(ctx.keys.dirty_feeds):
        request_rebuild(ctx)


from worker import webhook_tasks  # noqa: E402, F401  (registers the webhook tasks)
