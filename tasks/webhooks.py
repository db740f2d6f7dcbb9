"""Webhooks: article events POSTed to subscribers, signed the Standard Webhooks way (PRODUCT.md §7).

"Exactly once for readers, at least once for services": a feed shows an article once; a webhook
subscriber gets every matching event at least once, and dedupes on the event ``id`` (sent as
``webhook-id``). Plain functions on plain data; the Celery shells live in
``worker/webhook_tasks.py``.

The request
    POST of the stream entry's ``event`` field, byte for byte (the CloudEvents JSON), with
    ``webhook-id`` (the event id, the same on every attempt), ``webhook-timestamp`` (unix seconds
    of this attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.
    The key is the base64-decoded part after ``whsec_`` when the secret has that prefix, else the
    secret's UTF-8 bytes. Receivers check it with :func:`verify` (or any Standard Webhooks
    library) and reject timestamps older than five minutes, which makes a captured request
    worthless after that.

Design
    * **One consumer group per webhook** (``webhook:<id>``) on the event stream. Its pending list
      (PEL) is the durable record of "read but not finished"; an entry is XACKed only after a 2xx
      or after it was dead-lettered. A group is created at the stream's end (``$``) when a worker
      starts with the webhook configured, or at the first dispatch: a new subscriber gets events
      from then on, not the retained history (replay is the stream consumers' business).
    * **Every pending entry is in exactly one of two sorted sets**: ``waiting`` (score: when it is
      due; fresh entries are due now, failed ones after their backoff) or ``in_flight`` (score:
      when its lease runs out). :func:`dispatch` moves due entries from waiting to in flight, at
      most ``max_in_flight`` per webhook, in one Lua script; the dispatcher task then enqueues one
      ``deliver_webhook(webhook_id, entry_id)`` per entry. Reading new entries and parking them in
      ``waiting`` is one Lua script too, so a crash cannot leave an entry read but untracked.
    * **Leases recover lost work.** A delivery that never reports back (its worker was killed and
      the broker gave up on it) keeps its entry in flight until the lease (25 min, longer than the
      broker's 20 min visibility timeout) runs out; then the entry is due again. At least once:
      a duplicate POST is possible, a lost event is not.
    * **Retries.** After a failure the next attempt waits 5 s, 30 s, 2 min, 10 min, 30 min, then
      1 h (±20 % jitter, at least the receiver's Retry-After). A wait of up to 5 minutes is a
      Celery countdown (well under the visibility timeout, so the ETA task is not delivered
      twice) and keeps its in-flight slot; a longer wait parks the entry in ``waiting`` and frees
      the slot, and the dispatcher hands it out again when it is due. After ``max_attempts`` (or
      at once for a URL the SSRF guard refuses) the event goes to the dead-letter stream
      ``<prefix>webhooks:dead:<id>`` with the last error, and is acknowledged.
    * **A slow or failing subscriber never delays the others**: deliveries run on their own
      Celery queue (``webhooks``), each webhook has at most ``max_in_flight`` (4) deliveries
      queued or running, and every POST has the fetcher's connect/read timeouts and overall
      deadline (``NEWSWIRE_FETCH_*``). Run the webhooks queue with more worker processes than
      ``max_in_flight`` times the number of subscribers that may hang at once.
    * **Prompt delivery.** Beat runs the dispatcher every 5 s; a delivery that frees a slot also
      dispatches its webhook at once, so a burst drains without waiting for ticks.

Tuning knobs are settings: ``NEWSWIRE_WEBHOOK_BACKOFF`` (first retry delay in seconds, default 5;
the schedule scales with it) and ``NEWSWIRE_WEBHOOK_MAX_IN_FLIGHT`` (default 4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from redis import Redis

from config.settings import Settings
from config.sources import Webhook
from tasks.errors import FetchError
from tasks.events import CREATED, UPDATED, ensure_group
from tasks.fetch import Fetcher
from tasks.keys import text

WEBHOOK_QUEUE = "webhooks"
DEFAULT_EVENTS = (CREATED, UPDATED)
SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300  # seconds a receiver accepts between webhook-timestamp and its clock
# The default schedule for a 5 s base; NEWSWIRE_WEBHOOK_BACKOFF scales all of it.
BACKOFF_SCHEDULE = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)
DEFAULT_BACKOFF = BACKOFF_SCHEDULE[0]
JITTER = 0.2
# The guard refused the address or scheme: no retry can succeed until the config changes.
PERMANENT_REASONS = frozenset({"blocked_address", "bad_scheme"})
DISPATCH_CONSUMER = "dispatcher"
READ_BATCH = 100
DEAD_LETTER_MAXLEN = 10_000

Outcome = Literal["delivered", "retry", "parked", "dead", "filtered", "skipped"]


# --- policy ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try. Built once per process (``from_settings``) and passed down."""

    backoff: float = DEFAULT_BACKOFF  # first retry delay, seconds; the schedule scales with it
    max_in_flight: int = 4  # deliveries queued or running per webhook
    # Longer than the broker's visibility timeout (1200 s): a queued task is never presumed lost
    # while the broker may still deliver it.
    lease_seconds: float = 1500.0
    # Retries up to this far ahead are Celery countdowns; later ones wait in Redis.
    max_countdown: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            backoff=settings.webhook_backoff,
            max_in_flight=settings.webhook_max_in_flight,
            lease_seconds=settings.visibility_timeout + 300.0,
        )

    def retry_delay(
        self, failures: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds before the next attempt after ``failures`` failed ones (1-based)."""
        step = BACKOFF_SCHEDULE[min(failures, len(BACKOFF_SCHEDULE)) - 1]
        delay = step * self.backoff / DEFAULT_BACKOFF
        delay *= 1 + JITTER * (2 * (rng or random).random() - 1)
        return max(delay, retry_after or 0.0)


# --- signing --------------------------------------------------------------------------------------


class VerificationError(ValueError):
    """A webhook request that must be rejected: bad or missing signature, stale timestamp."""


def secret_key(secret: str) -> bytes:
    """The HMAC key: base64 after ``whsec_``, otherwise the secret's bytes as they are."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(
    secret: str, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Headers for one attempt (a fresh timestamp each time; the id never changes)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """For receivers: check a request and return the event it carries.

    Raises VerificationError when a header is missing, the timestamp is more than ``tolerance``
    seconds away from ``now`` (replays), or no ``v1`` signature matches (compared in constant
    time). Then dedupe on the returned event's ``id``: delivery is at least once.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise VerificationError(f"webhook-timestamp {stamp!r} is not unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise VerificationError(f"webhook-timestamp is more than {tolerance}s away from now")
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret, msg_id, timestamp, raw).encode()
    # The header may carry several space-separated signatures (key rotation): any one will do.
    if not any(hmac.compare_digest(expected, sig.encode()) for sig in signatures.split()):
        raise VerificationError("no matching signature")
    event: dict[str, Any] = json.loads(raw)
    return event


# --- filtering ------------------------------------------------------------------------------------


def wants(webhook: Webhook, envelope: Mapping[str, Any]) -> bool:
    """Article created/updated events (or exactly ``webhook.events``) from ``webhook.sources``
    (or every source)."""
    types = webhook.events or DEFAULT_EVENTS
    if envelope.get("type") not in types:
        return False
    if not webhook.sources:
        return True
    return envelope.get("source") in {f"newswire/{s}" for s in webhook.sources}


# --- Redis keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookKeys:
    """Where one webhook's delivery state lives (all under ``settings.key_prefix``)."""

    prefix: str
    webhook_id: str

    @property
    def group(self) -> str:
        """The consumer group on the event stream (not a key)."""
        return f"webhook:{self.webhook_id}"

    @property
    def waiting(self) -> str:
        """Sorted set: entry id -> unix time it is due (now for fresh entries)."""
        return f"{self.prefix}webhooks:waiting:{self.webhook_id}"

    @property
    def in_flight(self) -> str:
        """Sorted set: entry id -> unix time its lease runs out."""
        return f"{self.prefix}webhooks:inflight:{self.webhook_id}"

    @property
    def attempts(self) -> str:
        """Hash: entry id -> failed attempts so far."""
        return f"{self.prefix}webhooks:attempts:{self.webhook_id}"

    @property
    def stats(self) -> str:
        """Hash: delivered, failed, dead_lettered counters; last_error (JSON); last_delivered_at."""
        return f"{self.prefix}webhooks:stats:{self.webhook_id}"

    @property
    def dead(self) -> str:
        """Stream of dead letters: event, entry_id, event_id, attempts, reason, status, error."""
        return f"{self.prefix}webhooks:dead:{self.webhook_id}"


def webhook_keys(settings: Settings, webhook_id: str) -> WebhookKeys:
    return WebhookKeys(settings.key_prefix, webhook_id)


# --- dispatching ----------------------------------------------------------------------------------

# Read new entries for the group and park them in `waiting`, due now: one step, so a crash
# cannot leave an entry in the group's pending list that no set knows about.
_READ_NEW = """
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
                         'STREAMS', KEYS[1], '>')
if not reply then return {} end
local out = {}
for _, entry in ipairs(reply[1][2]) do
  redis.call('ZADD', KEYS[2], ARGV[4], entry[1])
  local event = ''
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'event' then event = fields[i + 1] end
  end
  table.insert(out, entry[1])
  table.insert(out, event)
end
return out
"""

# Expired leases become due again; then due entries move to in flight, up to the limit.
_HAND_OUT = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[1], id)
end
local free = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[1])
if free <= 0 then return {} end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, free)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], ARGV[2], id)
end
return due
"""


def ensure_groups(redis: Redis, settings: Settings, webhooks: list[Webhook]) -> None:
    """Create each webhook's consumer group at the stream's end, if it has none yet."""
    for webhook in webhooks:
        ensure_group(redis, settings.stream_key, webhook_keys(settings, webhook.id).group)


def dispatch(
    redis: Redis,
    settings: Settings,
    webhook: Webhook,
    policy: DeliveryPolicy,
    now: float | None = None,
) -> list[str]:
    """Entry ids to deliver now, each already leased in ``in_flight``; the caller enqueues one
    delivery per id. Safe to run concurrently: both steps are single Lua scripts."""
    keys = webhook_keys(settings, webhook.id)
    stream = settings.stream_key
    ensure_group(redis, stream, keys.group)
    now = time.time() if now is None else now
    busy = int(redis.zcard(keys.in_flight))
    due_waiting = int(redis.zcount(keys.waiting, "-inf", now))
    if busy + due_waiting < policy.max_in_flight:
        # Only read ahead when there is room: the group, not `waiting`, holds the backlog.
        reply: Any = redis.register_script(_READ_NEW)(
            keys=[stream, keys.waiting], args=[keys.group, DISPATCH_CONSUMER, READ_BATCH, now]
        )
        unwanted = [
            text(entry_id) or ""
            for entry_id, raw in zip(reply[::2], reply[1::2], strict=True)
            if not raw or not wants(webhook, json.loads(raw))
        ]
        if unwanted:
            # Not for this subscriber: acknowledged at once. (Were we to crash here, the
            # delivery task would check again and acknowledge them then.)
            pipe = redis.pipeline(transaction=True)
            pipe.xack(stream, keys.group, *unwanted)
            pipe.zrem(keys.waiting, *unwanted)
            pipe.execute()
    due: Any = redis.register_script(_HAND_OUT)(
        keys=[keys.in_flight, keys.waiting],
        args=[now, now + policy.lease_seconds, policy.max_in_flight],
    )
    return [text(entry_id) or "" for entry_id in due]


# --- delivering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt came to; ``countdown`` is set for ``retry``."""

    outcome: Outcome
    attempts: int = 0
    countdown: float | None = None
    error: FetchError | None = None


def deliver(
    redis: Redis,
    settings: Settings,
    fetcher: Fetcher,
    webhook: Webhook,
    entry_id: str,
    policy: DeliveryPolicy,
) -> Delivery:
    """One attempt to POST one stream entry to one webhook, and the bookkeeping after it."""
    keys = webhook_keys(settings, webhook.id)
    if redis.zscore(keys.in_flight, entry_id) is None:
        # Already delivered, dead-lettered or parked by another copy of this task.
        return Delivery("skipped")
    entries: Any = redis.xrange(settings.stream_key, min=entry_id, max=entry_id)
    raw = entries[0][1].get(b"event") if entries else None
    if raw is None:
        # Trimmed away (NEWSWIRE_STREAM_MAXLEN) while it waited: nothing left to send.
        error = FetchError("the event was trimmed from the stream before delivery", "internal")
        return _dead_letter(redis, settings, keys, webhook, entry_id, None, error)
    body = bytes(raw)
    envelope = json.loads(body)
    if not wants(webhook, envelope):
        _finish(redis, settings, keys, entry_id)
        return Delivery("filtered")
    headers = signed_headers(webhook.secret, str(envelope["id"]), body)
    try:
        fetcher.post(webhook.url, body, headers, allow_networks=webhook.allow_networks)
    except FetchError as error:
        return _failed(redis, settings, keys, webhook, entry_id, body, error, policy)
    pipe = _finish(redis, settings, keys, entry_id, execute=False)
    pipe.hincrby(keys.stats, "delivered", 1)
    pipe.hset(keys.stats, "last_delivered_at", _now_iso())
    pipe.execute()
    return Delivery("delivered")


def _finish(
    redis: Redis, settings: Settings, keys: WebhookKeys, entry_id: str, execute: bool = True
) -> Any:
    """Acknowledge an entry and forget its delivery state (a transaction; returned unexecuted
    when the caller has more to add)."""
    pipe = redis.pipeline(transaction=True)
    pipe.xack(settings.stream_key, keys.group, entry_id)
    pipe.zrem(keys.in_flight, entry_id)
    pipe.zrem(keys.waiting, entry_id)
    pipe.hdel(keys.attempts, entry_id)
    if execute:
        pipe.execute()
    return pipe


def _failed(
    redis: Redis,
    settings: Settings,
    keys: WebhookKeys,
    webhook: Webhook,
    entry_id: str,
    body: bytes,
    error: FetchError,
    policy: DeliveryPolicy,
) -> Delivery:
    attempts = int(redis.hincrby(keys.attempts, entry_id, 1))
    pipe = redis.pipeline(transaction=True)
    pipe.hincrby(keys.stats, "failed", 1)
    pipe.hset(keys.stats, "last_error", json.dumps(_error_record(error, entry_id)))
    pipe.execute()
    if attempts >= webhook.max_attempts or error.reason in PERMANENT_REASONS:
        return _dead_letter(redis, settings, keys, webhook, entry_id, body, error, attempts)
    delay = policy.retry_delay(attempts, error.retry_after)
    now = time.time()
    if delay <= policy.max_countdown:
        # Keep the slot: the lease now covers the countdown too.
        redis.zadd(keys.in_flight, {entry_id: now + delay + policy.lease_seconds}, xx=True)
        return Delivery("retry", attempts, delay, error)
    pipe = redis.pipeline(transaction=True)
    pipe.zrem(keys.in_flight, entry_id)
    pipe.zadd(keys.waiting, {entry_id: now + delay})
    pipe.execute()
    return Delivery("parked", attempts, None, error)


def _dead_letter(
    redis: Redis,
    settings: Settings,
    keys: WebhookKeys,
    webhook: Webhook,
    entry_id: str,
    body: bytes | None,
    error: FetchError,
    attempts: int = 0,
) -> Delivery:
    event_id = ""
    if body is not None:
        event_id = str(json.loads(body).get("id", ""))
    record = {
        "entry_id": entry_id,
        "event_id": event_id,
        "event": body or b"",
        "attempts": attempts,
        "reason": error.reason,
        "status": "" if error.status is None else error.status,
        "error": error.message,
        "url": webhook.url,
        "time": _now_iso(),
    }
    pipe = _finish(redis, settings, keys, entry_id, execute=False)
    pipe.xadd(keys.dead, record, maxlen=DEAD_LETTER_MAXLEN, approximate=True)
    pipe.hincrby(keys.stats, "dead_lettered", 1)
    pipe.execute()
    return Delivery("dead", attempts, None, error)


def _error_record(error: FetchError, entry_id: str) -> dict[str, Any]:
    return {
        "reason": error.reason,
        "status": error.status,
        "message": error.message,
        "entry_id": entry_id,
        "at": _now_iso(),
    }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- status ---------------------------------------------------------------------------------------


def webhook_status(
    redis: Redis, settings: Settings, webhooks: list[Webhook]
) -> list[dict[str, Any]]:
    """Per webhook, for ``newswire status``: counters, what is pending, the last error.

    ``pending`` is everything not finished: read but unacknowledged (``in_flight`` plus
    ``retrying``) and ``lag``, the entries the group has not read yet.
    """
    groups = _group_info(redis, settings.stream_key)
    report = []
    for webhook in webhooks:
        keys = webhook_keys(settings, webhook.id)
        stats = {text(k): text(v) for k, v in redis.hgetall(keys.stats).items()}
        group = groups.get(keys.group, {})
        unacked = int(group.get("pending") or 0)
        lag = group.get("lag")
        last_error = stats.get("last_error")
        report.append(
            {
                "id": webhook.id,
                "url": webhook.url,
                "enabled": webhook.enabled,
                "delivered": int(stats.get("delivered") or 0),
                "failed": int(stats.get("failed") or 0),  # failed attempts, retried or not
                "dead_lettered": int(stats.get("dead_lettered") or 0),
                "pending": unacked + int(lag or 0),
                "in_flight": int(redis.zcard(keys.in_flight)),
                "retrying": int(redis.zcard(keys.waiting)),
                # None when Redis cannot tell (after deletions in the stream).
                "lag": None if lag is None else int(lag),
                "last_error": json.loads(last_error) if last_error else None,
                "last_delivered_at": stats.get("last_delivered_at"),
                "dead_letter_stream": keys.dead,
            }
        )
    return report


def dead_letters(
    redis: Redis, settings: Settings, webhook_id: str, count: int = 100
) -> list[dict[str, Any]]:
    """The newest dead letters of a webhook, newest first, with the event decoded."""
    entries: Any = redis.xrevrange(webhook_keys(settings, webhook_id).dead, count=count)
    letters = []
    for dead_id, fields in entries:
        record: dict[str, Any] = {str(text(k)): text(v) for k, v in fields.items()}
        record["id"] = text(dead_id)
        record["attempts"] = int(record.get("attempts") or 0)
        record["status"] = int(record["status"]) if record.get("status") else None
        record["event"] = json.loads(record["event"]) if record.get("event") else None
        letters.append(record)
    return letters


def _group_info(redis: Redis, stream: str) -> dict[str, dict[str, Any]]:
    if not redis.exists(stream):
        return {}
    groups: Any = redis.xinfo_groups(stream)
    return {text(g["name"]) or "": g for g in groups}
