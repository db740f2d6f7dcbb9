"""Syndication benchmark: signature speed, Redis memory per article, precision/recall by threshold.

Usage (from the repository root):

    .venv/bin/python tests/benchmarks/syndication.py [CORPUS_DIR] [--articles N]

Printed:

- signature time per article (median and p95 ms) for 2,000-word texts;
- Redis memory per indexed article: MEMORY USAGE of its ``sig:`` key and of the LSH bucket keys,
  summed over N indexed articles and divided by N (Redis from REDIS_URL, else 127.0.0.1:6379,
  else a private embedded redis-server; only keys under a throwaway prefix are touched);
- Redis calls per article: client time, commands and round trips of ``index`` and of
  ``find_original`` for a duplicate (candidates found) and for a text sharing no shingle;
- precision and recall by threshold, end to end (signature, LSH bands, threshold), on labelled
  pairs built from CORPUS_DIR (default: the Readability.js test pages in
  ../shared/corpus/readability-test-pages): every distinct article against its republications
  (wrapped in another title, intro line, source line and disclaimer; last 20 % cut; 5 % and 10 %
  of words replaced; first 60 % only), against a 25 % rewrite (word edits only for articles in
  spaced scripts), against every other article, and short different stories sharing an intro
  line and a disclaimer;
- the same on the hand-made set of tests/test_syndication.py.

Not collected by pytest (tests/benchmarks is excluded).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import redis as redis_lib  # noqa: E402
import redis.client  # noqa: E402
from bs4 import BeautifulSoup  # noqa: E402

from tasks import syndication  # noqa: E402
from tasks.models import Article  # noqa: E402
from tasks.syndication import Signature, signature, similarity  # noqa: E402
from tests.test_syndication import ISIT_DISCLAIMER, ISIT_INTRO, LABELLED  # noqa: E402
from worker.redis_server import EmbeddedRedis, reachable  # noqa: E402

DEFAULT_DIR = REPO.parent / "shared" / "corpus" / "readability-test-pages"
# Scripts written without spaces: replacing whitespace-separated "words" barely edits them.
UNSPACED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff]")
THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
Pair = tuple[str, bool, str, str]  # category, is a duplicate, first text, second text


def load_articles(directory: Path) -> dict[str, list[str]]:
    """Paragraphs of each case's reference body; near-identical cases kept once."""
    articles: dict[str, list[str]] = {}
    signatures: list[Signature] = []
    for case in sorted(directory.iterdir()):
        expected = case / "expected.html"
        if not expected.is_file():
            continue
        soup = BeautifulSoup(expected.read_text(encoding="utf-8"), "lxml")
        paragraphs = [
            p.get_text(" ", strip=True)
            for p in soup.find_all(["p", "li", "h2", "h3", "blockquote"])
        ]
        paragraphs = [p for p in paragraphs if p]
        if len(paragraphs) < 5:
            continue
        sig = signature("\n\n".join(paragraphs))
        if not sig or any(similarity(sig, other) > 0.3 for other in signatures):
            continue  # too short, or the same page as another case (base-url variants)
        signatures.append(sig)
        articles[case.name] = paragraphs
    return articles


def labelled_pairs(articles: dict[str, list[str]], seed: int = 11) -> list[Pair]:
    rng = random.Random(seed)
    vocabulary = sorted({w for ps in articles.values() for p in ps for w in p.split()})

    def join(paragraphs: list[str]) -> str:
        return "\n\n".join(paragraphs)

    def replace_words(paragraphs: list[str], rate: float) -> str:
        return join(
            [
                " ".join(rng.choice(vocabulary) if rng.random() < rate else w for w in p.split())
                for p in paragraphs
            ]
        )

    pairs: list[Pair] = []
    for ps in articles.values():
        text, n = join(ps), len(ps)
        wrapped = ["Another Title", ISIT_INTRO, *ps, "Source : wire", ISIT_DISCLAIMER]
        pairs += [
            ("wrapped", True, text, join(wrapped)),
            ("last 20% cut", True, text, join([*ps[: int(n * 0.8)], ISIT_DISCLAIMER])),
            ("first 60% only", True, text, join(ps[: int(n * 0.6)])),
        ]
        if len(UNSPACED.findall(text)) < len(text) / 10:
            pairs += [
                ("5% words replaced", True, text, replace_words(ps, 0.05)),
                ("10% words replaced", True, text, replace_words(ps, 0.10)),
                ("25% rewrite", False, text, replace_words(ps, 0.25)),
            ]
    names = list(articles)
    for a, b in itertools.combinations(names, 2):
        pairs.append(("different", False, join(articles[a]), join(articles[b])))
    for a, b in rng.sample(list(itertools.combinations(names, 2)), 300):
        short_a = join([ISIT_INTRO, *articles[a][:3], ISIT_DISCLAIMER])
        short_b = join([ISIT_INTRO, *articles[b][:3], ISIT_DISCLAIMER])
        pairs.append(("short, shared boilerplate", False, short_a, short_b))
    return pairs


def candidates(a: Signature, b: Signature) -> bool:
    """Whether the LSH bands would bring ``b`` up when looking for ``a``."""
    rows = syndication.ROWS
    return any(
        a[band * rows : (band + 1) * rows] == b[band * rows : (band + 1) * rows]
        for band in range(syndication.BANDS)
    )


def report_accuracy(title: str, pairs: list[Pair]) -> None:
    cache: dict[str, Signature] = {}

    def sig(text: str) -> Signature:
        if text not in cache:
            cache[text] = signature(text)
        return cache[text]

    scored = []
    for category, duplicate, a, b in pairs:
        sa, sb = sig(a), sig(b)
        found = bool(sa and sb) and candidates(sa, sb)
        scored.append((category, duplicate, similarity(sa, sb) if found else 0.0))
    positives = sum(duplicate for _, duplicate, _ in scored)
    print(f"\n{title}: {positives} duplicate pairs, {len(scored) - positives} others")
    for threshold in THRESHOLDS:
        tp = sum(1 for _, d, s in scored if d and s >= threshold)
        fp = Counter(c for c, d, s in scored if not d and s >= threshold)
        fn = Counter(c for c, d, s in scored if d and s < threshold)
        precision = tp / (tp + fp.total()) if tp + fp.total() else 1.0
        recall = tp / positives if positives else 1.0
        mark = " <- THRESHOLD" if threshold == syndication.THRESHOLD else ""
        print(f"  t={threshold:.2f}  precision {precision:.3f}  recall {recall:.3f}{mark}")
        if fp or fn:
            print(f"          false positives {dict(fp)}  misses {dict(fn)}")


def two_thousand_words(articles: dict[str, list[str]], count: int) -> list[str]:
    """``count`` different 2,000-word texts: corpus words when there are any, else a vocabulary."""
    words = [w for ps in articles.values() for p in ps for w in p.split()]
    if len(words) < 2000:
        words = [f"word{i}" for i in range(20000)]
    rng = random.Random(5)
    texts = []
    for _ in range(count):
        start = rng.randrange(len(words) - 2000) if len(words) > 2000 else 0
        texts.append(" ".join(words[start : start + 2000]))
    return texts


def report_speed(texts: list[str]) -> None:
    timings = []
    for text in texts:
        started = time.perf_counter()
        signature(text)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95)]
    print(
        f"signature, 2,000-word text: median {statistics.median(timings):.2f} ms, "
        f"p95 {p95:.2f} ms ({len(timings)} texts)"
    )


def redis_client() -> Iterator[redis_lib.Redis]:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if reachable(url):
        yield redis_lib.Redis.from_url(url)
        return
    embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="nwbench-")), appendonly=False)
    try:
        yield redis_lib.Redis.from_url(embedded.start())
    finally:
        embedded.stop()


def report_memory(texts: list[str]) -> None:
    prefix = f"nwbench:{uuid.uuid4().hex[:10]}:"
    for client in redis_client():
        try:
            for n, text in enumerate(texts):
                article = Article(
                    id=f"{n:020d}",
                    source_id=f"src-{n}",
                    url="u",
                    canonical_url="u",
                    title="",
                    text=text,
                )
                syndication.index(client, prefix, article, 3600)
            sig_bytes = bucket_bytes = 0
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                size = int(client.memory_usage(key, samples=0) or 0)
                if key.startswith(f"{prefix}sig:".encode()):
                    sig_bytes += size
                else:
                    bucket_bytes += size
            per = len(texts)
            total = (sig_bytes + bucket_bytes) / per
            version = client.info("server")["redis_version"]
            print(
                f"Redis {version}, per indexed article: {total:.0f} bytes "
                f"(signature hash {sig_bytes / per:.0f}, {syndication.BANDS} LSH buckets "
                f"{bucket_bytes / per:.0f}; {per} articles)"
            )
        finally:
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)


class CommandCounter:
    """Counts the commands and round trips a redis-py client sends (pipelines included)."""

    def __init__(self) -> None:
        self.commands = self.round_trips = 0

    def __enter__(self) -> CommandCounter:
        counter = self
        client: Any = redis_lib.Redis
        pipeline: Any = redis_lib.client.Pipeline
        single = client.execute_command
        batch = pipeline._execute_pipeline
        transaction = pipeline._execute_transaction

        def count_single(self: Any, *args: Any, **options: Any) -> Any:
            counter.commands += 1
            counter.round_trips += 1
            return single(self, *args, **options)

        def count_batch(self: Any, connection: Any, commands: Any, *rest: Any) -> Any:
            counter.commands += len(commands)
            counter.round_trips += 1
            return batch(self, connection, commands, *rest)

        def count_transaction(self: Any, connection: Any, commands: Any, *rest: Any) -> Any:
            counter.commands += len(commands) + 2  # MULTI, EXEC
            counter.round_trips += 1
            return transaction(self, connection, commands, *rest)

        self._restore = (single, batch, transaction)
        client.execute_command = count_single
        pipeline._execute_pipeline = count_batch
        pipeline._execute_transaction = count_transaction
        return self

    def __exit__(self, *exc: object) -> None:
        client: Any = redis_lib.Redis
        pipeline: Any = redis_lib.client.Pipeline
        single, batch, transaction = self._restore
        client.execute_command = single
        pipeline._execute_pipeline = batch
        pipeline._execute_transaction = transaction


def report_redis_calls(texts: list[str]) -> None:
    """Client time, commands and round trips of index() and find_original() per article.

    Signatures are computed beforehand (as save_article does), so only the Redis side is timed:
    ``index`` of each text, then ``find_original`` of the same text from another source (a
    duplicate: candidates found) and of a text that shares no shingle with any indexed one.
    """
    prefix = f"nwbench:{uuid.uuid4().hex[:10]}:"
    half = len(texts) // 2
    indexed = texts[:half]
    novel = [" ".join(reversed(text.split())) for text in texts[half:]]  # no shingle in common

    def article(n: int, source: str, text: str) -> Article:
        return Article(
            id=f"{source}-{n:012d}",
            source_id=source,
            url="u",
            canonical_url="u",
            title="",
            text=text,
        )

    for client in redis_client():
        try:
            client.ping()
            rows = []
            for label, source, batch, call in (
                ("index", "a", indexed, "index"),
                ("find_original, a duplicate", "b", indexed, "find"),
                ("find_original, nothing similar", "c", novel, "find"),
            ):
                sigs = [signature(text) for text in batch]
                articles = [article(n, source, text) for n, text in enumerate(batch)]
                with CommandCounter() as counter:
                    started = time.perf_counter()
                    for item, sig in zip(articles, sigs, strict=True):
                        if call == "index":
                            syndication.index(client, prefix, item, 3600, sig)
                        else:
                            syndication.find_original(client, prefix, item, sig)
                    elapsed = time.perf_counter() - started
                n = len(batch)
                rows.append(
                    f"  {label}: {elapsed / n * 1000:.2f} ms, {counter.commands / n:.1f} "
                    f"commands, {counter.round_trips / n:.1f} round trips per article"
                )
            print(f"Redis calls ({half} articles each):")
            print("\n".join(rows))
        finally:
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--articles", type=int, default=500, help="texts to time and index")
    options = parser.parse_args()
    articles = load_articles(options.corpus) if options.corpus.is_dir() else {}
    texts = two_thousand_words(articles, options.articles)
    print(
        f"k={syndication.SHINGLE_WORDS} words, {syndication.SLOTS} slots, "
        f"{syndication.BANDS} bands x {syndication.ROWS} rows, threshold {syndication.THRESHOLD}"
    )
    report_speed(texts)
    report_memory(texts)
    report_redis_calls(texts)
    if articles:
        report_accuracy(f"corpus ({len(articles)} articles)", labelled_pairs(articles))
    else:
        print(f"\nno corpus at {options.corpus}: corpus precision/recall skipped")
    report_accuracy("tests/test_syndication.py", [(n, d, a, b) for n, a, b, d in LABELLED])


if __name__ == "__main__":
    main()
