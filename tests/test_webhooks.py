"""Webhooks (PRODUCT.md §7): Standard Webhooks signatures, filtering, the delivery state machine on
a real Redis with real receivers on 127.0.0.1, and end to end with a real Celery worker and beat.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from config.settings import Settings, load_settings
from config.sources import Webhook, load_webhooks
from tasks import events
from tasks import webhooks as hooks
from tasks.errors import ConfigError
from tasks.fetch import Fetcher
from tests.e2e_helpers import newswire_env, start, stop, wait_for_workers, wait_until, write_sources
from tests.fixture_site import FixtureSite, news_site

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
PLAIN_SECRET = "not-base64-but-long-enough"


# --- signing -------------------------------------------------------------------------------------


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    assert hooks.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = hooks.signed_headers(VECTOR_SECRET, VECTOR_ID, VECTOR_BODY, VECTOR_TIMESTAMP)
    assert headers == {
        "Content-Type": "application/json",
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }


def test_verify_accepts_a_fresh_signed_request_and_returns_the_event() -> None:
    headers = hooks.signed_headers(VECTOR_SECRET, VECTOR_ID, VECTOR_BODY, VECTOR_TIMESTAMP)
    event = hooks.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP + 299)
    assert event == {"test": 2432232314}
    # Header names are case-insensitive; a rotated key may add more signatures.
    rotated = {k.upper(): v for k, v in headers.items()}
    rotated["WEBHOOK-SIGNATURE"] = "v1,b2xkIGtleQ== " + VECTOR_SIGNATURE
    assert hooks.verify(VECTOR_SECRET, rotated, VECTOR_BODY.decode(), now=VECTOR_TIMESTAMP)


@pytest.mark.parametrize("skew", [-301, 301, 3600])
def test_verify_rejects_stale_and_future_timestamps(skew: int) -> None:
    headers = hooks.signed_headers(VECTOR_SECRET, VECTOR_ID, VECTOR_BODY, VECTOR_TIMESTAMP)
    with pytest.raises(hooks.VerificationError, match="away from now"):
        hooks.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP + skew)


def test_verify_rejects_bad_signatures_tampering_and_missing_headers() -> None:
    headers = hooks.signed_headers(VECTOR_SECRET, VECTOR_ID, VECTOR_BODY, VECTOR_TIMESTAMP)
    now = VECTOR_TIMESTAMP
    with pytest.raises(hooks.VerificationError, match="no matching signature"):
        hooks.verify(VECTOR_SECRET, headers, b'{"test": 1}', now=now)  # body changed
    with pytest.raises(hooks.VerificationError, match="no matching signature"):
        hooks.verify(VECTOR_SECRET, {**headers, "webhook-id": "msg_other"}, VECTOR_BODY, now=now)
    with pytest.raises(hooks.VerificationError, match="no matching signature"):
        hooks.verify("whsec_" + "A" * 32, headers, VECTOR_BODY, now=now)  # another key
    without = {k: v for k, v in headers.items() if k != "webhook-signature"}
    with pytest.raises(hooks.VerificationError, match="missing"):
        hooks.verify(VECTOR_SECRET, without, VECTOR_BODY, now=now)
    with pytest.raises(hooks.VerificationError, match="unix seconds"):
        hooks.verify(VECTOR_SECRET, {**headers, "webhook-timestamp": "yesterday"}, VECTOR_BODY)


def test_a_secret_without_the_whsec_prefix_is_used_as_utf8_bytes() -> None:
    assert hooks.secret_key(PLAIN_SECRET) == PLAIN_SECRET.encode()
    signature = hooks.sign(PLAIN_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    assert signature.startswith("v1,") and signature != VECTOR_SIGNATURE
    with pytest.raises(ValueError, match="base64"):
        hooks.secret_key("whsec_not base64!")


# --- filtering and backoff -----------------------------------------------------------------------


def webhook(**fields: Any) -> Webhook:
    return Webhook(
        **{
            "id": "hook",
            "url": "http://127.0.0.1:9/hook",
            "secret": VECTOR_SECRET,
            "allow_networks": ["127.0.0.0/8"],
            **fields,
        }
    )


def envelope(kind: str = events.CREATED, source: str = "isit-news", n: int = 1) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": events.event_id(kind, f"article-{source}-{n}", "fp"),
        "source": f"newswire/{source}",
        "type": kind,
        "subject": f"article-{source}-{n}",
        "time": "2026-01-01T00:00:00+00:00",
        "datacontenttype": "application/json",
        "data": {"id": f"article-{source}-{n}", "title": f"Story {n}"},
    }


def test_by_default_a_webhook_gets_article_events_from_every_source() -> None:
    hook = webhook()
    assert hooks.wants(hook, envelope(events.CREATED, "a"))
    assert hooks.wants(hook, envelope(events.UPDATED, "b"))
    assert not hooks.wants(hook, envelope(events.SOURCE_BROKEN, "a"))


def test_events_and_sources_narrow_what_a_webhook_gets() -> None:
    hook = webhook(events=[events.UPDATED, events.SOURCE_BROKEN], sources=["a"])
    assert hooks.wants(hook, envelope(events.UPDATED, "a"))
    assert hooks.wants(hook, envelope(events.SOURCE_BROKEN, "a"))
    assert not hooks.wants(hook, envelope(events.CREATED, "a"))
    assert not hooks.wants(hook, envelope(events.UPDATED, "b"))
    # "newswire/a" must not match a source whose id merely starts with "a".
    assert not hooks.wants(hook, envelope(events.UPDATED, "ab"))


def test_backoff_follows_the_schedule_with_jitter_and_is_capped() -> None:
    policy = hooks.DeliveryPolicy()
    rng = random.Random(7)
    for failures, step in [(1, 5), (2, 30), (3, 120), (4, 600), (5, 1800), (6, 3600), (20, 3600)]:
        delay = policy.retry_delay(failures, rng=rng)
        assert step * 0.8 <= delay <= step * 1.2
    assert policy.retry_delay(1, retry_after=90, rng=rng) == 90  # the receiver asked for more
    fast = hooks.DeliveryPolicy.from_settings(load_settings(webhook_backoff=0.5))
    assert 0.4 <= fast.retry_delay(1, rng=rng) <= 0.6
    assert 2.4 <= fast.retry_delay(2, rng=rng) <= 3.6
    assert hooks.DeliveryPolicy.from_settings(load_settings()).max_in_flight == 4
    with pytest.raises(ConfigError):
        load_settings(webhook_max_in_flight=0)


# --- a receiver on a real socket -----------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    event: dict[str, Any] | None  # None: the signature did not verify


Behaviour = Callable[[int], int | None]  # attempt number (1-based) -> status, or None: hang


@dataclass
class Receiver:
    """Records every POST, checks its signature, answers as ``behaviour`` says per attempt."""

    secret: str
    behaviour: Behaviour = lambda _attempt: 204
    hang_seconds: float = 8.0
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attempts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.headers.get("webhook-id", "") for r in self.requests)

    def event_ids(self) -> set[str]:
        with self._lock:
            return {r.event["id"] for r in self.requests if r.event is not None}

    def record(self, headers: dict[str, str], body: bytes) -> int:
        try:
            event: dict[str, Any] | None = hooks.verify(self.secret, headers, body)
        except hooks.VerificationError:
            event = None
        with self._lock:
            self.requests.append(Received(headers, body, event))
            return sum(
                1 for r in self.requests if r.headers.get("webhook-id") == headers["webhook-id"]
            )

    @contextmanager
    def serve(self) -> Iterator[Receiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                attempt = receiver.record({k.lower(): v for k, v in self.headers.items()}, body)
                status = receiver.behaviour(attempt)
                if status is None:  # hang beyond the delivery timeout, then give up quietly
                    time.sleep(receiver.hang_seconds)
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


# --- the delivery state machine, on a real Redis -------------------------------------------------


def add_event(redis: redis_lib.Redis, settings: Settings, env: dict[str, Any]) -> str:
    return events.publish(redis, settings.stream_key, env, maxlen=1000)


def test_each_webhook_has_its_own_in_flight_limit(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    slow, other = webhook(id="slow"), webhook(id="other")
    policy = hooks.DeliveryPolicy(max_in_flight=2)
    hooks.ensure_groups(redis, settings, [slow, other])
    ids = [add_event(redis, settings, envelope(n=n)) for n in range(5)]

    assert hooks.dispatch(redis, settings, slow, policy) == ids[:2]
    # Nothing finished: the slow webhook gets nothing more, however often the dispatcher runs...
    assert hooks.dispatch(redis, settings, slow, policy) == []
    # ...while the other webhook is not affected at all.
    assert hooks.dispatch(redis, settings, other, policy) == ids[:2]
    status = {s["id"]: s for s in hooks.webhook_status(redis, settings, [slow, other])}
    assert status["slow"]["in_flight"] == 2 and status["slow"]["pending"] == 5


def test_a_new_webhook_starts_at_the_end_of_the_stream(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    add_event(redis, settings, envelope(n=1))  # history before the subscriber existed
    hook = webhook()
    assert hooks.dispatch(redis, settings, hook, hooks.DeliveryPolicy()) == []
    later = add_event(redis, settings, envelope(n=2))
    assert hooks.dispatch(redis, settings, hook, hooks.DeliveryPolicy()) == [later]


def test_events_a_webhook_does_not_want_are_acknowledged_without_delivery(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    hook = webhook(sources=["a"])
    hooks.ensure_groups(redis, settings, [hook])
    add_event(redis, settings, envelope(source="b"))
    add_event(redis, settings, envelope(events.SOURCE_BROKEN, source="a"))
    wanted = add_event(redis, settings, envelope(source="a"))
    assert hooks.dispatch(redis, settings, hook, hooks.DeliveryPolicy()) == [wanted]
    [status] = hooks.webhook_status(redis, settings, [hook])
    assert status["pending"] == 1  # only the one in flight


def test_delivery_posts_the_stream_entry_signed_and_acknowledges_it(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    with Receiver(VECTOR_SECRET).serve() as receiver, Fetcher(settings, redis) as fetcher:
        hook = webhook(url=receiver.url)
        hooks.ensure_groups(redis, settings, [hook])
        env = envelope()
        entry_id = add_event(redis, settings, env)
        [handed] = hooks.dispatch(redis, settings, hook, hooks.DeliveryPolicy())

        result = hooks.deliver(redis, settings, fetcher, hook, handed, hooks.DeliveryPolicy())

        assert result.outcome == "delivered"
        [request] = receiver.requests
        assert request.event == env  # the signature verified
        assert request.body == events.encode(env).encode()  # byte for byte the stream entry
        assert request.headers["webhook-id"] == env["id"]
        assert request.headers["content-type"] == "application/json"
        # Done: acknowledged, and a second copy of the task does nothing.
        again = hooks.deliver(redis, settings, fetcher, hook, entry_id, hooks.DeliveryPolicy())
        assert again.outcome == "skipped" and len(receiver.requests) == 1
        [status] = hooks.webhook_status(redis, settings, [hook])
        assert status["delivered"] == 1 and status["pending"] == 0 and status["in_flight"] == 0
        assert status["last_error"] is None and status["last_delivered_at"]


def test_failures_are_retried_then_dead_lettered_with_the_last_error(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    with (
        Receiver(VECTOR_SECRET, behaviour=lambda _: 503).serve() as receiver,
        Fetcher(settings, redis) as fetcher,
    ):
        hook = webhook(url=receiver.url, max_attempts=3)
        policy = hooks.DeliveryPolicy()
        hooks.ensure_groups(redis, settings, [hook])
        env = envelope()
        add_event(redis, settings, env)
        [entry_id] = hooks.dispatch(redis, settings, hook, policy)

        first = hooks.deliver(redis, settings, fetcher, hook, entry_id, policy)
        assert first.outcome == "retry" and first.attempts == 1
        assert first.countdown is not None and 4 <= first.countdown <= 6
        # The retry keeps its slot: the dispatcher does not hand the entry out twice.
        assert hooks.dispatch(redis, settings, hook, policy) == []
        assert hooks.deliver(redis, settings, fetcher, hook, entry_id, policy).outcome == "retry"
        last = hooks.deliver(redis, settings, fetcher, hook, entry_id, policy)

        assert last.outcome == "dead" and last.attempts == 3
        assert set(receiver.attempts().values()) == {3}
        [letter] = hooks.dead_letters(redis, settings, hook.id)
        assert letter["event"] == env and letter["event_id"] == env["id"]
        assert letter["attempts"] == 3 and letter["reason"] == "http_status"
        assert letter["status"] == 503 and letter["entry_id"] == entry_id
        [status] = hooks.webhook_status(redis, settings, [hook])
        assert (status["delivered"], status["failed"], status["dead_lettered"]) == (0, 3, 1)
        assert status["pending"] == 0
        assert status["last_error"]["reason"] == "http_status"
        assert status["last_error"]["status"] == 503


def test_long_backoffs_wait_in_redis_and_free_the_slot(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    behaviour: Behaviour = lambda attempt: 500 if attempt == 1 else 200  # noqa: E731
    with (
        Receiver(VECTOR_SECRET, behaviour).serve() as receiver,
        Fetcher(settings, redis) as fetcher,
    ):
        hook = webhook(url=receiver.url)
        policy = hooks.DeliveryPolicy(max_in_flight=1, max_countdown=0)  # every retry parks
        hooks.ensure_groups(redis, settings, [hook])
        first_id = add_event(redis, settings, envelope(n=1))
        second_id = add_event(redis, settings, envelope(n=2))
        assert hooks.dispatch(redis, settings, hook, policy) == [first_id]

        parked = hooks.deliver(redis, settings, fetcher, hook, first_id, policy)

        assert parked.outcome == "parked"
        # The slot is free for the next event while the first one waits for its backoff.
        assert hooks.dispatch(redis, settings, hook, policy) == [second_id]
        assert hooks.deliver(redis, settings, fetcher, hook, second_id, policy).outcome == (
            "parked"
        )
        assert hooks.dispatch(redis, settings, hook, policy) == []  # neither is due yet
        later = time.time() + 10
        handed = []
        for _ in range(2):  # one at a time (max_in_flight=1), in order of their jittered due time
            [entry_id] = hooks.dispatch(redis, settings, hook, policy, now=later)
            delivered = hooks.deliver(redis, settings, fetcher, hook, entry_id, policy)
            assert delivered.outcome == "delivered"
            handed.append(entry_id)
        assert sorted(handed) == [first_id, second_id]
        assert set(receiver.attempts().values()) == {2}


def test_a_delivery_that_never_reports_back_is_handed_out_again_after_its_lease(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    hook = webhook()
    policy = hooks.DeliveryPolicy()
    hooks.ensure_groups(redis, settings, [hook])
    entry_id = add_event(redis, settings, envelope())
    assert hooks.dispatch(redis, settings, hook, policy) == [entry_id]
    # The worker running it died and the broker gave up: nothing happens until the lease ends.
    assert hooks.dispatch(redis, settings, hook, policy, now=time.time() + 60) == []
    later = time.time() + policy.lease_seconds + 1
    assert hooks.dispatch(redis, settings, hook, policy, now=later) == [entry_id]


def test_an_address_the_guard_refuses_is_dead_lettered_at_once(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    hook = webhook(url="http://10.255.255.1/hook", allow_networks=[])
    policy = hooks.DeliveryPolicy()
    hooks.ensure_groups(redis, settings, [hook])
    add_event(redis, settings, envelope())
    [entry_id] = hooks.dispatch(redis, settings, hook, policy)
    with Fetcher(settings, redis) as fetcher:
        result = hooks.deliver(redis, settings, fetcher, hook, entry_id, policy)
    assert result.outcome == "dead" and result.attempts == 1
    assert hooks.dead_letters(redis, settings, hook.id)[0]["reason"] == "blocked_address"


# --- end to end: real worker and beat ------------------------------------------------------------

E2E_ARTICLES = 8  # more than twice the in-flight limit: deliveries come in several rounds
FAILING_SECRET = "a-plain-secret-for-the-failing-receiver"

WEBHOOKS_YAML = """webhooks:
  - id: healthy
    url: {healthy}
    secret: {healthy_secret}
    allow_networks: [127.0.0.0/8]
    max_attempts: 3
  - id: failing
    url: {failing}
    secret: {failing_secret}
    allow_networks: [127.0.0.0/8]
    max_attempts: 3
"""


def failing_behaviour(attempt: int) -> int | None:
    """500 twice, then hang past the delivery deadline: dead-lettered as a timeout."""
    return 500 if attempt < 3 else None


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    fixture = news_site(articles=E2E_ARTICLES, per_page=20)
    with fixture.serve():
        yield fixture


@pytest.mark.integration
def test_webhooks_end_to_end_healthy_receiver_is_not_held_up_by_a_failing_one(
    redis: redis_lib.Redis, settings: Settings, site: FixtureSite, tmp_path: Path
) -> None:
    healthy = Receiver(VECTOR_SECRET)
    failing = Receiver(FAILING_SECRET, failing_behaviour, hang_seconds=6)
    with healthy.serve(), failing.serve():
        sources = write_sources(
            tmp_path / "sources.yaml",
            site.base_url,
            WEBHOOKS_YAML.format(
                healthy=healthy.url,
                healthy_secret=VECTOR_SECRET,
                failing=failing.url,
                failing_secret=FAILING_SECRET,
            ),
        )
        configured = load_webhooks(sources)
        env = newswire_env(
            REDIS_URL=str(settings.redis_url),
            NEWSWIRE_KEY_PREFIX=settings.key_prefix,
            NEWSWIRE_SOURCES=str(sources),
            NEWSWIRE_DATA_DIR=str(settings.data_dir),
            NEWSWIRE_HOST_RATE="200/s",
            NEWSWIRE_HOST_CONCURRENCY="8",
            NEWSWIRE_FETCH_DEADLINE="3",
            NEWSWIRE_FETCH_READ_TIMEOUT="2",
            NEWSWIRE_WEBHOOK_BACKOFF="0.5",
        )
        log = tmp_path / "worker.log"
        # Worker first: it creates the webhooks' consumer groups before beat's first poll.
        worker = start("worker", "--concurrency", "6", env=env, log=log)
        beat = None
        try:
            wait_for_workers(redis, settings.key_prefix)
            beat = start("beat", env=env, log=log)  # polls the site at once, dispatches every 5 s

            def created_ids() -> set[str]:
                return {
                    e.envelope["id"]
                    for e in events.read_events(redis, settings.stream_key)
                    if e.envelope["type"] == events.CREATED
                }

            wait_until(lambda: len(created_ids()) == E2E_ARTICLES, 90, "articles on the stream")
            expected = created_ids()

            wait_until(lambda: healthy.event_ids() == expected, 90, "every event at the healthy")
            # Every request to the healthy receiver carried a valid signature, and nothing was
            # sent twice (nothing failed, so nothing was retried).
            assert all(r.event is not None for r in healthy.requests)
            assert sorted(healthy.attempts().values()) == [1] * E2E_ARTICLES

            def dead_lettered() -> int:
                status = hooks.webhook_status(redis, settings, configured)
                return int(status[1]["dead_lettered"])

            wait_until(lambda: dead_lettered() == E2E_ARTICLES, 180, "the failing one given up")
        finally:
            if beat is not None:
                assert stop(beat) == 0, log.read_text()[-3000:]
            assert stop(worker) == 0, log.read_text()[-3000:]

        # The failing receiver saw each event three times, with the same webhook-id, signed.
        assert failing.attempts() == Counter({event_id: 3 for event_id in expected})
        assert all(r.event is not None for r in failing.requests)
        letters = hooks.dead_letters(redis, settings, "failing", count=100)
        assert {letter["event_id"] for letter in letters} == expected
        assert {(letter["attempts"], letter["reason"]) for letter in letters} == {(3, "timeout")}

        good, bad = hooks.webhook_status(redis, settings, configured)
        assert (good["delivered"], good["failed"], good["dead_lettered"]) == (E2E_ARTICLES, 0, 0)
        assert good["pending"] == 0 and good["last_error"] is None
        assert (bad["delivered"], bad["failed"]) == (0, 3 * E2E_ARTICLES)
        assert bad["pending"] == 0 and bad["last_error"]["reason"] == "timeout"
