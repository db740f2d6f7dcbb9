"""An example consumer of the newswire event stream, as a consumer group member.

    python -m worker.example_consumer --group demo

It prints each event and acknowledges it. Copy it as the start of your own: only ``redis`` is
needed. What it shows, in order of appearance in :func:`consume`:

1. **Its own unfinished work first.** Entries this consumer read but never acknowledged (it
   crashed, was killed, lost its connection) stay in the group's pending list under its name.
   On start it re-reads them with ``XREADGROUP ... 0`` before anything new. So keep the consumer
   name stable across restarts (default: the host name).
2. **Work abandoned by others.** ``XAUTOCLAIM`` takes over entries another member of the group
   read but has not acknowledged for ``--claim-idle`` seconds: that member is presumed dead.
3. **New entries**, with ``XREADGROUP ... >``, blocking a few seconds at a time.

Each entry is acknowledged (``XACK``) only after it was handled, so delivery is *at least once*:
an event may come twice (after a crash between handling and XACK), never zero times. Make your
handler idempotent by remembering the event ``id`` (e.g. ``SET seen:<id> 1 NX EX 604800``).

A new group starts at the end of the stream (only new events) unless ``--from-start``. The stream
is trimmed to ``NEWSWIRE_STREAM_MAXLEN`` entries: a consumer that stops for longer than that
covers misses the oldest events; ``newswire status`` shows the oldest retained id.

Environment: ``REDIS_URL`` (default redis://127.0.0.1:6379/0) and ``NEWSWIRE_STREAM`` (default
newswire:events). ``tasks.events.consume_group`` is the same loop as a library function.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_STREAM = "newswire:events"
BATCH = 100

Handler = Callable[[str, dict[str, Any], bool], None]


def ensure_group(redis: Redis, stream: str, group: str, from_start: bool) -> None:
    """Create the group (and the stream) unless it exists. "$": only entries added from now on;
    "0": everything the stream still holds."""
    try:
        redis.xgroup_create(stream, group, id="0" if from_start else "$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):  # BUSYGROUP: it exists already, which is fine
            raise


def print_event(entry_id: str, event: dict[str, Any], redelivered: bool) -> None:
    """The example's handler: one line per event."""
    title = (event.get("data") or {}).get("title", "")
    again = " (redelivered)" if redelivered else ""
    print(
        f"{entry_id} {event.get('type')} {event.get('source')} id={event.get('id')}"
        f" {json.dumps(title, ensure_ascii=False)}{again}",
        flush=True,
    )


def _handle_all(
    redis: Redis,
    stream: str,
    group: str,
    entries: list[Any],
    handle: Handler,
    redelivered: bool,
) -> int:
    """Handle entries in order, acknowledging each one right after it was handled."""
    for raw_id, fields in entries:
        entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        if fields:  # an entry trimmed from the stream while pending comes back without fields
            handle(entry_id, json.loads(fields[b"event"]), redelivered)
        redis.xack(stream, group, entry_id)
    return len(entries)


def consume(
    redis: Redis,
    stream: str,
    group: str,
    consumer: str,
    handle: Handler = print_event,
    *,
    claim_idle_ms: int = 60_000,
    block_ms: int = 5_000,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Run until ``stop()`` is true (checked between batches)."""
    # 1. Our own pending entries: "0" means "what was delivered to me and never acknowledged".
    while not stop():
        reply: Any = redis.xreadgroup(group, consumer, {stream: "0"}, count=BATCH)
        entries = reply[0][1] if reply else []
        if not entries:
            break
        _handle_all(redis, stream, group, entries, handle, redelivered=True)

    cursor = "0-0"
    while not stop():
        # 2. Entries idle for too long at another (presumably dead) consumer become ours.
        claimed: Any = redis.xautoclaim(
            stream, group, consumer, min_idle_time=claim_idle_ms, start_id=cursor, count=BATCH
        )
        cursor = claimed[0].decode() if isinstance(claimed[0], bytes) else str(claimed[0])
        if claimed[1]:
            _handle_all(redis, stream, group, claimed[1], handle, redelivered=True)
            continue
        # 3. New entries, waiting up to block_ms for some to arrive.
        reply = redis.xreadgroup(group, consumer, {stream: ">"}, count=BATCH, block=block_ms)
        for _stream, entries in reply or []:
            _handle_all(redis, stream, group, entries, handle, redelivered=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.example_consumer",
        description="Print newswire events as a consumer group member (at least once).",
    )
    parser.add_argument("--group", required=True, help="consumer group name, e.g. demo")
    parser.add_argument(
        "--consumer",
        default=socket.gethostname(),
        help="this member's name; keep it stable so a restart resumes its own pending events"
        " (default: the host name)",
    )
    parser.add_argument(
        "--from-start", action="store_true", help="a new group starts with every retained event"
    )
    parser.add_argument(
        "--claim-idle",
        type=float,
        default=60.0,
        help="take over events another member left unacknowledged this many seconds (default 60)",
    )
    parser.add_argument(
        "--handle-seconds",
        type=float,
        default=0.0,
        help="pretend each event takes this long to handle; kill the consumer meanwhile and"
        " watch the event come back on restart",
    )
    args = parser.parse_args(argv)

    redis = Redis.from_url(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    stream = os.environ.get("NEWSWIRE_STREAM") or DEFAULT_STREAM
    ensure_group(redis, stream, args.group, args.from_start)

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True  # finish the current batch, then leave: nothing half-handled

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def handle(entry_id: str, event: dict[str, Any], redelivered: bool) -> None:
        print_event(entry_id, event, redelivered)
        if args.handle_seconds:
            time.sleep(args.handle_seconds)

    print(f"consuming {stream} as {args.group}/{args.consumer}", file=sys.stderr, flush=True)
    consume(
        redis,
        stream,
        args.group,
        args.consumer,
        handle,
        claim_idle_ms=int(args.claim_idle * 1000),
        block_ms=1_000,
        stop=lambda: stopping,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
