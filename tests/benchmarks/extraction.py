"""Extraction benchmark: newswire vs trafilatura vs readability-lxml on a directory of cases.

Usage (from the repository root):

    .venv/bin/python tests/benchmarks/extraction.py [DIR] [--worst N] [--only NAME]

DIR holds one directory per case with ``source.html``, ``expected.html`` (the reference body)
and ``expected-metadata.json`` (``title``, optionally ``publishedTime``); the default is the
Readability.js test pages in ../shared/corpus/readability-test-pages. Printed per extractor:

- body precision / recall / F1: word 4-gram shingles over normalized, lower-cased text,
  macro-averaged over cases;
- title: exact match after whitespace normalization;
- date: published date right to the day, over the cases whose metadata has ``publishedTime``;
- median (and mean) milliseconds per page.

trafilatura and readability-lxml are measured only when importable; they are benchmark
comparators, never runtime dependencies. Not collected by pytest (tests/benchmarks is excluded).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bs4 import BeautifulSoup  # noqa: E402

from tasks.errors import ParseError  # noqa: E402
from tasks.extract import extract_article  # noqa: E402

DEFAULT_DIR = REPO.parent / "shared" / "corpus" / "readability-test-pages"
PAGE_URL = "http://fakehost/test/page.html"
SHINGLE = 4
# The Readability test pages are years old; "now" is far enough ahead to accept all of them.
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Case:
    name: str
    html: str
    expected_text: str
    title: str
    published: date | None


@dataclass
class Result:
    """What one extractor produced for one case."""

    text: str
    title: str
    published: date | None
    ms: float


@dataclass
class Scores:
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    titles: list[bool] = field(default_factory=list)
    dates: list[bool] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    per_case: dict[str, float] = field(default_factory=dict)


def shingles(text: str) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    if len(words) < SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def body_scores(predicted: str, expected: str) -> tuple[float, float, float]:
    got, want = shingles(predicted), shingles(expected)
    if not got and not want:
        return 1.0, 1.0, 1.0
    if not got or not want:
        return 0.0, 0.0, 0.0
    common = len(got & want)
    precision, recall = common / len(got), common / len(want)
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return precision, recall, f1


def normalize(text: str) -> str:
    return " ".join(text.split())


def html_text(html: str) -> str:
    return BeautifulSoup(html, "lxml").get_text(" ")


def expected_date(metadata: dict[str, object]) -> date | None:
    value = metadata.get("publishedTime")
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def load_cases(directory: Path, only: str | None) -> list[Case]:
    cases = []
    for case_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        if only and only not in case_dir.name:
            continue
        try:
            source = (case_dir / "source.html").read_text(encoding="utf-8", errors="replace")
            expected = (case_dir / "expected.html").read_text(encoding="utf-8", errors="replace")
            metadata = json.loads((case_dir / "expected-metadata.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        cases.append(
            Case(
                name=case_dir.name,
                html=source,
                expected_text=html_text(expected),
                title=str(metadata.get("title") or ""),
                published=expected_date(metadata),
            )
        )
    return cases


def run_newswire(html: str) -> tuple[str, str, date | None]:
    try:
        article = extract_article(html, PAGE_URL, fetched_at=datetime.now().astimezone())
    except ParseError:
        return "", "", None
    return article.text, article.title, article.published.date() if article.published else None


def trafilatura_runner() -> Callable[[str], tuple[str, str, date | None]] | None:
    try:
        import trafilatura
    except ImportError:
        return None

    def run(html: str) -> tuple[str, str, date | None]:
        document = trafilatura.bare_extraction(
            html, url=PAGE_URL, with_metadata=True, include_comments=False
        )
        if document is None:
            return "", "", None
        published = None
        if getattr(document, "date", None):
            try:
                published = date.fromisoformat(str(document.date)[:10])
            except ValueError:
                published = None
        return document.text or "", document.title or "", published

    return run


def readability_runner() -> Callable[[str], tuple[str, str, date | None]] | None:
    try:
        from readability import Document
    except ImportError:
        return None

    def run(html: str) -> tuple[str, str, date | None]:
        document = Document(html, url=PAGE_URL)
        body = document.summary(html_partial=True)
        return html_text(body), document.short_title() or "", None

    return run


def measure(
    name: str, run: Callable[[str], tuple[str, str, date | None]], cases: list[Case]
) -> Scores:
    scores = Scores()
    for case in cases:
        started = time.perf_counter()
        try:
            text, title, published = run(case.html)
        except Exception as exc:  # a comparator crashing on a page scores zero, not the run
            print(f"  {name} failed on {case.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            text, title, published = "", "", None
        scores.ms.append((time.perf_counter() - started) * 1000)
        precision, recall, f1 = body_scores(text, case.expected_text)
        scores.precision.append(precision)
        scores.recall.append(recall)
        scores.f1.append(f1)
        scores.per_case[case.name] = f1
        scores.titles.append(normalize(title) == normalize(case.title))
        if case.published is not None:
            scores.dates.append(published == case.published)
    return scores


def mean(values: list[float] | list[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--worst", type=int, default=0, help="list the N worst cases (F1)")
    parser.add_argument("--only", help="run only cases whose name contains this")
    parser.add_argument("--newswire-only", action="store_true", help="skip the comparators")
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    cases = load_cases(args.directory, args.only)
    if not cases:
        sys.exit(f"no cases found in {args.directory}")
    runners: list[tuple[str, Callable[[str], tuple[str, str, date | None]]]] = [
        ("newswire", run_newswire)
    ]
    if not args.newswire_only:
        for label, factory in (
            ("trafilatura", trafilatura_runner),
            ("readability-lxml", readability_runner),
        ):
            runner = factory()
            if runner is None:
                print(f"({label} not installed: skipped)")
            else:
                runners.append((label, runner))

    # Warm up every extractor once so imports and regex compilation are not timed.
    for _, run in runners:
        run(cases[0].html)
    results = {label: measure(label, run, cases) for label, run in runners}

    dated = sum(1 for case in cases if case.published is not None)
    print(f"\n{len(cases)} cases from {args.directory} ({dated} with a publishedTime)\n")
    header = (
        f"{'extractor':<18} {'precision':>9} {'recall':>7} {'F1':>7} {'title':>7}"
        f" {'date':>7} {'median ms':>10} {'mean ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for label, scores in results.items():
        date_score = f"{mean(scores.dates):7.3f}" if scores.dates else f"{'n/a':>7}"
        print(
            f"{label:<18} {mean(scores.precision):9.3f} {mean(scores.recall):7.3f}"
            f" {mean(scores.f1):7.3f} {mean(scores.titles):7.3f} {date_score}"
            f" {statistics.median(scores.ms):10.1f} {mean(scores.ms):8.1f}"
        )
    if args.worst:
        ours = results["newswire"]
        print(f"\nworst {args.worst} cases for newswire (F1; precision/recall):")
        order = sorted(range(len(cases)), key=lambda i: ours.f1[i])
        for index in order[: args.worst]:
            others = " ".join(
                f"{label}={scores.f1[index]:.2f}"
                for label, scores in results.items()
                if label != "newswire"
            )
            print(
                f"  {cases[index].name:<40} {ours.f1[index]:.2f}"
                f" ({ours.precision[index]:.2f}/{ours.recall[index]:.2f}) {others}"
            )


if __name__ == "__main__":
    main()
