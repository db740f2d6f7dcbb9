"""Helpers for end-to-end tests that run real newswire processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as redis_lib

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def newswire_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    env.pop("REDIS_URL", None)
    env.update({"NEWSWIRE_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", **values})
    return env


def newswire(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start(
    *args: str, env: dict[str, str], log: Path, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """Start `newswire ARGS...`; with ``new_session`` it leads its own process group, so a test
    can signal the whole group (main process and pool children) at once."""
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "worker.cli", *args],
            env=env,
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=new_session,
        )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_workers(redis: redis_lib.Redis, prefix: str, count: int = 1) -> None:
    """Until ``count`` workers under ``prefix`` have sent their heartbeat (they consume then)."""
    wait_until(
        lambda: len(list(redis.scan_iter(match=f"{prefix}workers:*"))) >= count,
        60,
        f"{count} worker heartbeat(s)",
    )


def stream_envelopes(client: redis_lib.Redis, stream: str) -> list[dict[str, Any]]:
    return [json.loads(fields[b"event"]) for _id, fields in client.xrange(stream)]


def write_sources(path: Path, base_url: str, extra: str = "") -> Path:
    path.write_text(
        f"""sources:
  - id: isit-news
    name: Iron & Steel Institute of Thailand — News
    url: {base_url}/en/news
    interval: 15m
    timezone: Asia/Bangkok
    topics: [steel]
    allow_networks: [127.0.0.0/8]
{extra}"""
    )
    return path
