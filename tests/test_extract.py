"""Article extraction: golden pages, configured selectors, and hostile input.

Each ``tests/data/pages/<case>.html`` has a ``<case>.json`` beside it stating what a reader
would say the page holds: title, publication date, attribution, authors, and snippets the body
must (and must not) contain. Optional keys are checked only when present.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config.sources import Source
from tasks.errors import ParseError
from tasks.extract import analyze_article, block_fingerprint, extract_article, parse_html
from tests.fixture_site import DISCLAIMER, article_html

PAGES = Path(__file__).parent / "data" / "pages"
CASES = sorted(path.stem for path in PAGES.glob("*.json"))
FETCHED_AT = datetime(2023, 9, 20, 12, 0, tzinfo=UTC)


def load_case(name: str) -> tuple[bytes, dict[str, Any]]:
    return (PAGES / f"{name}.html").read_bytes(), json.loads(
        (PAGES / f"{name}.json").read_text("utf-8")
    )


def test_there_are_enough_golden_pages() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("name", CASES)
def test_golden_page(name: str) -> None:
    html, expected = load_case(name)
    source = Source(**expected["source"]) if "source" in expected else None
    article = extract_article(
        html,
        expected["url"],
        source,
        fetched_at=FETCHED_AT,
        content_type=expected.get("content_type"),
    )

    assert article.title == expected["title"]
    published = expected["published"]
    if published is None:
        assert article.published is None
    elif len(published) == 10:  # a day: the page prints no time
        assert article.published is not None
        assert article.published.date().isoformat() == published
    else:
        assert article.published == datetime.fromisoformat(published)
    assert article.published is None or article.published.tzinfo is not None
    assert article.attribution == expected["attribution"]
    assert list(article.authors) == expected["authors"]
    for key in ("language", "image", "canonical_url", "summary"):
        if key in expected:
            assert getattr(article, key) == expected[key], key
    if "tags" in expected:
        assert list(article.tags) == expected["tags"]
    if "updated" in expected:
        assert article.updated == datetime.fromisoformat(expected["updated"])
    for field_name, origin in expected.get("provenance", {}).items():
        assert article.provenance.get(field_name) == origin, field_name

    for snippet in expected["body_contains"]:
        assert snippet in article.text, snippet
    for snippet in expected["body_not_contains"]:
        assert snippet not in article.text, snippet
        assert snippet not in article.content_html, snippet
    if "body_starts_with" in expected:
        assert article.text.startswith(expected["body_starts_with"])
    assert "<script" not in article.content_html
    assert article.fingerprint and article.id and article.fetched_at == FETCHED_AT


def test_text_has_paragraphs_separated_by_blank_lines() -> None:
    html, expected = load_case("seed_isit")
    article = extract_article(html, expected["url"])
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) == 7
    assert all(p.strip() == p and "\n" not in p for p in paragraphs)


def test_content_html_links_and_images_are_absolute() -> None:
    html, expected = load_case("jsonld_graph")
    article = extract_article(html, expected["url"])
    assert 'src="https://news.example.com/images/chart.png"' in article.content_html
    assert "onclick" not in article.content_html


def test_windows_874_bytes_are_not_mojibake() -> None:
    html, expected = load_case("seed_isit_windows874")
    with pytest.raises(UnicodeDecodeError):
        html.decode("utf-8")
    article = extract_article(html, expected["url"])  # charset from <meta> alone
    assert article.title == expected["title"]


def test_fixture_site_article() -> None:
    html = article_html(4, related=[5, 6, 7]).encode("cp874")
    article = extract_article(
        html, "http://127.0.0.1:8000/en/news/4", content_type="text/html; charset=windows-874"
    )
    assert article.title.startswith("ผู้ผลิตเหล็กญี่ปุ่น")
    assert article.published is not None and article.published.date().isoformat() == "2023-09-10"
    assert article.attribution == "Kallanish"
    assert "The 4th National Steel" in article.text
    assert DISCLAIMER[:40] not in article.text
    assert "Related News" not in article.text


def test_configured_selectors_win() -> None:
    source = Source(
        id="isit-news",
        url="https://www.isit.or.th/en/news",
        timezone="Asia/Bangkok",
        language="en",
        article={
            "title": "h1.news-title",
            "published": ".news-date",
            "body": ".news-detail",
            "attribution": ".news-source",
            "remove": [".related-news", ".disclaimer"],
        },
    )
    html = article_html(2, related=[3, 4])
    article = extract_article(html, "https://www.isit.or.th/en/news/2", source)
    assert article.source_id == "isit-news"
    assert article.provenance["title"] == "selector"
    assert article.provenance["content_html"] == "selector"
    assert article.provenance["published"] == "selector"
    assert article.published == datetime.fromisoformat("2023-09-12T00:00:00+07:00")
    assert article.attribution == "SteelOrbis"
    assert "Source :" not in article.text
    assert article.language == "th"  # the page says so; the source is only a fallback


def test_boilerplate_blocks_are_dropped() -> None:
    html, expected = load_case("seed_isit")
    first_paragraph = (
        "This meeting is guided by the China Iron and Steel Industry Association, hosted by"
        " China Metallurgical News, and organized by Nanjing Steel United Co., Ltd."
    )
    article, blocks = analyze_article(html, expected["url"])
    assert block_fingerprint(first_paragraph) in blocks
    cleaned = extract_article(
        html, expected["url"], boilerplate=frozenset({block_fingerprint(first_paragraph)})
    )
    assert first_paragraph in article.text
    assert first_paragraph not in cleaned.text
    assert "Zhang Haideng" in cleaned.text


def test_source_language_is_the_fallback() -> None:
    source = Source(id="x", url="https://example.com/news", language="en")
    html = "<html><body><h1>Steel prices rise</h1><p>" + "Prices rose again today. " * 20
    article = extract_article(html + "</p></body></html>", "https://example.com/a/1", source)
    assert article.language == "en"
    assert article.provenance["language"] == "source"


def test_no_date_means_none() -> None:
    html = "<html><body><h1>A headline here</h1><p>" + "Some text, more text. " * 20 + "</p>"
    article = extract_article(html, "https://example.com/story/abc")
    assert article.published is None


def test_date_in_url_is_a_fallback() -> None:
    html = "<html><body><h1>A headline here</h1><p>" + "Some text, more text. " * 20 + "</p>"
    article = extract_article(html, "https://example.com/2023/09/14/story")
    assert article.published is not None and article.published.date().isoformat() == "2023-09-14"
    assert article.provenance["published"] == "url"


def test_parse_html_decodes_bytes() -> None:
    soup = parse_html("<p>ภาษาไทย</p>".encode("cp874"), "text/html; charset=tis-620")
    assert soup.get_text() == "ภาษาไทย"


HOSTILE_INPUTS: list[bytes | str] = [
    b"",
    "",
    "   ",
    b"\x00\x01\x02\xff\xfe\xfd" * 500,
    bytes(range(256)) * 40,
    "<" * 5000,
    "<html><body>" + "<div>" * 5000 + "deep" + "</div>" * 5000 + "</body></html>",
    "<html><body>" + "<b><i>" * 3000 + "x",
    "<html><head><title></title></head><body></body></html>",
    "<table><tr><td><table><tr><td>" * 200,
    "<p>unclosed <a href='javascript:alert(1)'>x <script>alert(1)</script>",
    '<script type="application/ld+json">{"@type": "NewsArticle", "headline": </script>',
    "<html><body><svg><text>only svg</text></svg></body></html>",
    "\ufeff<?xml version='1.0'?><rss><channel><title>feed</title></channel></rss>",
]


@pytest.mark.parametrize("html", HOSTILE_INPUTS, ids=range(len(HOSTILE_INPUTS)))
def test_hostile_input_gives_article_or_no_content(html: bytes | str) -> None:
    try:
        article = extract_article(html, "https://example.com/page")
    except ParseError as error:
        assert error.reason in ("no_content", "too_deep")
        assert error.url == "https://example.com/page"
    else:
        assert article.title or article.text
        assert "<script" not in article.content_html
        assert "javascript:" not in article.content_html
