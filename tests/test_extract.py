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
from tasks import extract
from tasks.errors import ParseError
from tasks.extract import (
    analyze_article,
    block_fingerprint,
    detect_language,
    extract_article,
    parse_html,
)
from tests.fixture_site import DISCLAIMER, article_html, listing_html

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


def test_marked_article_body_is_cleaned_and_its_gallery_dropped() -> None:
    paragraph = "<p>Steel demand in the region held up through the quarter, analysts said.</p>"
    gallery = "".join(
        f"<li><h2>{n}/20 Photo of the day</h2><p>A caption that runs for a while, {n}.</p></li>"
        for n in range(1, 21)
    )
    html = (
        "<html><body><article><h1>Demand holds up in the region</h1>"
        '<div itemprop="articleBody" id="share-buttons-parent">'
        + paragraph * 8
        + f'<div class="inline-gallery"><ul class="slides">{gallery}</ul></div>'
        + paragraph * 2
        + "</div></article></body></html>"
    )
    article = extract_article(html, "https://example.com/news/demand")
    assert article.provenance["content_html"] == "microdata"
    assert "Steel demand in the region" in article.text
    assert "Photo of the day" not in article.text


ENGLISH = (
    "The mills restarted on Monday and the port was open again, officials said. Most of the"
    " damage has been repaired by crews from the grid, which is expected to finish this week. "
) * 4
THAI = "โรงงานเหล็กในภาคตะวันออกกลับมาเดินเครื่องอีกครั้งหลังน้ำท่วม ผู้ประกอบการกล่าว " * 8


def _page(text: str, lang: str = "") -> str:
    attribute = f' lang="{lang}"' if lang else ""
    return f"<html{attribute}><body><h1>Headline</h1><p>{text}</p></body></html>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ENGLISH, "en"),
        (THAI, "th"),
        (
            "Les usines ont redémarré lundi et le port est de nouveau ouvert, selon les autorités"
            " qui ont visité le site avec les responsables des entreprises. " * 4,
            "fr",
        ),
        (
            "Die Werke sind am Montag wieder angelaufen und der Hafen ist wieder offen, sagten"
            " die Behörden, die auch mit den Betreibern sprachen. " * 4,
            "de",
        ),
        ("製鉄所は月曜日に操業を再開し、港も再び開かれたと当局者は述べた。" * 4, "ja"),
        ("钢厂周一恢复生产，港口也重新开放，官员表示。" * 6, "zh"),
        ("제철소가 월요일에 가동을 재개했고 항구도 다시 열렸다고 관계자들이 말했다. " * 4, "ko"),
        (
            "Заводы возобновили работу в понедельник, порт снова открыт, сообщили чиновники. " * 4,
            "ru",
        ),
        (
            "Заводи відновили роботу в понеділок, порт знову відкритий, повідомили урядовці. " * 4,
            "uk",
        ),
        ("استأنفت مصانع الصلب العمل يوم الاثنين وأعيد فتح الميناء، بحسب المسؤولين. " * 4, "ar"),
        (
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"
            " incididunt ut labore et dolore magna aliqua est. " * 4,
            None,
        ),
    ],
)
def test_language_is_read_from_the_text_when_the_page_declares_none(
    text: str, expected: str | None
) -> None:
    article = extract_article(_page(text), "https://example.com/a/1")
    assert article.language == expected
    if expected:
        assert article.provenance["language"] == "text"


def test_declared_language_wins_over_the_text() -> None:
    article = extract_article(_page(THAI, lang="th-TH"), "https://example.com/a/1")
    assert article.language == "th-TH"
    assert article.provenance["language"] == "html"


def test_script_overrides_a_source_language_it_rules_out() -> None:
    source = Source(id="x", url="https://example.com/news", language="en")
    thai = extract_article(_page(THAI), "https://example.com/a/1", source)
    assert thai.language == "th"
    assert thai.provenance["language"] == "text"
    # Latin-script text is not certain enough to overrule the configuration.
    french = "Les usines ont redémarré lundi et le port est de nouveau ouvert. " * 8
    assert extract_article(_page(french), "https://example.com/a/2", source).language == "en"


def test_language_detection_is_cheap_on_long_pages() -> None:
    language, by_script = detect_language(ENGLISH * 500)
    assert (language, by_script) == ("en", False)
    assert detect_language("") == (None, False)
    assert detect_language("12 34 56 !!") == (None, False)


def test_title_follows_the_h1_not_the_site_suffixed_metadata() -> None:
    html = (
        "<html><head><title>Steel exports rise | Metals Weekly</title>"
        '<meta property="og:title" content="Steel exports rise | Metals Weekly"></head>'
        "<body><h1>Steel exports rise</h1><p>"
        + "Exports rose again, traders said. " * 20
        + "</p></body></html>"
    )
    article = extract_article(html, "https://example.com/a/1")
    assert article.title == "Steel exports rise"
    assert article.provenance["title"] == "h1"


def test_footer_copyright_year_is_never_the_publication_date() -> None:
    html = (
        "<html><body><h1>A headline here</h1><p>" + "Some text, more text. " * 20 + "</p>"
        '<footer><p class="copyright-date">Copyright © 2019–2023 Example Media</p></footer>'
        "</body></html>"
    )
    article = extract_article(html, "https://example.com/story/abc", fetched_at=FETCHED_AT)
    assert article.published is None


def test_published_date_is_never_after_the_fetch() -> None:
    html = (
        '<html><head><meta property="article:published_time" content="2023-09-20T18:00:00Z">'
        "</head><body><h1>A headline here</h1><p>" + "Some text, more text. " * 20 + "</p>"
        "</body></html>"
    )
    article = extract_article(html, "https://example.com/story/abc", fetched_at=FETCHED_AT)
    assert article.published == FETCHED_AT


# --- the faster tree builder and serializer must build and write exactly what bs4 does ----------

ODD_MARKUP = """<!DOCTYPE html><html xmlns:og="http://ogp.me/ns#"><head>
<meta property="og:title" content="A &quot;quoted&quot; &amp; 'mixed' title">
<script>if (a < b && c > d) { x = "</p>"; }</script><style>p > a { color: red }</style></head>
<body><!-- a comment --><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
<title>Icon</title><use xlink:href="#i"/></svg><math><mi>x</mi></math>
<p class="a  b" data-x='say "hi"' hidden>Fish &amp; chips &lt;3<br>next<img src=x.png alt=""></p>
<p>Thai: ราคาเหล็ก, non-breaking&nbsp;space</p><![CDATA[odd]]>
<table><tr><td>1</td></tr></table>
</body></html>"""


def _sample_pages() -> list[str]:
    from tests.benchmarks.site_chrome import dress

    return [
        ODD_MARKUP,
        article_html(3, related=[4, 5]),
        dress(article_html(7, related=[8]), 7),
        listing_html(1, 2, [1, 2, 3]),
    ]


def test_parse_html_builds_the_tree_stock_beautifulsoup_builds() -> None:
    from bs4 import BeautifulSoup

    for page in _sample_pages():
        stock = BeautifulSoup(page, "lxml", multi_valued_attributes=None)
        assert str(extract.parse_html(page)) == str(stock)


def test_body_serializer_writes_what_str_writes() -> None:
    for page in _sample_pages():
        soup = extract.parse_html(page)
        for tag in soup.find_all(True):
            assert extract._serialize(tag) == str(tag)


def test_times_on_teasers_of_other_stories_are_not_the_articles_date() -> None:
    from tests.benchmarks.site_chrome import dress

    url = "https://www.isit.or.th/en/news/5"
    plain = extract_article(article_html(5, related=[6]), url)
    # The dressed page adds most-read, latest and "more from this section" cards, each with a
    # machine-readable <time> of its own story.
    dressed = extract_article(dress(article_html(5, related=[6]), 5), url)
    assert plain.published is not None and dressed.published == plain.published

    page = """<html><body><div class="latest-news"><ul><li><a href="/n/9">Other story</a>
    <time datetime="2024-01-02">2 Jan</time></li></ul></div>
    <article><h1>Steel output rises</h1><time datetime="2023-05-06T08:00:00Z">6 May</time>
    <p>Mills raised output for the third month in a row, traders said on Friday, citing
    stronger demand from builders and carmakers across the region.</p></article></body></html>"""
    article = extract_article(page, "https://example.com/steel")
    assert article.published == datetime(2023, 5, 6, 8, tzinfo=UTC)
