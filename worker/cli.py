"""The `newswire` command (PRODUCT.md §3).

Settings and sources are loaded once, here, and passed down. Bad configuration exits with
status 2 before anything starts, listing every problem with file, source and field.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis

from config.settings import Settings, load_settings
from config.sources import Source, load_sources, load_webhooks
from tasks.errors import ConfigError, NewswireError

log = logging.getLogger("newswire.cli")

EXIT_CONFIG = 2


def _load(args: argparse.Namespace) -> tuple[Settings, list[Source]]:
    settings = load_settings()
    return settings, load_sources(_sources_path(args, settings))


def _sources_path(args: argparse.Namespace, settings: Settings) -> str:
    return str(getattr(args, "sources", None) or settings.sources)


def _redis(settings: Settings) -> tuple[Settings, Redis, Callable[[], None]]:
    """A Redis client for short commands, starting the embedded server if none is configured."""
    from worker.runtime import resolve_redis

    settings, embedded = resolve_redis(settings)
    assert settings.redis_url
    client = Redis.from_url(settings.redis_url)

    def close() -> None:
        client.close()
        if embedded is not None:
            embedded.stop()

    return settings, client, close


# ---------------------------------------------------------------- config validate


def cmd_config_validate(args: argparse.Namespace) -> int:
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = load_settings()
    except ConfigError as error:
        problems.extend(error.problems)
    path = args.sources or (
        settings.sources if settings else os.environ.get("NEWSWIRE_SOURCES", "config/sources.yaml")
    )
    sources: list[Source] = []
    try:
        sources = load_sources(path)
    except ConfigError as error:
        problems.extend(error.problems or [error.message])
    if problems:
        print(f"configuration is invalid ({len(problems)} problem(s)):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"configuration OK: {path}: {len(sources)} source(s)")
    for source in sources:
        topics = f" topics={','.join(source.topics)}" if source.topics else ""
        print(f"  {source.id}: {source.url} every {source.interval}{topics}")
    return 0


# ---------------------------------------------------------------- processes


def cmd_run(args: argparse.Namespace) -> int:
    from worker.runtime import run_all

    settings, _sources = _load(args)  # validate before starting anything
    return run_all(settings, args.concurrency)


def cmd_worker(args: argparse.Namespace, celery_args: list[str]) -> int:
    import gc
    import signal
    import threading

    from celery.signals import worker_process_init, worker_ready

    from worker import app as celery_app
    from worker.runtime import check_redis, resolve_redis, start_heartbeat

    settings, sources = _load(args)
    settings, embedded = resolve_redis(settings)
    assert settings.redis_url
    redis = Redis.from_url(settings.redis_url)
    for warning in check_redis(redis):
        log.warning("redis.check %s", warning)
    app = celery_app.configure(settings, sources, load_webhooks(_sources_path(args, settings)))

    restart_requested = threading.Event()

    def restart() -> None:
        restart_requested.set()
        os.kill(os.getpid(), signal.SIGTERM)  # warm shutdown: running tasks finish first

    @worker_ready.connect(weak=False)
    def _ready(**_: Any) -> None:
        start_heartbeat(redis, celery_app.context().keys, on_redis_restart=restart)

    @worker_process_init.connect(weak=False)
    def _freeze_startup_objects(**_: Any) -> None:
        # Everything alive when a pool process starts (modules, Celery, configuration) lives
        # for ever. BeautifulSoup trees are cyclic, so every page leaves garbage only the
        # collector frees; moving the start-up objects out of its reach makes each collection
        # cheaper: ~4% of an article's CPU, measured.
        gc.freeze()

    argv = ["worker", "--loglevel", settings.log_level, "--without-mingle", "--without-gossip"]
    if args.concurrency:
        argv += ["--concurrency", str(args.concurrency)]
    if args.queues:
        argv += ["--queues", args.queues]
    try:
        app.worker_main([*argv, *celery_args])
    finally:
        if embedded is not None:
            embedded.stop()
    if restart_requested.is_set():
        # Same command, same pid: a supervisor sees no exit, the broker gets a fresh consumer.
        os.execv(sys.executable, [sys.executable, "-m", "worker.cli", *sys.argv[1:]])
    return 0


def cmd_beat(args: argparse.Namespace) -> int:
    import signal

    from worker import app as celery_app
    from worker.runtime import hold_beat_lease, release_beat_lease, resolve_redis
    from worker.schedule import due_sources

    settings, sources = _load(args)
    settings, embedded = resolve_redis(settings)
    assert settings.redis_url
    redis = Redis.from_url(settings.redis_url)
    app = celery_app.configure(settings, sources, load_webhooks(_sources_path(args, settings)))
    keys = celery_app.context().keys
    hold_beat_lease(redis, keys, on_lost=lambda: os.kill(os.getpid(), signal.SIGTERM))
    for source in due_sources(redis, keys, sources):
        celery_app.poll_source_task.delay(source.id)
        log.info("beat.initial_poll source=%s", source.id)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        app.start(
            [
                "beat",
                "--loglevel",
                settings.log_level,
                "--schedule",
                str(settings.data_dir / "celerybeat-schedule"),
            ]
        )
    except SystemExit:
        pass
    finally:
        release_beat_lease(redis, keys)
        if embedded is not None:
            embedded.stop()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    from worker.server import serve

    settings, sources = _load(args)
    settings, client, close = _redis(settings)
    server = serve(settings, sources, client, load_webhooks(_sources_path(args, settings)))
    host, port = server.server_address[:2]
    log.info("http.listening url=http://%s:%s/ public=%s", host, port, settings.public_url)

    def stop(_signum: int, _frame: object) -> None:
        # shutdown() blocks until serve_forever returns, so call it from another thread.
        import threading

        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        close()
    return 0


# ---------------------------------------------------------------- fetch


def _progress_line(done: int, total: int, counts: dict[str, int], width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    summary = " ".join(f"{k}={v}" for k, v in counts.items())
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {summary}"


def cmd_fetch(args: argparse.Namespace) -> int:
    from tasks import runs
    from worker import app as celery_app
    from worker.runtime import workers_alive

    settings, sources = _load(args)
    by_id = {s.id: s for s in sources}
    if args.all or not args.source_ids:
        if not args.all:
            print("name one or more source ids, or use --all", file=sys.stderr)
            return EXIT_CONFIG
        chosen = [s.id for s in sources if s.enabled]
    else:
        unknown = [s for s in args.source_ids if s not in by_id]
        if unknown:
            print(
                f"unknown source id(s): {', '.join(unknown)}; known: {', '.join(by_id)}",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        chosen = list(dict.fromkeys(args.source_ids))
    settings, redis, close = _redis(settings)
    try:
        celery_app.configure(settings, sources, load_webhooks(_sources_path(args, settings)))
        keys = celery_app.context().keys
        inline = args.wait and workers_alive(redis, keys) == 0
        if inline:
            print("no worker is running: fetching in this process", file=sys.stderr)
            celery_app.app.conf.task_always_eager = True
        run_id = runs.start_run(redis, keys, chosen)
        for source_id in chosen:
            celery_app.poll_source_task.apply_async((source_id, run_id, args.pages, args.pages > 1))
        if not args.wait:
            print(f"queued {len(chosen)} source(s), run {run_id}")
            return 0
        return _wait_for_run(redis, settings, run_id, args.timeout)
    finally:
        close()


def _wait_for_run(redis: Redis, settings: Settings, run_id: str, timeout: float) -> int:
    from tasks import runs
    from tasks.keys import Keys

    keys = Keys(settings.key_prefix)
    tty = sys.stderr.isatty()
    deadline = time.monotonic() + timeout
    last_line = ""
    while True:
        state = runs.progress(redis, keys, run_id)
        line = _progress_line(state.done, state.total, state.counts)
        if line != last_line:
            print(
                ("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True
            )
            last_line = line
        if state.pending == 0:
            break
        if time.monotonic() > deadline:
            print(
                f"\ntimed out after {timeout:g}s with {state.pending} item(s) pending",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)
    if tty:
        print(file=sys.stderr)
    # Feeds are rebuilt shortly after the last article; wait for that too (bounded).
    settle = time.monotonic() + 30
    while time.monotonic() < settle and (
        redis.exists(keys.dirty_feeds) or redis.exists(keys.rebuild_scheduled)
    ):
        time.sleep(0.2)
    counts = state.counts
    print("summary: " + " ".join(f"{k}={counts[k]}" for k in runs.COUNTERS))
    for error in state.errors:
        print(
            f"failed: {error.get('scope', 'source')} source={error.get('source_id')}"
            f" reason={error.get('reason')} url={error.get('url')} error={error.get('message')}"
        )
    # A source that could not be polled fails the command; single bad article pages do not.
    return 1 if any(e.get("scope") == "source" for e in state.errors) else 0


# ---------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace) -> int:
    from worker.check import run_check

    settings, sources = _load_lenient(args)
    return run_check(settings, sources, args.target, limit=args.limit, as_json=args.json)


def _load_lenient(args: argparse.Namespace) -> tuple[Settings, list[Source]]:
    """`check URL` works without a sources file; a source id needs one."""
    settings = load_settings()
    path = args.sources or settings.sources
    if not os.path.exists(path) and "://" in args.target:
        return settings, []
    return settings, load_sources(path)


# ---------------------------------------------------------------- status, feeds, events


def cmd_status(args: argparse.Namespace) -> int:
    from worker.status import status_report

    settings, sources = _load(args)
    webhooks = load_webhooks(_sources_path(args, settings))
    settings, redis, close = _redis(settings)
    try:
        report = status_report(redis, settings, sources, webhooks)
        rows = report["sources"]
        oldest = report["events"]["oldest_id"]
        if args.json:
            print(json.dumps(report, indent=2))
            return 0
        columns = (
            "source_id",
            "outcome",
            "reason",
            "last_poll",
            "articles_total",
            "articles_new",
            "consecutive_failures",
            "next_run",
            "last_error",
        )
        headers = (
            "SOURCE",
            "OUTCOME",
            "REASON",
            "LAST POLL",
            "TOTAL",
            "NEW",
            "FAILS",
            "NEXT RUN",
            "LAST ERROR",
        )
        table = [headers] + [
            tuple("" if row[c] is None else str(row[c])[:60] for c in columns) for row in rows
        ]
        widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
        for r in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        print(f"\nevents: {settings.stream_key} oldest retained id {oldest or '-'}")
        for hook in report["webhooks"]:
            error = hook.get("last_error") or {}
            print(
                f"webhook {hook['webhook_id']}: delivered={hook['delivered']}"
                f" failed={hook['failed']} dead={hook['dead_lettered']} pending={hook['pending']}"
                + (f" last_error={error.get('reason')}/{error.get('status')}" if error else "")
            )
        if report["dead_letters"]:
            print(
                f"dead-lettered tasks: {report['dead_letters']} (list {settings.key_prefix}"
                "dead:tasks)"
            )
        return 0
    finally:
        close()


def cmd_feeds(args: argparse.Namespace) -> int:
    from tasks.feedbuild import feed_plans, rebuild_feeds
    from tasks.feeds import FORMATS

    settings, sources = _load(args)
    if args.feeds_command == "list":
        for name, plan in feed_plans(settings, sources).items():
            for fmt in FORMATS:
                print(f"{settings.public_url}/feeds/{name}.{fmt}\t{plan.info.title}")
        print(f"{settings.public_url}/feeds.opml\tOPML of all feeds")
        return 0
    settings, redis, close = _redis(settings)
    try:
        changed = rebuild_feeds(redis, settings, sources)
        print(f"rebuilt feeds in {settings.feeds_path}; changed: {', '.join(changed) or 'none'}")
        return 0
    finally:
        close()


def cmd_opml(args: argparse.Namespace) -> int:
    from tasks.feedbuild import feed_plans
    from tasks.feeds import render_opml

    settings, sources = _load(args)
    sys.stdout.write(
        render_opml(
            [p.info for p in feed_plans(settings, sources).values()], settings.public_url
        ).decode()
    )
    return 0


def cmd_events_tail(args: argparse.Namespace) -> int:
    from tasks import events

    settings = load_settings()
    settings, redis, close = _redis(settings)
    try:
        stream = settings.stream_key
        oldest = events.oldest_retained(redis, stream)
        if args.group:
            for event in events.consume_group(
                redis, stream, args.group, args.consumer, from_start=args.from_start
            ):
                print(json.dumps(event.envelope, ensure_ascii=False), flush=True)
            return 0
        if args.after and events.is_behind_trim(redis, stream, args.after):
            print(
                f"warning: events after {args.after} were trimmed; oldest retained id is {oldest}",
                file=sys.stderr,
            )
        for event in events.tail(redis, stream, from_start=args.from_start, after=args.after):
            print(json.dumps(event.envelope, ensure_ascii=False), flush=True)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        close()


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswire",
        description="Turn news websites without feeds into clean feeds and article events.",
    )
    parser.add_argument(
        "--sources", help="sources YAML (default: $NEWSWIRE_SOURCES or config/sources.yaml)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="all-in-one: embedded Redis, worker, beat and HTTP server")
    run.add_argument("--concurrency", type=int, help="worker processes (default: CPU count)")
    worker = sub.add_parser("worker", help="a Celery worker (accepts Celery's worker options)")
    worker.add_argument("--concurrency", "-c", type=int)
    worker.add_argument("--queues", "-Q", help="comma-separated: polls,articles,feeds")
    sub.add_parser("beat", help="the scheduler (run exactly one)")
    sub.add_parser("serve", help="the HTTP server for feeds, /status, /metrics")

    check = sub.add_parser("check", help="fetch and parse a source or URL now; write nothing")
    check.add_argument("target", metavar="SOURCE_ID|URL")
    check.add_argument("--limit", type=int, default=5, help="article pages to fetch (default 5)")
    check.add_argument("--json", action="store_true", help="print the articles as JSON")

    fetch = sub.add_parser("fetch", help="poll sources now")
    fetch.add_argument("source_ids", nargs="*", metavar="SOURCE_ID")
    fetch.add_argument("--all", action="store_true", help="every enabled source")
    fetch.add_argument("--wait", action="store_true", help="wait, show progress and a summary")
    fetch.add_argument("--pages", type=int, default=1, help="listing pages to walk (backfill)")
    fetch.add_argument("--timeout", type=float, default=900, help="seconds --wait waits at most")

    status = sub.add_parser("status", help="one row per source: last poll, outcome, errors")
    status.add_argument("--json", action="store_true")

    feeds = sub.add_parser("feeds", help="build or list feeds")
    feeds_sub = feeds.add_subparsers(dest="feeds_command", required=True, metavar="build|list")
    feeds_sub.add_parser("build", help="rebuild every feed now")
    feeds_sub.add_parser("list", help="list feed URLs")
    sub.add_parser("opml", help="print OPML of all feeds")

    events = sub.add_parser("events", help="the event stream")
    events_sub = events.add_subparsers(dest="events_command", required=True, metavar="tail")
    tail = events_sub.add_parser("tail", help="follow the stream, one JSON event per line")
    tail.add_argument("--from-start", action="store_true", help="replay from the oldest event")
    tail.add_argument("--after", help="replay from after this stream id")
    tail.add_argument("--group", help="read as this consumer group (XREADGROUP, XACK)")
    tail.add_argument("--consumer", default=f"tail-{os.getpid()}", help="consumer name in group")

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="validate")
    config_sub.add_parser("validate", help="validate settings and sources; exit 2 on problems")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from worker.logs import setup_logging

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "worker":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    log_format = os.environ.get("NEWSWIRE_LOG_FORMAT", "auto")
    setup_logging(
        log_format if log_format in ("auto", "console", "json") else "auto",
        os.environ.get("NEWSWIRE_LOG_LEVEL", "INFO"),
    )
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": cmd_run,
        "beat": cmd_beat,
        "serve": cmd_serve,
        "check": cmd_check,
        "fetch": cmd_fetch,
        "status": cmd_status,
        "feeds": cmd_feeds,
        "opml": cmd_opml,
        "events": cmd_events_tail,
        "config": cmd_config_validate,
    }
    try:
        if args.command == "worker":
            return cmd_worker(args, extra)
        return handlers[args.command](args)
    except ConfigError as error:
        print(f"newswire: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except NewswireError as error:
        print(f"newswire: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
