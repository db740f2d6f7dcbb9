"""Process runtime: where Redis comes from, the all-in-one supervisor, the beat lease and worker
heartbeats.

``newswire run`` starts a private Redis (unless REDIS_URL is set), then the worker, the beat and
the HTTP server as child processes. SIGINT/SIGTERM stops them in order (worker last to finish its
tasks, Redis after all); children die with their parent even on SIGKILL (PR_SET_PDEATHSIG), so a
restart never finds orphans holding the port or the socket.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from redis import Redis, RedisError

from config.settings import Settings
from tasks.errors import ConfigError
from tasks.keys import Keys, text
from worker.redis_server import EmbeddedRedis, die_with_parent

log = logging.getLogger("newswire.runtime")

HEARTBEAT_SECONDS = 5
HEARTBEAT_TTL = 15
BEAT_LEASE_SECONDS = 30


def embedded_redis(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.data_dir / "redis")


def resolve_redis(settings: Settings) -> tuple[Settings, EmbeddedRedis | None]:
    """Settings with a usable ``redis_url``; starts the embedded server when there is none.

    Returns the EmbeddedRedis only when this process started it (and so must stop it).
    """
    if settings.redis_url:
        return settings, None
    server = embedded_redis(settings)
    url = server.start()
    owned = server if server.process is not None else None
    return settings.model_copy(update={"redis_url": url}), owned


def check_redis(redis: Redis) -> list[str]:
    """Refuse settings that would silently lose dedup state; return warnings for the rest."""
    warnings = []
    try:
        policy = redis.config_get("maxmemory-policy").get("maxmemory-policy", "")
        persistence = redis.config_get("appendonly").get("appendonly", "")
        save = redis.config_get("save").get("save", "")
    except RedisError:  # managed Redis may forbid CONFIG; nothing to check then
        return []
    if str(policy).startswith("allkeys-"):
        raise ConfigError(
            "unsafe Redis eviction policy",
            [
                f"REDIS_URL: maxmemory-policy is {policy}; it would evict dedup keys and re-publish"
                " old articles. Use noeviction or a volatile-* policy."
            ],
        )
    if persistence != "yes" and not save:
        warnings.append("Redis persistence is off (no AOF, no RDB): a restart loses all state")
    return warnings


def spawn(
    role: str, env: dict[str, str], extra: list[str] | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "worker.cli", role, *(extra or [])]
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def run_all(settings: Settings, concurrency: int | None = None) -> int:
    """`newswire run`: Redis (embedded unless REDIS_URL), worker, beat and HTTP server."""
    settings, embedded = resolve_redis(settings)
    assert settings.redis_url
    env = dict(os.environ, REDIS_URL=settings.redis_url)
    if embedded is not None:
        # Children must die with it too, even if this process is SIGKILLed.
        log.info("redis.embedded socket=%s", embedded.socket)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("run.stopping signal=%s", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    worker_args = ["--concurrency", str(concurrency)] if concurrency else []
    children = {
        "serve": spawn("serve", env),
        "worker": spawn("worker", env, worker_args),
        "beat": spawn("beat", env),
    }
    log.info(
        "run.started feeds=%s/feeds/ pids=%s",
        settings.public_url,
        ",".join(f"{k}:{p.pid}" for k, p in children.items()),
    )
    exit_code = 0
    while not stopping.wait(0.5):
        for name, child in children.items():
            if child.poll() is not None:
                log.error("run.child_exited role=%s code=%s", name, child.returncode)
                exit_code = 1
                stopping.set()
    # Stop the producers first, then the worker (it finishes or requeues its tasks).
    for name in ("beat", "serve", "worker"):
        _stop(children[name], name)
    if embedded is not None:
        embedded.stop()
    log.info("run.stopped")
    return exit_code


def _stop(child: subprocess.Popen[bytes], name: str, timeout: float = 40.0) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("run.kill role=%s (no exit after %ss)", name, timeout)
            child.kill()
            child.wait()


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def start_heartbeat(
    redis: Redis, keys: Keys, on_redis_restart: Callable[[], None] | None = None
) -> threading.Thread:
    """Say "a worker is alive" every few seconds, so `fetch --wait` knows someone will work.

    It also watches Redis's ``run_id``: when the server restarts while tasks are in flight,
    Celery's consumer can stay wedged without reconnecting (celery/celery#4453, #8082), so the
    worker is told to restart itself (``on_redis_restart``) instead of idling for ever.
    """
    key = f"{keys.prefix}workers:{worker_id()}"
    seen_run_id: list[str] = []

    def beat() -> None:
        while True:
            try:
                redis.set(key, str(time.time()), ex=HEARTBEAT_TTL)
                run_id = str(redis.info("server").get("run_id", ""))
                if seen_run_id and run_id != seen_run_id[0] and on_redis_restart:
                    log.warning("redis.restarted run_id=%s; restarting this worker", run_id)
                    on_redis_restart()
                    return
                seen_run_id[:] = [run_id]
            except RedisError:
                pass  # Redis is down: keep trying; the run_id check catches its return
            time.sleep(HEARTBEAT_SECONDS)

    thread = threading.Thread(target=beat, name="newswire-heartbeat", daemon=True)
    thread.start()
    return thread


def workers_alive(redis: Redis, keys: Keys) -> int:
    return sum(1 for _ in redis.scan_iter(match=f"{keys.prefix}workers:*", count=100))


def hold_beat_lease(redis: Redis, keys: Keys, on_lost: Callable[[], None]) -> None:
    """Block until this process holds the single-beat lease, then keep renewing it.

    Two beats would schedule every poll twice; the second one waits and says so.
    """
    me = worker_id()
    announced = False
    while not redis.set(keys.beat_lease, me, nx=True, ex=BEAT_LEASE_SECONDS):
        if not announced:
            holder = redis.get(keys.beat_lease)
            log.warning(
                "beat.waiting another beat holds the lease (%s); waiting for it to stop",
                text(holder),
            )
            announced = True
        time.sleep(2)
    log.info("beat.lease acquired by %s", me)

    def renew() -> None:
        script = redis.register_script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('EXPIRE', KEYS[1], ARGV[2]) else return 0 end"
        )
        while True:
            time.sleep(BEAT_LEASE_SECONDS / 3)
            try:
                if not script(keys=[keys.beat_lease], args=[me, BEAT_LEASE_SECONDS]):
                    log.error("beat.lease lost; stopping this beat")
                    on_lost()
                    return
            except RedisError as exc:
                log.warning("beat.lease renew failed: %s", exc)

    threading.Thread(target=renew, name="newswire-beat-lease", daemon=True).start()


def release_beat_lease(redis: Redis, keys: Keys) -> None:
    try:
        if redis.get(keys.beat_lease) == worker_id().encode():
            redis.delete(keys.beat_lease)
    except RedisError:
        pass
