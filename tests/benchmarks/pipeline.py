"""Pipeline benchmark: newswire end to end against the bare fetch-and-parse limit (issue #7).

Usage (from the repository root; needs a Redis: $REDIS_URL, else redis://127.0.0.1:6379/0):

    .venv/bin/python tests/benchmarks/pipeline.py                 # the defaults, < 5 minutes
    .venv/bin/python tests/benchmarks/pipeline.py --articles 4000 --sources 100 --scale 100000
    .venv/bin/python tests/benchmarks/pipeline.py --profile       # + py-spy profile of the workers

What one run does, on one machine, and prints as one table:

1. Generates a news site (tests/benchmarks/site_server.py): ``--sources`` listing pages
   ``/s<i>/news`` over ``--articles`` article pages, every 10th served as windows-874, with
   ETag/Last-Modified. Article pages carry a real news site's furniture (~57 KB; see
   tests/benchmarks/site_chrome.py), or are bare ~3 KB fixture pages with ``--light``. It is
   served by a separate process, which counts requests by kind/status.
2. **Bare limit**: ``--processes`` processes (spawned, imports done before the clock starts),
   each with a plain ``httpx.Client``, fetch their share of the listings, ``tasks.extract``'s
   ``extract_links``, then every article: GET, ``tasks.decode.decode_html``,
   ``tasks.extract.analyze_article``. No Celery, no Redis.
3. **newswire end to end**: a real ``newswire worker --concurrency <processes>`` on the real
   Redis (own key prefix ``nwbench:<uuid>:``), then ``newswire fetch --all --wait`` (first poll),
   then the same command again (unchanged re-poll: conditional GETs answered 304).
   Once, after the rounds: **the issue's reference loop**, the bare loop with a full
   BeautifulSoup tree and naive title/date/body lookups instead of ``tasks.extract``.
   Throughput = articles / (first HTTP request seen by the site -> command exit), which includes
   the feed rebuild the command waits for; the command's own start-up is shown apart.
4. **Stage split**: the worker's task functions (``poll_source_task.run``,
   ``fetch_articles_task.run``) run in this process for ``--sample-sources`` sources under their
   own prefix, with exclusive CPU timers (``time.thread_time``) and Redis round-trip counters
   around the functions the tasks call (fetch, decode, parse, extract, dedup/store, template
   learning, events, metrics, logging; the rest of the task body is "task shell"). Celery's own
   cost is derived: worker CPU measured in /proc during the run minus the in-task CPU.
5. **Resources**: peak RSS (VmHWM) of the worker and its pool children; Redis CPU (INFO cpu)
   and commands (INFO commandstats) per article; Redis memory per stored article from
   ``MEMORY USAGE`` of every key under the prefix, by kind, and the INFO used_memory delta.
6. **Scaling**: feed rebuild time with 1,000 and ``--scale`` stored articles (bulk-inserted with
   the key layout of tasks/claim.lua), and round trips of the dedup check for 20 vs 1,000 links.

Targets (issue #7): first-poll throughput >= 0.8 x bare; an unchanged re-poll of N sources costs
N conditional GETs and no article GET; rebuild time independent of stored articles; one dedup
round trip per listing page.

The machine is shared: each round first waits (at most 15 s) for a quiet second, the best of
``--repeat`` rounds (default 2) is reported, and the table shows how much CPU other processes
used meanwhile. On a busy machine, trust the CPU-per-article rows more than the wall times.

``--profile`` attaches py-spy (``pip install py-spy``; on PATH, in .venv/bin, or ``--py-spy``)
to the worker and its children during a separate first poll under a fresh prefix, and prints
own time by library, inclusive time of newswire's functions and the top own-time functions.
``--cprofile`` runs the in-process stage sample under cProfile (its stage timings then include
the profiler's overhead). Every key written is deleted at the end (never
FLUSHALL); every child process is stopped. Not collected by pytest (tests/benchmarks is
excluded).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import multiprocessing
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import redis as redis_lib  # noqa: E402

from tests.benchmarks.site_server import CP874_EVERY, source_articles  # noqa: E402
from tests.e2e_helpers import newswire, newswire_env, start, stop, wait_until  # noqa: E402

SITE_SERVER = Path(__file__).with_name("site_server.py")
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
TICK = os.sysconf("SC_CLK_TCK")
FETCH_TIMEOUT = 240.0  # seconds one `newswire fetch --wait` may take
STAGES = (
    "fetch",
    "decode",
    "parse",
    "extract",
    "dedup/store",
    "template learning",
    "events",
    "metrics",
    "logging",
    "task shell",
)


def note(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- exclusive CPU timers and Redis round-trip counters ----------------------------------------


class Stages:
    """CPU time (``thread_time``) per named stage, exclusive of nested stages."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self.trips: Counter[str] = Counter()
        self._stack: list[list[Any]] = []  # [name, children's elapsed]

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        frame: list[Any] = [name, 0.0]
        self._stack.append(frame)
        started = time.thread_time()
        try:
            yield
        finally:
            elapsed = time.thread_time() - started
            self._stack.pop()
            self.cpu[name] += elapsed - frame[1]
            if self._stack:
                self._stack[-1][1] += elapsed

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return function(*args, **kwargs)

        return timed

    def trip(self) -> None:
        self.trips[self._stack[-1][0] if self._stack else "outside"] += 1


class CountingRedis(redis_lib.Redis):
    """A redis client that counts round trips (commands and pipeline executions) per stage."""

    stages: Stages | None = None

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.stages is not None:
            self.stages.trip()
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def counted(raise_on_error: bool = True) -> Any:
            if self.stages is not None:
                self.stages.trip()
            return execute(raise_on_error)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe


@contextlib.contextmanager
def patched(targets: list[tuple[Any, str, Any]]) -> Iterator[None]:
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in targets]
    try:
        for obj, name, value in targets:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


# --- /proc -------------------------------------------------------------------------------------


def proc_cpu(pid: int, kernel_only: bool = False) -> float:
    """utime + stime (or stime only) of a live process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[12]) + (0 if kernel_only else int(fields[11]))) / TICK


def proc_children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def proc_status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_cpu(pid: int, kernel_only: bool = False) -> float:
    return proc_cpu(pid, kernel_only) + sum(
        proc_cpu(child, kernel_only) for child in proc_children(pid)
    )


def wait_for_quiet(limit: float = 15.0, busy_share: float = 0.25) -> float:
    """Wait (at most ``limit`` s) for a second in which the machine is mostly idle; returns the
    share of the machine other processes used in the last second measured."""
    deadline = time.monotonic() + limit
    capacity = os.cpu_count() or 1
    while True:
        before = machine_busy()
        time.sleep(1.0)
        share = (machine_busy() - before) / capacity
        if share < busy_share or time.monotonic() >= deadline:
            if share >= busy_share:
                note(f"the machine is busy ({100 * share:.0f}% used by others): timings are noisy")
            return share


def machine_busy() -> float:
    """CPU-seconds the whole machine spent busy (all CPUs, /proc/stat), to spot other load."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK


# --- the site ----------------------------------------------------------------------------------


class SiteServer:
    """tests/benchmarks/site_server.py in its own process; stdin held open as its lifeline."""

    def __init__(self, sources: int, articles: int, light: bool = False) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(SITE_SERVER),
                "--sources",
                str(sources),
                "--articles",
                str(articles),
                *(["--light"] if light else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        line = b""
        os.set_blocking(self.process.stdout.fileno(), False)
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            chunk = self.process.stdout.read(4096)
            if chunk:
                line += chunk
            elif self.process.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if not line.startswith(b"READY "):
            self.stop()
            raise RuntimeError(f"site server did not start: {line!r}")
        self.base_url = line.split()[1].decode()
        self.client = httpx.Client(base_url=self.base_url, timeout=10)

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.client.get("/__stats").json()
        return data

    def reset(self) -> None:
        self.client.get("/__reset")

    def cpu(self) -> float:
        return proc_cpu(self.process.pid)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def requests_of(stats: dict[str, Any]) -> int:
    return sum(stats["counts"].values())


def count_of(stats: dict[str, Any], key: str) -> int:
    return int(stats["counts"].get(key, 0))


# --- 1. the bare limit -------------------------------------------------------------------------


def naive_article(content: bytes) -> tuple[str, str | None, str]:
    """The issue's reference loop: a full BeautifulSoup tree, then title, date and body found
    the obvious way. No boilerplate removal, no metadata, no fallbacks."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(content, "lxml")
    heading = soup.find("h1") or soup.title
    title = heading.get_text(" ", strip=True) if heading else ""
    time_tag = soup.find("time")
    date = str(time_tag.get("datetime") or time_tag.get_text()) if time_tag else None
    body = "\n".join(p.get_text(" ", strip=True) for p in soup.find_all("p"))
    return title, date, body


def bare_child(
    listings: list[str], ready: Any, go: Any, results: Any, naive: bool = False
) -> None:  # pragma: no cover - runs in a spawned process
    from tasks import extract
    from tasks.decode import decode_html

    stages = Stages()
    extract.parse_html = stages.wrap("parse", extract.parse_html)  # type: ignore[assignment]
    client = httpx.Client(timeout=30)
    articles = failed = 0
    ready.wait(120)
    go.wait(120)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    kernel0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    for listing in listings:
        with stages.stage("fetch"):
            response = client.get(listing)
            content = response.content
        ctype = response.headers.get("content-type")
        with stages.stage("decode"):
            text, _ = decode_html(content, ctype)
        with stages.stage("extract"):
            links = extract.extract_links(text, str(response.url))
        for link in links:
            with stages.stage("fetch"):
                response = client.get(link)
                content = response.content
            if naive:
                with stages.stage("parse"):
                    naive_article(content)
                    articles += 1
                continue
            ctype = response.headers.get("content-type")
            with stages.stage("decode"):
                text, _ = decode_html(content, ctype)
            with stages.stage("extract"):
                try:
                    extract.analyze_article(
                        text, str(response.url), fetched_at=datetime.now(UTC), content_type=ctype
                    )
                    articles += 1
                except Exception:
                    failed += 1
    results.put(
        {
            "articles": articles,
            "failed": failed,
            "cpu": time.process_time() - cpu0,
            "kernel": resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel0,
            "wall": time.perf_counter() - wall0,
            "end": time.time(),
            "stages": dict(stages.cpu),
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    )
    client.close()


@dataclass
class BareResult:
    articles: int
    failed: int
    wall: float
    cpu: float
    kernel: float
    stages: Counter[str]
    rss_mib: list[float]
    server: dict[str, Any]
    server_cpu: float
    machine_busy: float


def run_bare(
    site: SiteServer, listings: list[str], processes: int, naive: bool = False
) -> BareResult:
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Barrier(processes + 1), ctx.Event()
    results = ctx.Queue()
    shares = [listings[i::processes] for i in range(processes)]
    children = [
        ctx.Process(target=bare_child, args=(share, ready, go, results, naive), daemon=True)
        for share in shares
    ]
    for child in children:
        child.start()
    try:
        ready.wait(120)  # every child has imported everything
        site.reset()
        server_cpu0, busy0 = site.cpu(), machine_busy()
        started = time.time()
        go.set()
        outputs = [results.get(timeout=FETCH_TIMEOUT) for _ in children]
        wall = max(o["end"] for o in outputs) - started
        server = site.stats()
        server_cpu = site.cpu() - server_cpu0
        busy = machine_busy() - busy0
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.terminate()
                child.join(5)
    stages: Counter[str] = Counter()
    for output in outputs:
        stages.update(output["stages"])
    return BareResult(
        articles=sum(o["articles"] for o in outputs),
        failed=sum(o["failed"] for o in outputs),
        wall=wall,
        cpu=sum(o["cpu"] for o in outputs),
        kernel=sum(o["kernel"] for o in outputs),
        stages=stages,
        rss_mib=[o["maxrss_kib"] / 1024 for o in outputs],
        server=server,
        server_cpu=server_cpu,
        machine_busy=busy,
    )


# --- 2. newswire end to end --------------------------------------------------------------------


def write_sources(path: Path, base_url: str, count: int) -> Path:
    lines = ["sources:"]
    for i in range(count):
        lines += [
            f"  - id: s{i}",
            f"    name: Bench source {i}",
            f"    url: {base_url}/s{i}/news",
            "    interval: 15m",
            "    timezone: Asia/Bangkok",
            "    topics: [steel]",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def worker_env(redis_url: str, prefix: str, sources: Path, data_dir: Path) -> dict[str, str]:
    return newswire_env(
        REDIS_URL=redis_url,
        NEWSWIRE_KEY_PREFIX=prefix,
        NEWSWIRE_SOURCES=str(sources),
        NEWSWIRE_DATA_DIR=str(data_dir),
        NEWSWIRE_HOST_RATE="100000/s",
        NEWSWIRE_HOST_CONCURRENCY="64",
        NEWSWIRE_ALLOW_NETWORKS="127.0.0.0/8",
        NEWSWIRE_PUBLIC_URL="http://feeds.bench.test",
    )


def redis_cpu(client: redis_lib.Redis) -> float:
    info: Any = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_calls(client: redis_lib.Redis) -> Counter[str]:
    """Calls and server microseconds per command so far (INFO commandstats), keyed
    ``"get"`` (calls) and ``"get usec"``. Commands run by scripts count on their own too."""
    stats: Any = client.info("commandstats")
    out: Counter[str] = Counter()
    for name, values in stats.items():
        out[name.removeprefix("cmdstat_")] = int(values["calls"])
        out[name.removeprefix("cmdstat_") + " usec"] = int(values["usec"])
    return out


def calls_only(counter: Counter[str]) -> Counter[str]:
    return Counter({k: v for k, v in counter.items() if not k.endswith(" usec")})


def usec_only(counter: Counter[str]) -> Counter[str]:
    return Counter({k.removesuffix(" usec"): v for k, v in counter.items() if k.endswith(" usec")})


@dataclass
class FetchRun:
    wall: float  # first HTTP request seen by the site -> command exit
    command_wall: float  # whole command, including its start-up
    summary: str
    counts: dict[str, int]
    server: dict[str, Any]
    server_cpu: float
    worker_cpu: float
    worker_kernel: float
    worker_main_cpu: float  # the worker's main process: Celery's consumer, no task runs there
    cli_cpu: float
    redis_cpu: float
    redis_calls: Counter[str]
    last_event_to_exit: float | None
    machine_busy: float


SUMMARY = re.compile(r"^summary: (.*)$", re.M)


def run_fetch(
    site: SiteServer, env: dict[str, str], redis: redis_lib.Redis, worker_pid: int, stream: str
) -> FetchRun:
    site.reset()
    server_cpu0, worker_cpu0, redis_cpu0 = site.cpu(), tree_cpu(worker_pid), redis_cpu(redis)
    kernel0 = tree_cpu(worker_pid, kernel_only=True)
    main_cpu0 = proc_cpu(worker_pid)
    calls0 = redis_calls(redis)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0 = machine_busy()
    started = time.time()
    result = newswire(
        "fetch",
        "--all",
        "--wait",
        "--timeout",
        str(FETCH_TIMEOUT),
        env=env,
        timeout=FETCH_TIMEOUT + 60,
    )
    ended = time.time()
    busy = machine_busy() - busy0
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = tree_cpu(worker_pid) - worker_cpu0
    main_cpu = proc_cpu(worker_pid) - main_cpu0
    worker_kernel = tree_cpu(worker_pid, kernel_only=True) - kernel0
    server = site.stats()
    match = SUMMARY.search(result.stdout)
    if not match:
        raise RuntimeError(f"newswire fetch failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    counts = {k: int(v) for k, v in (pair.split("=") for pair in match[1].split())}
    last: Any = redis.xrevrange(stream, count=1)
    last_event = int(last[0][0].split(b"-")[0]) / 1000 if last else None
    return FetchRun(
        wall=ended - (server["first"] or started),
        command_wall=ended - started,
        summary=match[0],
        counts=counts,
        server=server,
        server_cpu=site.cpu() - server_cpu0,
        worker_cpu=worker_cpu,
        worker_kernel=worker_kernel,
        worker_main_cpu=main_cpu,
        cli_cpu=(children1.ru_utime + children1.ru_stime)
        - (children0.ru_utime + children0.ru_stime),
        redis_cpu=redis_cpu(redis) - redis_cpu0,
        redis_calls=redis_calls(redis) - calls0,
        last_event_to_exit=ended - last_event if last_event and last_event > started else None,
        machine_busy=busy,
    )


@dataclass
class E2EResult:
    first: FetchRun
    repoll: FetchRun
    rebuilds: int
    feeds_rendered: int
    worker_rss_mib: dict[str, float]
    metrics: dict[str, float]
    memory: dict[str, tuple[int, int]]  # kind -> (keys, bytes)
    used_memory_delta: int
    stored: int
    profile: list[str] = field(default_factory=list)


@contextlib.contextmanager
def running_worker(
    env: dict[str, str], redis: redis_lib.Redis, prefix: str, log: Path, processes: int
) -> Iterator[int]:
    process = start("worker", "--concurrency", str(processes), env=env, log=log)
    try:
        wait_until(
            lambda: list(redis.scan_iter(match=f"{prefix}workers:*")) or process.poll() is not None,
            90,
            "the worker's heartbeat",
        )
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{log.read_text()[-3000:]}")
        wait_until(lambda: len(proc_children(process.pid)) >= processes, 30, "pool children")
        yield process.pid
    finally:
        stop(process, timeout=60)


def feeds_rebuilt(log: Path) -> tuple[int, int]:
    """(rebuilds, feeds rendered) from the worker's `feeds.rebuilt feeds=a,b,...` log lines."""
    rebuilds = feeds = 0
    for line in log.read_text(errors="replace").splitlines():
        if '"feeds.rebuilt' not in line:
            continue
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            rebuilds += 1
            feeds += len([f for f in str(entry.get("feeds", "")).split(",") if f])
    return rebuilds, feeds


def worker_rss(pid: int) -> dict[str, float]:
    rss = {"main": proc_status_kib(pid, "VmHWM") / 1024}
    for i, child in enumerate(proc_children(pid)):
        rss[f"child {i + 1}"] = proc_status_kib(child, "VmHWM") / 1024
    return rss


def key_kind(key: str, prefix: str) -> str:
    rest = key[len(prefix) :]
    head = rest.split(":", 1)[0]
    return {
        "article": "article hash",
        "seen": "seen (dedup) key",
        "http": "HTTP validators",
        "feed": "feed indexes",
        "events": "event stream",
        "refresh": "refresh schedule",
        "template": "template learning",
        "sig": "syndication signatures",
        "lsh": "syndication LSH buckets",
        "feedfile": "rendered feeds",
        "celery": "celery queues",
    }.get(head, "other (health, runs, metrics...)")


def memory_by_kind(redis: redis_lib.Redis, prefix: str) -> dict[str, tuple[int, int]]:
    keys = [k.decode() for k in redis.scan_iter(match=f"{prefix}*", count=2000)]
    usage: dict[str, tuple[int, int]] = {}
    for start_at in range(0, len(keys), 1000):
        batch = keys[start_at : start_at + 1000]
        pipe = redis.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
        for key, used in zip(batch, pipe.execute(), strict=True):
            kind = key_kind(key, prefix)
            count, total = usage.get(kind, (0, 0))
            usage[kind] = (count + 1, total + int(used or 0))
    return usage


def read_metrics(redis: redis_lib.Redis, prefix: str) -> dict[str, float]:
    raw: Any = redis.hgetall(f"{prefix}metrics")
    return {k.decode(): float(v) for k, v in raw.items()}


def run_e2e(
    site: SiteServer,
    redis: redis_lib.Redis,
    redis_url: str,
    prefix: str,
    tmp: Path,
    sources: int,
    processes: int,
) -> E2EResult:
    sources_file = write_sources(tmp / "sources.yaml", site.base_url, sources)
    env = worker_env(redis_url, prefix, sources_file, tmp / "var")
    memory0 = int(redis.info("memory")["used_memory"])
    log = tmp / "worker.log"
    with running_worker(env, redis, prefix, log, processes) as pid:
        wait_for_quiet()
        first = run_fetch(site, env, redis, pid, f"{prefix}events")
        rebuilds, feeds = feeds_rebuilt(log)
        note(f"newswire: {first.wall:.2f} s, {first.summary}")
        repoll = run_fetch(site, env, redis, pid, f"{prefix}events")
        note(f"newswire re-poll: {json.dumps(repoll.server['counts'])}")
        rss = worker_rss(pid)
    return E2EResult(
        first=first,
        repoll=repoll,
        rebuilds=rebuilds,
        feeds_rendered=feeds,
        worker_rss_mib=rss,
        metrics=read_metrics(redis, prefix),
        memory=memory_by_kind(redis, prefix),
        used_memory_delta=int(redis.info("memory")["used_memory"]) - memory0,
        stored=int(redis.zcard(f"{prefix}feed:all")),
    )


# --- py-spy ------------------------------------------------------------------------------------


def find_py_spy(explicit: str | None) -> str | None:
    for candidate in (explicit, shutil.which("py-spy"), str(REPO / ".venv" / "bin" / "py-spy")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
LIBRARIES = (
    ("redis/", "redis-py (Redis round trips, incl. kernel time of loopback sockets)"),
    ("kombu/", "Celery/kombu/billiard (broker, pool IPC)"),
    ("celery/", "Celery/kombu/billiard (broker, pool IPC)"),
    ("billiard/", "Celery/kombu/billiard (broker, pool IPC)"),
    ("bs4/", "BeautifulSoup + lxml (parse)"),
    ("lxml/", "BeautifulSoup + lxml (parse)"),
    ("httpx/", "httpx/httpcore (HTTP)"),
    ("httpcore/", "httpx/httpcore (HTTP)"),
    ("h11/", "httpx/httpcore (HTTP)"),
    ("feedgen/", "feedgen (feed rendering)"),
    ("nh3", "nh3 (sanitizer)"),
    ("tasks/", "newswire tasks/ (own code)"),
    ("worker/", "newswire worker/ (own code)"),
    ("config/", "newswire config/ (own code)"),
)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.", str(REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3.":
                path = "stdlib:" + path.split("/", 1)[-1]
    return path


def summarize_profile(raw: Path, top: int = 20) -> list[str]:
    """Where the worker's CPU goes, from a py-spy ``--format raw`` (collapsed stacks) file:
    own time by library, inclusive time of newswire's functions, and the top own-time functions.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    library: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame.strip())
            if match:
                frames.append((match["func"], _short(match["file"])))
        if not frames:
            continue
        for func, path in set(frames):
            if path.startswith(("tasks/", "worker/app.py")):
                inclusive[f"{func} ({path})"] += count
        func, path = frames[-1]
        own[f"{func} ({path})"] += count
        # The leaf's library, or the nearest caller's one for stdlib/builtin leaves.
        for _func, frame_path in reversed(frames):
            bucket = next((name for key, name in LIBRARIES if key in frame_path), None)
            if bucket:
                library[bucket] += count
                break
        else:
            library["other (stdlib, interpreter)"] += count
    if not total:
        return ["(py-spy recorded no samples)"]
    lines = [
        f"{total} samples (250/s; --gil: only threads running Python, not those waiting on a"
        " socket or in a syscall) of the worker and its pool children"
    ]
    lines.append("  own time by library (a stdlib leaf counts for its nearest library caller):")
    for name, count in library.most_common():
        lines.append(f"  {100 * count / total:6.1f}%  {name}")
    lines.append("  inclusive time of newswire functions (the function and all it calls):")
    for name, count in inclusive.most_common(top):
        lines.append(f"  {100 * count / total:6.1f}%  {name}")
    lines.append("  own time, top functions:")
    for name, count in own.most_common(top):
        lines.append(f"  {100 * count / total:6.1f}%  {name}")
    return lines


def run_profile(
    site: SiteServer,
    redis: redis_lib.Redis,
    redis_url: str,
    prefix: str,
    tmp: Path,
    sources: int,
    processes: int,
    py_spy: str,
) -> list[str]:
    """A separate first poll under a fresh prefix with py-spy attached to the worker tree."""
    sources_file = write_sources(tmp / "sources.yaml", site.base_url, sources)
    env = worker_env(redis_url, prefix, sources_file, tmp / "var")
    raw = tmp / "profile.txt"
    with running_worker(env, redis, prefix, tmp / "worker.log", processes) as pid:
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                "250",
                "--nonblocking",
                "--gil",
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(1.0)  # let py-spy attach
            run_fetch(site, env, redis, pid, f"{prefix}events")
        finally:
            spy.send_signal(signal.SIGINT)
            try:
                _, errors = spy.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                _, errors = spy.communicate()
    if not raw.exists():
        return [f"(py-spy failed: {errors.decode(errors='replace')[-500:]})"]
    return summarize_profile(raw)


# --- 3. the stage split, in process ------------------------------------------------------------


@dataclass
class SampleResult:
    polls: int
    articles: int
    stages: Stages
    rebuild_cpu: float
    rebuild_trips: int


def run_sample(
    site: SiteServer, redis_url: str, prefix: str, tmp: Path, sources: int
) -> SampleResult:
    """The worker's task bodies in this process, with exclusive timers around each stage."""
    from config.settings import load_settings
    from config.sources import load_sources
    from tasks import events, extract, fetch, pipeline, refresh, runs, store
    from tasks.keys import Keys
    from worker import app as celery_app
    from worker.logs import setup_logging

    sources_file = write_sources(tmp / "sample-sources.yaml", site.base_url, sources)
    settings = load_settings(
        redis_url=redis_url,
        key_prefix=prefix,
        data_dir=tmp / "sample-var",
        sources=sources_file,
        allow_networks="127.0.0.0/8",
        host_rate="100000/s",
        host_concurrency=64,
        public_url="http://feeds.bench.test",
    )
    configured = load_sources(sources_file)
    celery_app.configure(settings, configured)
    ctx = celery_app.context()
    stages = Stages()
    client = CountingRedis.from_url(redis_url)
    client.stages = stages
    # The per-process clients the worker would build after fork, but counting round trips.
    ctx._pid, ctx._redis, ctx._fetcher = os.getpid(), client, fetch.Fetcher(settings, client)
    # Log as the worker does (JSON, INFO), into the void.
    setup_logging("json", "INFO")
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(devnull)

    queued: list[tuple[str, list[str], str | None]] = []
    rebuilds: list[int] = []

    class Queue:
        # The sample runs the tasks in this process, like an eager run: no batch hands on.
        request = SimpleNamespace(is_eager=True)

        @staticmethod
        def delay(source_id: str, urls: list[str], run_id: str | None = None) -> None:
            queued.append((source_id, urls, run_id))

        @staticmethod
        def apply_async(*_args: Any, **_kwargs: Any) -> None:
            rebuilds.append(1)

    real_poll = celery_app.poll_source_task.run
    real_fetch = celery_app.fetch_articles_task.run
    real_rebuild = celery_app.rebuild_feeds_task.run
    wrap = stages.wrap
    targets: list[tuple[Any, str, Any]] = [
        (celery_app, "fetch_articles_task", Queue),
        (celery_app, "rebuild_feeds_task", Queue),
        (fetch.Fetcher, "get", wrap("fetch", fetch.Fetcher.get)),
        (fetch, "decode_html", wrap("decode", fetch.decode_html)),
        (extract, "parse_html", wrap("parse", extract.parse_html)),
        (pipeline, "analyze_article", wrap("extract", pipeline.analyze_article)),
        (pipeline, "extract_links", wrap("extract", pipeline.extract_links)),
        (pipeline, "find_next_page", wrap("extract", pipeline.find_next_page)),
        (store, "unknown_links", wrap("dedup/store", store.unknown_links)),
        (store, "save_article", wrap("dedup/store", store.save_article)),
        (store, "validators", wrap("dedup/store", store.validators)),
        (store, "save_validators", wrap("dedup/store", store.save_validators)),
        (refresh, "schedule", wrap("dedup/store", refresh.schedule)),
        (pipeline, "load_boilerplate", wrap("template learning", pipeline.load_boilerplate)),
        (pipeline, "record_blocks", wrap("template learning", pipeline.record_blocks)),
        (events, "article_event", wrap("events", events.article_event)),
        (events, "encode", wrap("events", events.encode)),
        (pipeline, "_record_fetch", wrap("metrics", pipeline._record_fetch)),
        (celery_app, "count", wrap("metrics", celery_app.count)),
        (logging.Logger, "_log", wrap("logging", logging.Logger._log)),
    ]
    keys = Keys(prefix)
    try:
        with patched(targets):
            source_ids = [s.id for s in configured]
            run_id = runs.start_run(client, keys, source_ids)
            for source_id in source_ids:
                with stages.stage("task shell"):
                    real_poll(source_id, run_id)
            polled = sum(len(urls) for _source, urls, _run in queued)
            for source_id, urls, article_run in queued:
                with stages.stage("task shell"):
                    real_fetch(source_id, urls, article_run)
        # One coalesced rebuild of every feed the sample made dirty, timed on its own.
        rebuild = Stages()
        client.stages = rebuild
        with rebuild.stage("feed rebuild"):
            real_rebuild()
    finally:
        client.stages = None
        handler.setStream(sys.stderr)
        logging.getLogger().setLevel(logging.WARNING)
        devnull.close()
        ctx._fetcher.close()
    return SampleResult(
        polls=len(configured),
        articles=polled,
        stages=stages,
        rebuild_cpu=rebuild.cpu["feed rebuild"],
        rebuild_trips=rebuild.trips["feed rebuild"],
    )


def summarize_cprofile(profiler: Any, articles: int, top: int = 20) -> list[str]:
    """cProfile of the in-process sample: newswire functions by inclusive time, all by own."""
    import pstats

    stats: Any = pstats.Stats(profiler).stats
    rows = [
        (f"{func} ({_short(path)}:{line})", calls, own, cumulative)
        for (path, line, func), (_cc, calls, own, cumulative, _callers) in stats.items()
    ]
    per = 1000 / max(articles, 1)
    lines = [
        f"cProfile of the in-process sample (ms per article over {articles} articles,"
        " profiler overhead included)"
    ]
    lines.append("  inclusive, newswire functions:")
    ours = [r for r in rows if _short(r[0].rsplit("(", 1)[1]).startswith(("tasks/", "worker/"))]
    for name, calls, _own, cumulative in sorted(ours, key=lambda r: -r[3])[:top]:
        lines.append(f"  {cumulative * per:8.2f} ms {calls / max(articles, 1):7.1f} calls  {name}")
    lines.append("  own time, all functions:")
    for name, calls, own, _cumulative in sorted(rows, key=lambda r: -r[2])[:top]:
        lines.append(f"  {own * per:8.2f} ms {calls / max(articles, 1):7.1f} calls  {name}")
    return lines


def dedup_round_trips(redis_url: str, prefix: str) -> dict[int, int]:
    """Round trips of the "known links?" check for listings of different sizes."""
    from tasks import store
    from tasks.keys import Keys

    client = CountingRedis.from_url(redis_url)
    trips = {}
    for size in (20, 1000):
        stages = Stages()
        client.stages = stages
        links = [f"https://news.bench.test/a/{size}/{i}" for i in range(size)]
        with stages.stage("dedup"):
            store.unknown_links(client, Keys(prefix), links)
        trips[size] = stages.trips["dedup"]
    client.close()
    return trips


# --- 4. feed rebuild vs stored articles --------------------------------------------------------


def bulk_insert(
    redis: redis_lib.Redis,
    prefix: str,
    template: dict[str, Any],
    start_at: int,
    count: int,
    feeds: tuple[str, ...],
    ttl: int,
) -> None:
    """Articles with the key layout of tasks/claim.lua (hash json/fp/source/feeds + indexes)."""
    base = datetime(2020, 1, 1, tzinfo=UTC)
    pipe = redis.pipeline(transaction=False)
    for n in range(start_at, start_at + count):
        article_id = f"bench{n:015d}"
        published = base + timedelta(minutes=n)
        item = dict(template)
        item.update(
            id=article_id,
            url=f"https://news.bench.test/a/{n}",
            canonical_url=f"https://news.bench.test/a/{n}",
            title=f"{template['title']} #{n}",
            published=published.isoformat(),
            fingerprint=f"{n:032x}",
        )
        key = f"{prefix}article:{article_id}"
        pipe.hset(
            key,
            mapping={
                "json": json.dumps(item, ensure_ascii=False, separators=(",", ":")),
                "fp": item["fingerprint"],
                "source": item["source_id"],
                "feeds": " ".join(feeds),
            },
        )
        pipe.expire(key, ttl)
        for feed in feeds:
            pipe.zadd(f"{prefix}feed:{feed}", {article_id: published.timestamp()})
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()


def rebuild_scaling(
    redis: redis_lib.Redis,
    redis_url: str,
    prefix: str,
    tmp: Path,
    sizes: tuple[int, int],
    repeat: int = 5,
) -> dict[int, tuple[float, float, int]]:
    """Best (wall ms, CPU ms) and Redis round trips of rebuilding one source's feeds (source,
    topic, all) with ``sizes`` articles stored."""
    from config.settings import load_settings
    from config.sources import Source
    from tasks.extract import extract_article
    from tasks.feedbuild import rebuild_feeds
    from tests.fixture_site import article_html

    settings = load_settings(
        redis_url=redis_url,
        key_prefix=prefix,
        data_dir=tmp / "scale-var",
        sources=tmp / "none.yaml",
        public_url="http://feeds.bench.test",
    )
    source = Source(id="scale", name="Scale", url="https://news.bench.test/", topics=["steel"])
    article = extract_article(
        article_html(7, related=[8, 9, 10]),
        "https://news.bench.test/a/7",
        fetched_at=datetime.now(UTC),
    ).replace(source_id=source.id)
    template = article.to_dict()
    results: dict[int, tuple[float, float, int]] = {}
    counting = CountingRedis.from_url(redis_url)
    stored = 0
    for size in sizes:
        bulk_insert(
            redis,
            prefix,
            template,
            stored,
            size - stored,
            source.feed_names,
            settings.retention_seconds,
        )
        stored = size
        walls, cpus = [], []
        stages = Stages()
        counting.stages = stages
        for _ in range(repeat):
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            with stages.stage("rebuild"):
                rebuild_feeds(counting, settings, [source], list(source.feed_names))
            walls.append((time.perf_counter() - wall0) * 1000)
            cpus.append((time.thread_time() - cpu0) * 1000)
        results[size] = (min(walls), min(cpus), stages.trips["rebuild"] // repeat)
    counting.close()
    return results


# --- the report --------------------------------------------------------------------------------


def delete_prefix(redis: redis_lib.Redis, prefix: str) -> int:
    deleted = 0
    batch: list[bytes] = []
    for key in redis.scan_iter(match=f"{prefix}*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            deleted += int(redis.unlink(*batch))
            batch = []
    if batch:
        deleted += int(redis.unlink(*batch))
    return deleted


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(
    args: argparse.Namespace,
    redis_url: str,
    redis_version: str,
    bares: list[BareResult],
    e2es: list[E2EResult],
    naive: BareResult,
    sample: SampleResult,
    dedup: dict[int, int],
    scaling: dict[int, tuple[float, float, int]],
    profile: list[str],
) -> list[str]:
    def bare_rate_of(run: BareResult) -> float:
        return run.articles / run.wall

    def e2e_rate_of(run: E2EResult) -> float:
        return run.first.counts.get("new", 0) / run.first.wall if run.first.wall else 0.0

    bare = max(bares, key=bare_rate_of)
    e2e = max(e2es, key=e2e_rate_of)
    first, repoll = e2e.first, e2e.repoll
    n_new = first.counts.get("new", 0)
    bare_rate, e2e_rate = bare_rate_of(bare), e2e_rate_of(e2e)
    ratio = e2e_rate / bare_rate if bare_rate else 0.0
    bare_requests = requests_of(bare.server)
    first_requests = requests_of(first.server)
    out = []
    w = out.append
    cp874 = args.articles // CP874_EVERY
    w("")
    w(
        f"newswire pipeline benchmark: {args.articles} articles ({cp874} windows-874) on"
        f" {args.sources} listing pages, {args.processes} processes, {os.cpu_count()} CPUs,"
        f" Redis {redis_version} at {redis_url}"
    )
    weight = "light fixture pages" if args.light else "a real site's furniture, site_chrome.py"
    w(f"article pages: {bares[0].server['article_bytes'] / 1024:.0f} KB on average ({weight})")
    w("")

    def row(label: str, left: str, right: str, tail: str = "") -> None:
        w(f"  {label:<42}{left:>12}{right:>12}{tail}")

    def http(stats: dict[str, Any]) -> str:
        kinds = ("listing 200", "article 200", "robots 200")
        return "/".join(str(count_of(stats, k)) for k in kinds)

    per = max(n_new, 1)
    bare_machine = (bare.cpu + bare.server_cpu) / bare.articles
    e2e_machine = (first.worker_cpu + first.redis_cpu + first.server_cpu + first.cli_cpu) / per
    bare_other = bare.machine_busy - bare.cpu - bare.server_cpu
    first_other = first.machine_busy - (
        first.worker_cpu + first.cli_cpu + first.server_cpu + first.redis_cpu
    )
    w(
        f"{'THROUGHPUT (first poll; best of ' + str(len(bares)) + ' rounds)':<44}"
        f"{'bare limit':>12}{'newswire':>12}{'ratio':>9}"
    )
    row("articles", str(bare.articles), str(n_new))
    row("wall s (first request -> done)", f"{bare.wall:.2f}", f"{first.wall:.2f}")
    row(
        "articles/s",
        f"{bare_rate:.1f}",
        f"{e2e_rate:.1f}",
        f"{ratio:>9.2f}   target >= 0.80: {verdict(ratio >= 0.8)}",
    )
    row(
        "articles/s, every round",
        " ".join(f"{bare_rate_of(b):.0f}" for b in bares),
        " ".join(f"{e2e_rate_of(e):.0f}" for e in e2es),
    )
    row(
        "client CPU ms/article (all its processes)",
        f"{1000 * bare.cpu / bare.articles:.2f}",
        f"{1000 * first.worker_cpu / per:.2f}",
        f"{first.worker_cpu / per / (bare.cpu / bare.articles):>8.2f}x",
    )
    row(
        "  of which kernel (syscalls, loopback TCP)",
        f"{1000 * bare.kernel / bare.articles:.2f}",
        f"{1000 * first.worker_kernel / per:.2f}",
    )
    row(
        "  of which worker main process (Celery consumer)",
        "-",
        f"{1000 * first.worker_main_cpu / per:.2f}",
    )
    row("Redis server CPU ms/article", "-", f"{1000 * first.redis_cpu / per:.2f}")
    row(
        "site server CPU ms/request",
        f"{1000 * bare.server_cpu / max(bare_requests, 1):.3f}",
        f"{1000 * first.server_cpu / max(first_requests, 1):.3f}",
    )
    row(
        "machine CPU ms/article (all of the above)",
        f"{1000 * bare_machine:.2f}",
        f"{1000 * e2e_machine:.2f}",
        f"{bare_machine / e2e_machine:>9.2f}   (= throughput ratio when CPU-bound)",
    )
    calls, usec = calls_only(first.redis_calls), usec_only(first.redis_calls)
    row("Redis commands/article (all clients)", "-", f"{calls.total() / per:.1f}")
    w("    most called: " + ", ".join(f"{name} {n / per:.1f}" for name, n in calls.most_common(6)))
    w(
        "    most server time (us/article): "
        + ", ".join(f"{name} {n / per:.0f}" for name, n in usec.most_common(6))
    )
    row("HTTP GETs listing/article/robots", http(bare.server), http(first.server))
    row(
        "CPU-s used by other processes meanwhile",
        f"{bare_other:.2f}",
        f"{first_other:.2f}",
        "   (machine busy minus ours: noise)",
    )
    w(
        f"  newswire command wall incl. start-up {first.command_wall:.2f} s (CLI CPU"
        f" {first.cli_cpu:.2f} s); last article event -> command exit "
        + (f"{first.last_event_to_exit:.2f} s" if first.last_event_to_exit is not None else "n/a")
        + " (feed rebuild wait)"
    )
    w(f"  {first.summary}")
    w("")
    naive_rate = bare_rate_of(naive)
    naive_machine = (naive.cpu + naive.server_cpu) / max(naive.articles, 1)
    w("THE ISSUE'S REFERENCE LOOP (bare, but a full BeautifulSoup tree and naive title/date/body)")
    w(
        f"  {naive_rate:.1f} articles/s, machine CPU {1000 * naive_machine:.2f} ms/article;"
        f" newswire end to end is {e2e_rate / naive_rate:.2f}x its throughput"
    )
    w("")
    per_bare = {k: 1000 * v / bare.articles for k, v in bare.stages.items()}
    per_sample = {k: 1000 * v / max(sample.articles, 1) for k, v in sample.stages.cpu.items()}
    trips = {k: v / max(sample.articles, 1) for k, v in sample.stages.trips.items()}
    rebuild_seconds = e2e.metrics.get("newswire_feed_build_seconds_sum", 0.0)
    rebuild_count = int(e2e.metrics.get("newswire_feed_build_seconds_count", 0))
    rebuild_ms = 1000 * rebuild_seconds / max(n_new, 1)
    in_task = sum(per_sample.get(s, 0.0) for s in STAGES)
    measured = 1000 * first.worker_cpu / max(n_new, 1)
    celery = measured - in_task - rebuild_ms
    w(f"{'CPU ms PER ARTICLE BY STAGE':<44}{'bare':>12}{'newswire':>12}{'Redis trips':>12}")
    for name in STAGES:
        bare_value = f"{per_bare[name]:.2f}" if name in per_bare else "-"
        w(
            f"  {name:<42}{bare_value:>12}{per_sample.get(name, 0.0):>12.2f}"
            f"{trips.get(name, 0.0):>12.1f}"
        )
    w(
        f"  {'feed rebuild (worker, amortized)':<42}{'-':>12}{rebuild_ms:>12.2f}"
        f"{sample.rebuild_trips / (sample.polls + 2) * e2e.feeds_rendered / per:>12.1f}"
    )
    w(f"  {'Celery broker + worker (derived)':<42}{'-':>12}{celery:>12.2f}")
    w(
        f"  {'total':<42}{1000 * bare.cpu / bare.articles:>12.2f}{measured:>12.2f}"
        f"{sum(trips.values()):>12.1f}"
    )
    w(
        f"  (newswire stages: the task bodies run in-process on {sample.articles} articles of"
        f" {sample.polls} sources; feed rebuild: {rebuild_count} coalesced rebuilds rendering"
        f" {e2e.feeds_rendered} feeds x 3 formats, {rebuild_seconds:.2f} s in the worker;"
    )
    w(
        f"   one rebuild of {sample.polls + 2} feeds in-process costs"
        f" {1000 * sample.rebuild_cpu:.1f} ms CPU and {sample.rebuild_trips} round trips;"
        " Celery = worker CPU from /proc minus the rest)"
    )
    w("")
    w("PEAK RSS (VmHWM) MiB")
    w("  newswire worker: " + ", ".join(f"{k} {v:.0f}" for k, v in e2e.worker_rss_mib.items()))
    w("  bare processes:  " + ", ".join(f"{v:.0f}" for v in bare.rss_mib))
    w("")
    stored = max(e2e.stored, 1)
    w(f"REDIS MEMORY PER STORED ARTICLE ({e2e.stored} stored; MEMORY USAGE of every key)")
    per_article_kinds = (
        "article hash",
        "seen (dedup) key",
        "HTTP validators",
        "feed indexes",
        "event stream",
        "refresh schedule",
        "syndication signatures",
        "syndication LSH buckets",
    )
    total_per_article = 0.0
    for kind in (
        *per_article_kinds,
        "template learning",  # per source, capped (tasks/template.py)
        "rendered feeds",
        "other (health, runs, metrics...)",
        "celery queues",
    ):
        if kind not in e2e.memory:
            continue
        count, used = e2e.memory[kind]
        share = used / stored
        if kind in per_article_kinds:
            total_per_article += share
            w(f"  {kind:<36}{count:>8} keys{used / 1024:>12.0f} KiB{share:>10.0f} B/article")
        else:
            w(f"  {kind:<36}{count:>8} keys{used / 1024:>12.0f} KiB   (not per article)")
    w(f"  {'per-article total':<36}{total_per_article:>41.0f} B/article")
    w(f"  INFO used_memory delta / article: {e2e.used_memory_delta / stored:.0f} B")
    w("")
    listing_304 = count_of(repoll.server, "listing 304")
    article_gets = sum(v for k, v in repoll.server["counts"].items() if k.startswith("article"))
    w(f"UNCHANGED RE-POLL of {args.sources} sources")
    w(f"  requests: {json.dumps(repoll.server['counts'], sort_keys=True)}")
    w(
        f"  {listing_304} conditional GETs answered 304, {article_gets} article GETs,"
        f" wall {repoll.command_wall:.2f} s (command),"
        f" worker CPU {1000 * repoll.worker_cpu:.0f} ms,"
        f" Redis commands {calls_only(repoll.redis_calls).total()}"
        f"   target {args.sources} x 304 and 0 article GETs:"
        f" {verdict(listing_304 == args.sources and article_gets == 0)}"
    )
    w(f"  {repoll.summary}")
    w("")
    small, large = sorted(scaling)
    small_ms, large_ms = scaling[small][0], scaling[large][0]
    w("FEED REBUILD vs STORED ARTICLES (one source's feeds: source, topic, all; 50 items each)")
    for size in (small, large):
        wall_ms, cpu_ms, size_trips = scaling[size]
        w(
            f"  {size:>8} stored articles: {wall_ms:8.1f} ms wall, {cpu_ms:8.1f} ms CPU"
            f" (best of 5), {size_trips} Redis round trips"
        )
    w(
        f"  ratio {large_ms / small_ms:.2f}   target: independent of stored articles (< 1.5):"
        f" {verdict(large_ms / small_ms < 1.5)}"
    )
    w("")
    poll_trips = trips.get("dedup/store", 0.0)
    dedup_per_poll = sample.stages.trips.get("dedup/store", 0) / max(sample.polls, 1)
    w("DEDUP ROUND TRIPS")
    w(
        f"  store.unknown_links: {dedup[20]} round trip(s) for 20 links, {dedup[1000]} for 1000"
        f" links   target 1 per listing page: {verdict(dedup[20] == 1 == dedup[1000])}"
    )
    w(
        f"  (dedup/store round trips in the sample: {poll_trips:.1f} per article,"
        f" {dedup_per_poll:.1f} per poll incl. the article saves)"
    )
    if profile:
        w("")
        w("PROFILES")
        out.extend(profile)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--light", action="store_true", help="~3 KB article pages instead of a real site's ~60 KB"
    )
    parser.add_argument("--sample-sources", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2, help="rounds of bare + newswire; best")
    parser.add_argument("--scale", type=int, default=100_000, help="stored articles, large case")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or LOCAL_REDIS)
    parser.add_argument("--profile", action="store_true", help="also profile with py-spy")
    parser.add_argument("--py-spy", help="path of the py-spy binary")
    parser.add_argument(
        "--cprofile", action="store_true", help="also cProfile the in-process stage sample"
    )
    args = parser.parse_args()
    if args.articles < args.sources:
        parser.error("--articles must be at least --sources")

    py_spy = find_py_spy(args.py_spy) if args.profile else None
    if args.profile and py_spy is None:
        parser.error("--profile needs py-spy (pip install py-spy, or --py-spy PATH)")
    redis = redis_lib.Redis.from_url(args.redis_url)
    redis_version = str(redis.info("server")["redis_version"])
    run = uuid.uuid4().hex[:10]
    prefix = f"nwbench:{run}:"
    tmp = Path(tempfile.mkdtemp(prefix=f"nwbench-{run}-"))
    began = time.monotonic()
    note(f"prefix {prefix}, work dir {tmp}")
    site = SiteServer(args.sources, args.articles, args.light)
    try:
        note(f"site {site.base_url}: {args.articles} articles on {args.sources} listings")
        listings = [f"{site.base_url}/s{i}/news" for i in range(args.sources)]
        assert sum(map(len, source_articles(args.sources, args.articles))) == args.articles
        bares: list[BareResult] = []
        e2es: list[E2EResult] = []
        for round_ in range(args.repeat):
            note(f"round {round_ + 1}/{args.repeat}: bare limit")
            wait_for_quiet()
            bare = run_bare(site, listings, args.processes)
            bares.append(bare)
            note(f"bare: {bare.articles} articles in {bare.wall:.2f} s ({bare.failed} failed)")
            note(f"round {round_ + 1}/{args.repeat}: newswire worker + fetch --all --wait")
            work = tmp / f"e2e{round_}"
            work.mkdir()
            e2es.append(
                run_e2e(
                    site,
                    redis,
                    args.redis_url,
                    f"{prefix}e2e{round_}:",
                    work,
                    args.sources,
                    args.processes,
                )
            )
            delete_prefix(redis, f"{prefix}e2e{round_}:")  # measured already; free the memory
        note("the issue's reference loop (full BeautifulSoup tree, naive title/date/body)")
        wait_for_quiet()
        naive = run_bare(site, listings, args.processes, naive=True)
        note("stage split (in process)")
        profiler = None
        if args.cprofile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        sample = run_sample(site, args.redis_url, f"{prefix}sample:", tmp, args.sample_sources)
        profile: list[str] = []
        if profiler is not None:
            profiler.disable()
            profile += summarize_cprofile(profiler, sample.articles)
        dedup = dedup_round_trips(args.redis_url, f"{prefix}dedup:")
        note(f"feed rebuild with 1000 and {args.scale} stored articles")
        scaling = rebuild_scaling(redis, args.redis_url, f"{prefix}scale:", tmp, (1000, args.scale))
        if py_spy:
            note("py-spy profile of a separate first poll")
            (tmp / "profile").mkdir()
            profile += run_profile(
                site,
                redis,
                args.redis_url,
                f"{prefix}profile:",
                tmp / "profile",
                args.sources,
                args.processes,
                py_spy,
            )
        lines = report(
            args,
            args.redis_url,
            redis_version,
            bares,
            e2es,
            naive,
            sample,
            dedup,
            scaling,
            profile,
        )
        print("\n".join(lines))
        print(f"\n(benchmark took {time.monotonic() - began:.0f} s)")
        return 0
    finally:
        site.stop()
        deleted = delete_prefix(redis, prefix)
        note(f"deleted {deleted} keys under {prefix}")
        redis.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
