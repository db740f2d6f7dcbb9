"""`newswire check SOURCE_ID|URL`: fetch and parse now, write nothing, explain what was found.

For each article it prints every field with where it came from (selector, JSON-LD, heuristic...),
so an operator can see why a field is wrong and fix it with a selector. Exits non-zero when
nothing usable was found, printing the reason code of every failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from config.settings import Settings
from config.sources import Source
from tasks.errors import NewswireError, ParseError
from tasks.extract import extract_links
from tasks.fetch import Fetcher
from tasks.models import Article, FetchedPage
from tasks.pipeline import extract, links_from_feed

# Bodies shorter than this are reported: usually a wrong container or a teaser page.
SHORT_BODY = 200


def _source_for(target: str, sources: Sequence[Source]) -> Source:
    for source in sources:
        if source.id == target:
            return source
    if "://" not in target:
        known = ", ".join(s.id for s in sources) or "none"
        raise ParseError(f"{target!r} is neither a source id ({known}) nor a URL", "config")
    return Source(id="check", name=target, url=target)


def _describe(article: Article, out: list[str]) -> None:
    where = article.provenance
    published = article.published.isoformat() if article.published else "-"
    out.append(f"- {article.title or '(no title)'}   [title: {where.get('title', '?')}]")
    out.append(f"    url:         {article.url}")
    if article.canonical_url != article.url:
        out.append(f"    canonical:   {article.canonical_url}")
    out.append(f"    published:   {published}   [{where.get('published', '?')}]")
    out.append(f"    body:        {len(article.text)} chars   [{where.get('body', '?')}]")
    out.append(f"    attribution: {article.attribution or '-'}")
    if article.authors:
        out.append(f"    authors:     {', '.join(article.authors)}")
    if article.image:
        out.append(f"    image:       {article.image}")
    out.append(f"    language:    {article.language or '-'}")


def _warnings(articles: list[Article]) -> list[str]:
    warnings = []
    undated = [a for a in articles if a.provenance.get("published") == "first_seen"]
    if undated:
        warnings.append(
            f"no date found on {len(undated)} of {len(articles)} page(s) (set article.published)"
        )
    short = [a for a in articles if len(a.text) < SHORT_BODY]
    if short:
        warnings.append(f"empty or very short body on {len(short)} page(s) (set article.body)")
    return warnings


def run_check(
    settings: Settings,
    sources: Sequence[Source],
    target: str,
    limit: int = 5,
    as_json: bool = False,
) -> int:
    failures: list[NewswireError] = []
    articles: list[Article] = []
    warnings: list[str] = []
    fetcher = Fetcher(settings, None)
    now = datetime.now(UTC)
    try:
        source = _source_for(target, sources)
        page = fetcher.get(source.url, source=source, expect_html=source.kind != "feed")
        links = _article_links(page, source)
        if not links and source.kind == "listing":
            warnings.append("no article links found on the page; reading it as an article")
        pages: list[FetchedPage] = [] if links else [page]
        for url in links[:limit]:
            try:
                pages.append(fetcher.get(url, source=source))
            except NewswireError as error:
                failures.append(error)
        for article_page in pages:
            try:
                articles.append(extract(article_page, source, frozenset(), now)[0])
            except NewswireError as error:
                failures.append(error)
        if links:
            warnings.insert(
                0, f"{len(links)} article link(s) on the listing; checked {min(limit, len(links))}"
            )
    except NewswireError as error:
        failures.append(error)
    finally:
        fetcher.close()
    warnings.extend(_warnings(articles))

    if as_json:
        print(
            json.dumps(
                {
                    "articles": [a.to_dict() for a in articles],
                    "warnings": warnings,
                    "failures": [f.to_dict() for f in failures],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        out: list[str] = [f"{len(articles)} article(s) from {target}"]
        for article in articles:
            _describe(article, out)
        out.extend(f"warning: {w}" for w in warnings)
        print("\n".join(out))
        for failure in failures:
            print(f"failed: {failure.reason}: {failure}", file=sys.stderr)
    usable = [a for a in articles if a.title and a.text]
    if not usable:
        reasons = sorted({f.reason for f in failures}) or ["no_content"]
        print(f"nothing usable found: {', '.join(reasons)}", file=sys.stderr)
        return 1
    return 0


def _article_links(page: FetchedPage, source: Source) -> list[str]:
    if source.kind == "article":
        return []
    if source.kind == "feed":
        return links_from_feed(page.content, page.final_url)
    return extract_links(page.text or page.content, page.final_url, source)
