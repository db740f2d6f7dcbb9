"""Feed rendering (tasks/feeds.py): golden files, round trips, determinism and validity.

Golden files live in tests/data/feeds/. After an intended change to the output, regenerate them
with ``UPDATE_GOLDEN=1 pytest tests/test_feeds.py`` and review the diff.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import stat
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import jsonschema
import pytest
import redis as redis_lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from lxml import etree

import tasks.feeds
from config.settings import Settings
from config.sources import Source, parse_sources
from tasks import store
from tasks.feedbuild import feed_plans, rebuild_feed, rebuild_feeds
from tasks.feeds import (
    FORMATS,
    FeedInfo,
    ItemCache,
    feed_url,
    render,
    render_all,
    render_atom,
    render_index_html,
    render_json,
    render_opml,
    render_rss,
    write_atomic,
)
from tasks.keys import Keys
from tasks.models import Article
from tasks.normalize import article_id, canonical_url
from tasks.store import feed_articles

GOLDEN_DIR = Path(__file__).parent / "data" / "feeds"
JSON_FEED_SCHEMA = json.loads((GOLDEN_DIR / "jsonfeed-1.1.schema.json").read_text("utf-8"))
ATOM = "{http://www.w3.org/2005/Atom}"
BANGKOK = ZoneInfo("Asia/Bangkok")
PUBLIC_URL = "http://localhost:8080"

# Hypothesis writes caches to ./.hypothesis while pytest collects; because pyproject.toml sets
# `norecursedirs` (replacing pytest's default ignores), the next run warns about that directory,
# and warnings are errors. Keep Hypothesis's storage outside the repository unless the
# environment chose a place. (Adding ".*" to norecursedirs would make this unnecessary.)
if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "newswire-hypothesis")

THAI_TITLE = "การประชุมการพัฒนาเหล็กสีเขียวและคาร์บอนต่ำแห่งชาติครั้งที่ 4 จัดขึ้นที่เมือง Nanjing."

INFO = FeedInfo(
    name="isit-news",
    title="Iron & Steel Institute of Thailand — News",
    description="Articles from https://www.isit.or.th/th/news",
    site_url="https://www.isit.or.th/th/news",
    public_url=PUBLIC_URL,
    language="th",
    hub_url="https://hub.example.org/",
    ttl_minutes=15,
)
TOPIC_INFO = FeedInfo(
    name="steel",
    title="Topic: steel",
    description="Articles on steel from every source",
    site_url=PUBLIC_URL,
    public_url=PUBLIC_URL,
)
ALL_INFO = FeedInfo(
    name="all",
    title="All news",
    description="Articles from every source",
    site_url=PUBLIC_URL,
    public_url=PUBLIC_URL,
)

# Newest first, as every feed must list them.
THAI = Article(
    id="5f0c2b7e9a1d4c3b8e6f",
    source_id="isit-news",
    url="https://www.isit.or.th/th/news/4521",
    canonical_url="https://www.isit.or.th/th/news/4521",
    title=THAI_TITLE,
    summary="สมาคมเหล็กและเหล็กกล้าแห่งประเทศจีนจัดการประชุมที่เมืองหนานจิง",
    content_html=(
        "<p>สมาคมเหล็กและเหล็กกล้าแห่งประเทศจีน (CISA) จัดการประชุมที่เมืองหนานจิง</p>\n"
        '<p>อ่านเพิ่มเติมที่ <a href="https://www.chinaisa.org.cn/">CISA</a> &amp; ISIT.</p>'
    ),
    text="สมาคมเหล็กและเหล็กกล้าแห่งประเทศจีน (CISA) จัดการประชุมที่เมืองหนานจิง อ่านเพิ่มเติมที่ CISA & ISIT.",
    published=datetime(2023, 9, 14, 10, 30, tzinfo=BANGKOK),
    fetched_at=datetime(2023, 9, 14, 6, 0, tzinfo=UTC),
    attribution="CISA",
    language="th",
    fingerprint="0123456789abcdef0123456789abcdef",
)
ILLUSTRATED = Article(
    id="a3e1d9c07b5f2e8d4c6a",
    source_id="isit-news",
    url="https://www.isit.or.th/en/news/4519?utm_source=x",
    canonical_url="https://www.isit.or.th/en/news/4519",
    title="Green steel: furnaces & hydrogen",
    summary="Two mills switch to electric arc furnaces.",
    content_html='<p>Two mills switch.</p><p><img src="https://www.isit.or.th/img/furnace.jpg"></p>',
    text="Two mills switch.",
    published=datetime(2023, 9, 12, 8, 0, tzinfo=UTC),
    updated=datetime(2023, 9, 13, 9, 15, tzinfo=UTC),
    fetched_at=datetime(2023, 9, 12, 8, 5, tzinfo=UTC),
    authors=("Jane Doe", "Somchai Jaidee <somchai@example.org>"),
    language="en",
    image="https://www.isit.or.th/img/furnace.jpg",
    tags=("steel", "green steel", "hydrogen"),
    duplicate_of="0d9e8f7a6b5c4d3e2f1a",
)
FIRST_SEEN = Article(  # no date on the page: the time newswire first saw it stands in
    id="0f1e2d3c4b5a69788796",
    source_id="isit-news",
    url="https://www.isit.or.th/en/news/4500",
    canonical_url="https://www.isit.or.th/en/news/4500",
    title="",
    text="Quarterly production figures are out. Crude steel output rose 3% year on year, "
    "led by the eastern mills.",
    content_html="<p>Quarterly production figures are out. Crude steel output rose 3%.</p>",
    fetched_at=datetime(2023, 9, 1, 12, 0, tzinfo=UTC),
)
UNDATED = Article(  # no date at all, a relative URL and characters XML cannot carry
    id="ffee00112233445566aa",
    source_id="isit-news",
    url="/th/news/4400",
    canonical_url="/th/news/4400",
    title="Control\x00 characters\x0b and a CDATA end ]]> in <the> title\ufffe",
    content_html="<p>Body with ]]&gt; and \x1b escape</p>",
    authors=("<b>Staff</b>",),
)
GOLDEN_ARTICLES = (THAI, ILLUSTRATED, FIRST_SEEN, UNDATED)


def assert_golden(name: str, data: bytes) -> None:
    """Compare with tests/data/feeds/<name>; UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN_DIR / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert data.decode("utf-8") == path.read_text("utf-8")


def rss_items(data: bytes) -> list[Any]:
    return etree.fromstring(data).findall("channel/item")


def atom_entries(data: bytes) -> list[Any]:
    return etree.fromstring(data).findall(f"{ATOM}entry")


def json_items(data: bytes) -> list[dict[str, Any]]:
    feed = json.loads(data)
    jsonschema.validate(feed, JSON_FEED_SCHEMA)
    items: list[dict[str, Any]] = feed["items"]
    return items


# --------------------------------------------------------------------------------------------
# Golden files and determinism


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_feed_matches_golden_file(fmt: str) -> None:
    assert_golden(f"isit-news.{fmt}", render(INFO, GOLDEN_ARTICLES, fmt))


def test_opml_and_index_match_golden_files() -> None:
    feeds = [INFO, TOPIC_INFO, ALL_INFO]
    assert_golden("feeds.opml", render_opml(feeds, PUBLIC_URL))
    assert_golden("index.html", render_index_html(feeds, PUBLIC_URL))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_same_articles_in_any_order_give_identical_bytes(fmt: str) -> None:
    expected = render(INFO, GOLDEN_ARTICLES, fmt)
    assert render(INFO, GOLDEN_ARTICLES, fmt) == expected
    shuffler = random.Random(4)
    for _ in range(5):
        shuffled = list(GOLDEN_ARTICLES)
        shuffler.shuffle(shuffled)
        assert render(INFO, shuffled, fmt) == expected


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_items_are_newest_first_by_published_then_fetched_at(fmt: str) -> None:
    data = render(INFO, list(reversed(GOLDEN_ARTICLES)), fmt)
    expected_ids = [a.id for a in GOLDEN_ARTICLES]
    if fmt == "rss":
        assert [i.findtext("guid") for i in rss_items(data)] == expected_ids
    elif fmt == "atom":
        ids = [e.findtext(f"{ATOM}id") for e in atom_entries(data)]
        assert ids == [f"urn:newswire:article:{i}" for i in expected_ids]
    else:
        assert [i["id"] for i in json_items(data)] == expected_ids


def test_equal_dates_are_ordered_by_id() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    articles = [THAI.replace(id=i, published=when) for i in ("c", "a", "b")]
    assert [i["id"] for i in json_items(render_json(INFO, articles))] == ["a", "b", "c"]


def test_feed_date_is_the_newest_article_date_never_the_clock() -> None:
    # THAI was published at 03:30 UTC on the 14th and fetched at 06:00: the newest date of all.
    rss = etree.fromstring(render_rss(INFO, GOLDEN_ARTICLES))
    assert rss.findtext("channel/lastBuildDate") == "Thu, 14 Sep 2023 06:00:00 +0000"
    assert rss.findtext("channel/pubDate") == "Thu, 14 Sep 2023 06:00:00 +0000"
    atom = etree.fromstring(render_atom(INFO, GOLDEN_ARTICLES))
    assert atom.findtext(f"{ATOM}updated") == "2023-09-14T06:00:00+00:00"

    only_updated = [ILLUSTRATED]
    atom = etree.fromstring(render_atom(INFO, only_updated))
    assert atom.findtext(f"{ATOM}updated") == "2023-09-13T09:15:00+00:00"


def test_empty_feed_has_a_fixed_date() -> None:
    rss = etree.fromstring(render_rss(INFO, []))
    assert rss.findtext("channel/lastBuildDate") == "Thu, 01 Jan 1970 00:00:00 +0000"
    assert rss.findall("channel/item") == []
    atom = etree.fromstring(render_atom(INFO, []))
    assert atom.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00+00:00"
    assert json_items(render_json(INFO, [])) == []


def test_generator_names_newswire_without_a_version() -> None:
    rss = etree.fromstring(render_rss(INFO, GOLDEN_ARTICLES))
    assert rss.findtext("channel/generator") == "newswire"
    generator = etree.fromstring(render_atom(INFO, GOLDEN_ARTICLES)).find(f"{ATOM}generator")
    assert generator is not None
    assert generator.text == "newswire"
    assert generator.get("version") is None


def test_naive_datetimes_are_taken_as_utc() -> None:
    aware = THAI.replace(published=datetime(2023, 9, 14, 3, 30, tzinfo=UTC))
    naive = THAI.replace(published=datetime(2023, 9, 14, 3, 30))
    other_zone = THAI.replace(
        published=datetime(2023, 9, 14, 5, 30, tzinfo=timezone(timedelta(hours=2)))
    )
    for fmt in FORMATS:
        expected = render(INFO, [aware], fmt)
        assert render(INFO, [naive], fmt) == expected
        assert render(INFO, [other_zone], fmt) == expected


# --------------------------------------------------------------------------------------------
# Round trips through a real feed parser


def parse(data: bytes) -> Any:
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def test_rss_round_trip() -> None:
    parsed = parse(render_rss(INFO, GOLDEN_ARTICLES))
    assert parsed.version == "rss20"
    assert parsed.feed.title == INFO.title
    assert parsed.feed.link == INFO.site_url
    assert parsed.feed.language == "th"
    assert parsed.feed.ttl == "15"
    rels = {link.rel: link.href for link in parsed.feed.links}
    assert rels["self"] == "http://localhost:8080/feeds/isit-news.rss"
    assert rels["hub"] == "https://hub.example.org/"

    thai, illustrated, first_seen, undated = parsed.entries
    assert thai.id == THAI.id
    assert thai.guidislink is False
    assert thai.title == THAI_TITLE
    assert thai.link == THAI.canonical_url
    assert thai.published_parsed[:6] == (2023, 9, 14, 3, 30, 0)
    assert thai.summary == THAI.summary
    assert thai.content[0].value == (
        "<p>สมาคมเหล็กและเหล็กกล้าแห่งประเทศจีน (CISA) จัดการประชุมที่เมืองหนานจิง</p>\n"
        '<p>อ่านเพิ่มเติมที่ <a href="https://www.chinaisa.org.cn/">CISA</a> &amp; ISIT.</p>'
    )
    assert thai.dc_source == "CISA"

    assert illustrated.link == "https://www.isit.or.th/en/news/4519"  # canonical, not tracked
    assert [a.name for a in illustrated.authors] == ["Jane Doe", "Somchai Jaidee"]
    assert [t.term for t in illustrated.tags] == ["steel", "green steel", "hydrogen"]
    assert illustrated.media_content == [
        {"url": "https://www.isit.or.th/img/furnace.jpg", "medium": "image"}
    ]

    assert first_seen.title == (
        "Quarterly production figures are out. Crude steel output rose 3% year on year…"
    )
    assert first_seen.published_parsed[:6] == (2023, 9, 1, 12, 0, 0)

    assert undated.title == "Control characters and a CDATA end ]]> in <the> title"
    assert "link" not in undated  # a relative URL is left out, not emitted invalid
    assert "published" not in undated
    assert [a.name for a in undated.authors] == ["Staff"]


def test_atom_round_trip() -> None:
    parsed = parse(render_atom(INFO, GOLDEN_ARTICLES))
    assert parsed.version == "atom10"
    assert parsed.feed.id == "urn:newswire:feed:isit-news"
    assert parsed.feed.title == INFO.title
    assert parsed.feed.subtitle == INFO.description
    rels = {link.rel: link.href for link in parsed.feed.links}
    assert rels == {
        "self": "http://localhost:8080/feeds/isit-news.atom",
        "hub": "https://hub.example.org/",
        "alternate": INFO.site_url,
    }
    assert parsed.feed.updated_parsed[:6] == (2023, 9, 14, 6, 0, 0)

    thai, illustrated, first_seen, undated = parsed.entries
    assert thai.id == f"urn:newswire:article:{THAI.id}"
    assert thai.title == THAI_TITLE
    assert thai.link == THAI.canonical_url
    assert thai.published_parsed[:6] == (2023, 9, 14, 3, 30, 0)
    assert thai.updated_parsed[:6] == (2023, 9, 14, 3, 30, 0)
    assert thai.summary == THAI.summary
    assert thai.content[0].type == "text/html"
    assert '<a href="https://www.chinaisa.org.cn/">CISA</a>' in thai.content[0].value

    assert illustrated.updated_parsed[:6] == (2023, 9, 13, 9, 15, 0)
    assert illustrated.published_parsed[:6] == (2023, 9, 12, 8, 0, 0)
    assert [a.name for a in illustrated.authors] == ["Jane Doe", "Somchai Jaidee"]
    assert [t.term for t in illustrated.tags] == ["steel", "green steel", "hydrogen"]
    assert illustrated.media_content[0]["url"] == "https://www.isit.or.th/img/furnace.jpg"

    assert first_seen.published_parsed[:6] == (2023, 9, 1, 12, 0, 0)
    # No date at all: Atom requires <updated>, so the epoch stands in; no <published>.
    assert undated.updated_parsed[:6] == (1970, 1, 1, 0, 0, 0)
    assert "published" not in undated
    assert not undated.get("links")
    assert undated.content[0].value == "<p>Body with ]]&gt; and  escape</p>"


def test_json_feed_round_trip() -> None:
    feed = json.loads(render_json(INFO, GOLDEN_ARTICLES))
    jsonschema.validate(feed, JSON_FEED_SCHEMA)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "http://localhost:8080/feeds/isit-news.json"
    assert feed["home_page_url"] == INFO.site_url
    assert feed["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]

    thai, illustrated, first_seen, undated = feed["items"]
    assert thai["id"] == THAI.id
    assert thai["title"] == THAI_TITLE
    assert thai["url"] == THAI.canonical_url
    assert thai["content_html"] == THAI.content_html
    assert thai["date_published"] == "2023-09-14T03:30:00+00:00"
    assert "date_modified" not in thai
    assert thai["language"] == "th"
    assert thai["_newswire"] == {
        "source_id": "isit-news",
        "attribution": "CISA",
        "duplicate_of": None,
    }
    assert illustrated["image"] == ILLUSTRATED.image
    assert illustrated["authors"] == [{"name": "Jane Doe"}, {"name": "Somchai Jaidee"}]
    assert illustrated["tags"] == ["steel", "green steel", "hydrogen"]
    assert illustrated["date_modified"] == "2023-09-13T09:15:00+00:00"
    assert illustrated["_newswire"]["duplicate_of"] == ILLUSTRATED.duplicate_of
    assert first_seen["date_published"] == "2023-09-01T12:00:00+00:00"
    assert "url" not in undated
    assert "date_published" not in undated


# --------------------------------------------------------------------------------------------
# Whatever the articles contain


def test_a_ten_thousand_character_title_is_truncated() -> None:
    article = THAI.replace(title="word " * 2000)
    for fmt in ("rss", "atom"):
        data = render(INFO, [article], fmt)
        title = (rss_items(data) if fmt == "rss" else atom_entries(data))[0].findtext(
            "title" if fmt == "rss" else f"{ATOM}title"
        )
        assert len(title) <= 500
        assert title.endswith("word…")
    (item,) = json_items(render_json(INFO, [article]))
    assert len(item["title"]) <= 500


def test_an_unspaced_thai_title_is_cut_with_an_ellipsis() -> None:
    (item,) = json_items(render_json(INFO, [THAI.replace(title="ก" * 10_000)]))
    assert item["title"] == "ก" * 499 + "…"


@pytest.mark.parametrize(
    ("article", "expected_title"),
    [
        (FIRST_SEEN.replace(text="Short text."), "Short text."),
        (FIRST_SEEN.replace(text="", summary="A summary"), "A summary"),
        (
            FIRST_SEEN.replace(text="", content_html="<p>From the <b>body</b> &amp; more</p>"),
            "From the body & more",
        ),
        (FIRST_SEEN.replace(text="", content_html=""), FIRST_SEEN.canonical_url),
        (UNDATED.replace(title="   ", content_html=""), "(untitled)"),
    ],
)
def test_an_empty_title_falls_back_to_text_then_url(article: Article, expected_title: str) -> None:
    (item,) = json_items(render_json(INFO, [article]))
    assert item["title"] == expected_title
    assert parse(render_rss(INFO, [article])).entries[0].title == expected_title


@pytest.mark.parametrize(
    "url",
    [
        "/news/1",
        "news/1",
        "//example.org/news/1",
        "javascript:alert(1)",
        "ftp://example.org/file",
        "mailto:editor@example.org",
        "http://",
        "https://exa mple.org/",
        "http://[::1",
        "https://example.org:99999/",
        "",
    ],
)
def test_a_link_that_is_not_absolute_http_is_left_out(url: str) -> None:
    article = THAI.replace(url=url, canonical_url=url, image=url)
    (item,) = rss_items(render_rss(INFO, [article]))
    assert item.find("link") is None
    assert atom_entries(render_atom(INFO, [article]))[0].find(f"{ATOM}link") is None
    (json_item,) = json_items(render_json(INFO, [article]))
    assert "url" not in json_item
    assert "image" not in json_item


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://example.org/a b?q=ไทย#top",
            "https://example.org/a%20b?q=%E0%B9%84%E0%B8%97%E0%B8%A2#top",
        ),
        ("HTTPS://Example.ORG/100%/x", "https://example.org/100%25/x"),
        (
            "https://ตัวอย่าง.ไทย/ข่าว",
            "https://xn--72c1a1bt4awk9o.xn--o3cw4h/%E0%B8%82%E0%B9%88%E0%B8%B2%E0%B8%A7",
        ),
        ("https://user:secret@example.org/x", "https://example.org/x"),
        ("http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("https://example.org/a#b#c", "https://example.org/a#b%23c"),
    ],
)
def test_odd_but_absolute_links_are_percent_encoded(url: str, expected: str) -> None:
    article = THAI.replace(url=url, canonical_url=url)
    (item,) = json_items(render_json(INFO, [article]))
    assert item["url"] == expected
    assert parse(render_rss(INFO, [article])).entries[0].link == expected
    (entry,) = atom_entries(render_atom(INFO, [article]))
    assert entry.find(f"{ATOM}link").get("href") == expected


def test_right_to_left_text_survives() -> None:
    arabic = "الصلب الأخضر في تايلاند"
    article = THAI.replace(title=arabic, text=arabic, content_html=f'<p dir="rtl">{arabic}</p>')
    for fmt in ("rss", "atom"):
        assert parse(render(INFO, [article], fmt)).entries[0].title == arabic
    assert json_items(render_json(INFO, [article]))[0]["title"] == arabic


def test_empty_body_still_gives_a_valid_entry() -> None:
    article = THAI.replace(content_html="", text="", summary="")
    for fmt in ("rss", "atom"):
        entry = parse(render(INFO, [article], fmt)).entries[0]
        assert entry.summary == THAI_TITLE
    (item,) = json_items(render_json(INFO, [article]))
    assert item["content_text"] == THAI_TITLE


def test_no_body_and_no_link_still_gives_atom_content() -> None:
    article = UNDATED.replace(content_html="", text="", summary="")
    (entry,) = atom_entries(render_atom(INFO, [article]))
    assert entry.find(f"{ATOM}content") is not None


def test_the_same_id_twice_is_rendered_once_newest_copy_wins() -> None:
    older = THAI.replace(title="old", published=datetime(2020, 1, 1, tzinfo=UTC))
    for order in ([THAI, older], [older, THAI]):
        items = json_items(render_json(INFO, order))
        assert [(i["id"], i["title"]) for i in items] == [(THAI.id, THAI_TITLE)]


def test_without_a_hub_no_hub_is_advertised() -> None:
    info = FeedInfo("steel", "Topic: steel", "", PUBLIC_URL, PUBLIC_URL)
    assert b'rel="hub"' not in render_rss(info, GOLDEN_ARTICLES)
    assert b'rel="hub"' not in render_atom(info, GOLDEN_ARTICLES)
    assert "hubs" not in json.loads(render_json(info, GOLDEN_ARTICLES))
    # An empty description falls back to the title (RSS requires one).
    assert parse(render_rss(info, [])).feed.description == "Topic: steel"


def test_an_article_that_cannot_be_rendered_is_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = THAI.replace(id="broken-article", authors=None)  # not iterable
    caplog.set_level(logging.WARNING, logger="tasks.feeds")
    for fmt in FORMATS:
        caplog.clear()
        data = render(INFO, [broken, ILLUSTRATED], fmt)
        if fmt == "rss":
            assert len(rss_items(data)) == 1
        elif fmt == "atom":
            assert len(atom_entries(data)) == 1
        else:
            assert len(json_items(data)) == 1
        assert "broken-article" in caplog.text


def test_an_entry_feedgen_rejects_is_skipped_and_the_rest_rendered(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fill_entry = tasks.feeds._fill_entry

    def fill_entry_failing_for_thai(entry: Any, item: Any, fmt: str) -> None:
        fill_entry(entry, item, fmt)
        if item.id == THAI.id:
            entry.title("")  # feedgen refuses to build an entry without a title

    monkeypatch.setattr(tasks.feeds, "_fill_entry", fill_entry_failing_for_thai)
    caplog.set_level(logging.WARNING, logger="tasks.feeds")
    assert len(atom_entries(render_atom(INFO, GOLDEN_ARTICLES))) == 3
    assert THAI.id in caplog.text


def test_an_article_without_an_id_is_skipped() -> None:
    items = json_items(render_json(INFO, [THAI.replace(id="\x00 "), ILLUSTRATED]))
    assert [i["id"] for i in items] == [ILLUSTRATED.id]


def test_an_id_a_urn_cannot_carry_is_percent_encoded_in_atom() -> None:
    (entry,) = atom_entries(render_atom(INFO, [THAI.replace(id="a/b~c ไ")]))
    assert entry.findtext(f"{ATOM}id") == "urn:newswire:article:a%2Fb%7Ec%20%E0%B9%84"


# --------------------------------------------------------------------------------------------
# Property: any Unicode anywhere still gives well-formed feeds with every item


# Arbitrary text, including lone surrogates and control characters, mixed with known troublemakers.
NASTY = [
    "]]>",
    "<![CDATA[",
    "<b>",
    "</p>",
    "&amp;",
    "&",
    "\x00",
    "\x1b",
    "\ud800",
    "\ufffe",
    "\u202e",
    "\r\n",
    "ก์",
    " ",
]
any_text = st.lists(
    st.one_of(st.text(), st.text(st.characters(exclude_categories=())), st.sampled_from(NASTY)),
    max_size=6,
).map("".join)
any_url = st.one_of(
    any_text,
    any_text.map(lambda tail: "https://example.org/" + tail),
    any_text.map(lambda host: "http://" + host),
)
any_date = st.one_of(
    st.none(),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([UTC, BANGKOK, timezone(timedelta(hours=-12))])),
)


@st.composite
def articles(draw: st.DrawFn) -> list[Article]:
    ids = draw(st.lists(st.from_regex(r"[0-9a-f]{20}", fullmatch=True), max_size=5, unique=True))
    return [
        Article(
            id=article_id,
            source_id=draw(any_text),
            url=draw(any_url),
            canonical_url=draw(any_url),
            title=draw(any_text),
            summary=draw(any_text),
            content_html=draw(any_text),
            text=draw(any_text),
            published=draw(any_date),
            updated=draw(any_date),
            fetched_at=draw(any_date),
            authors=tuple(draw(st.lists(any_text, max_size=3))),
            attribution=draw(st.none() | any_text),
            language=draw(st.none() | any_text),
            image=draw(st.none() | any_url),
            tags=tuple(draw(st.lists(any_text, max_size=3))),
            duplicate_of=draw(st.none() | any_text),
        )
        for article_id in ids
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    articles=articles(),
    title=any_text,
    description=any_text,
    site_url=any_url,
    language=st.none() | any_text,
)
def test_any_unicode_gives_well_formed_feeds_with_every_item(
    articles: Sequence[Article], title: str, description: str, site_url: str, language: str | None
) -> None:
    info = FeedInfo("fuzz", title, description, site_url, PUBLIC_URL, language, PUBLIC_URL)
    rss = etree.fromstring(render_rss(info, articles))
    atom = etree.fromstring(render_atom(info, articles))
    assert len(rss.findall("channel/item")) == len(articles)
    assert len(atom.findall(f"{ATOM}entry")) == len(articles)
    items = json_items(render_json(info, articles))
    assert len(items) == len(articles)
    assert all(0 < len(item["title"]) <= 500 for item in items)
    assert_follows_validator_rules(rss, atom)
    opml = etree.fromstring(render_opml([info], PUBLIC_URL))
    assert len(opml.findall("body/outline")) == 1


# What the W3C feed validator checks beyond well-formedness, in its own regular expressions
# (brackets added for IPv6 hosts, which RFC 3986 allows).
VALIDATOR_URI = re.compile(r"[a-zA-Z][0-9a-zA-Z+\-.]*:(//)?[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,#\[\]]+")
VALIDATOR_URN = re.compile(
    r"urn:[a-zA-Z0-9][a-zA-Z0-9-]{1,31}:([a-zA-Z0-9()+,.:=@;$_!*'-]|%[0-9A-F]{2})+"
)
RFC_2822_UTC_DATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" \d{4} \d\d:\d\d:\d\d \+0000"
)
NS = {"atom": ATOM[1:-1]}


def assert_follows_validator_rules(rss: Any, atom: Any) -> None:
    uris = [*rss.xpath("//link/text() | //@href | //@url"), *atom.xpath("//@href | //@url")]
    for uri in uris:
        assert VALIDATOR_URI.fullmatch(uri), uri
    for date in rss.xpath("//pubDate/text() | //lastBuildDate/text()"):
        assert RFC_2822_UTC_DATE.fullmatch(date), date
    for atom_id in atom.xpath("//atom:id/text()", namespaces=NS):
        assert VALIDATOR_URN.fullmatch(atom_id), atom_id
    for title in [*rss.xpath("//title"), *atom.xpath("//atom:title", namespaces=NS)]:
        assert (title.text or "").strip(), "empty title"


# --------------------------------------------------------------------------------------------
# OPML, the index page, URLs and files


def test_opml_lists_every_feed_in_every_format() -> None:
    feeds = [ALL_INFO, INFO, TOPIC_INFO]
    opml = etree.fromstring(render_opml(feeds, PUBLIC_URL + "/"))
    assert opml.get("version") == "2.0"
    outlines = opml.findall("body/outline")
    assert [o.get("title") for o in outlines] == [f.title for f in feeds]
    for outline, info in zip(outlines, feeds, strict=True):
        assert outline.get("type") == "rss"
        assert outline.get("xmlUrl") == f"{PUBLIC_URL}/feeds/{info.name}.rss"
        assert outline.get("atomUrl") == f"{PUBLIC_URL}/feeds/{info.name}.atom"
        assert outline.get("jsonUrl") == f"{PUBLIC_URL}/feeds/{info.name}.json"
        assert outline.get("htmlUrl") == info.site_url


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def test_index_page_links_every_feed_in_every_format_and_the_opml() -> None:
    page = render_index_html([INFO, TOPIC_INFO, ALL_INFO], PUBLIC_URL).decode("utf-8")
    links = _Links()
    links.feed(page)
    for info in (INFO, TOPIC_INFO, ALL_INFO):
        for fmt in FORMATS:
            assert feed_url(PUBLIC_URL, info.name, fmt) in links.hrefs
    assert f"{PUBLIC_URL}/feeds.opml" in links.hrefs
    assert "Iron &amp; Steel Institute" in page  # titles are escaped


def test_feed_url() -> None:
    assert feed_url(PUBLIC_URL, "isit-news", "rss") == "http://localhost:8080/feeds/isit-news.rss"
    assert feed_url(INFO, "all", "json") == "http://localhost:8080/feeds/all.json"
    assert feed_url("https://news.example.org/", "all", "atom") == (
        "https://news.example.org/feeds/all.atom"
    )
    with pytest.raises(ValueError, match="unknown feed format"):
        feed_url(PUBLIC_URL, "all", "xml")
    with pytest.raises(ValueError, match="unknown feed format"):
        render(INFO, [], "xml")


def test_formats_have_their_content_types() -> None:
    assert FORMATS == {
        "rss": "application/rss+xml; charset=utf-8",
        "atom": "application/atom+xml; charset=utf-8",
        "json": "application/feed+json; charset=utf-8",
    }


def test_write_atomic_replaces_the_file_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "feeds" / "all.rss"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["all.rss"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "all.rss"
    write_atomic(target, b"old")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["all.rss"]


# --------------------------------------------------------------------------------------------
# All formats at once, and rebuilds from Redis (tasks/feedbuild.py)


def test_render_all_gives_the_bytes_of_render_for_every_format() -> None:
    cache = ItemCache()  # shared by two feeds carrying the same articles, as in a rebuild
    for info in (INFO, ALL_INFO):
        bodies = render_all(info, GOLDEN_ARTICLES, cache)
        assert list(bodies) == list(FORMATS)
        for fmt in FORMATS:
            assert bodies[fmt] == render(info, GOLDEN_ARTICLES, fmt)


def test_two_copies_of_one_id_with_one_date_give_the_same_bytes_in_any_order() -> None:
    other = THAI.replace(title="another title", summary="another summary")
    for fmt in FORMATS:
        expected = render(INFO, [THAI, other, ILLUSTRATED], fmt)
        assert render(INFO, [other, ILLUSTRATED, THAI], fmt) == expected
        assert render_all(INFO, [ILLUSTRATED, other, THAI])[fmt] == expected


class CountingRedis(redis_lib.Redis):
    """Counts round trips: commands and pipeline executions."""

    trips = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def counted(raise_on_error: bool = True) -> Any:
            self.trips += 1
            return execute(raise_on_error)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe


@pytest.fixture
def build_settings(request: pytest.FixtureRequest) -> Settings:
    # (the `settings` fixture, under another name: `settings` is hypothesis's here)
    value: Settings = request.getfixturevalue("settings")
    return value


def store_sources(settings: Settings, redis: redis_lib.Redis) -> list[Source]:
    """Three sources on topic "steel", four stored articles each."""
    sources = parse_sources(
        {
            "sources": [
                {"id": f"src-{n}", "url": f"https://example.org/{n}/news", "topics": ["steel"]}
                for n in range(3)
            ]
        }
    )
    for n, source in enumerate(sources):
        for i in range(4):
            url = f"https://example.org/{n}/news/{i}"
            body = f"Story {n}-{i}: mill number {i} of region {n} changed its output. " * 5
            article = THAI.replace(
                id=article_id(canonical_url(url)),
                source_id=source.id,
                url=url,
                canonical_url=url,
                title=f"Story {n}-{i}",
                text=body,
                content_html=f"<p>{body}</p>",
                published=datetime(2023, 9, 1 + i, n, tzinfo=UTC),
            )
            store.save_article(redis, settings, source, article)
    return sources


def test_a_rebuild_costs_a_few_round_trips_and_renders_what_is_stored(
    build_settings: Settings, redis: redis_lib.Redis, redis_url: str
) -> None:
    sources = store_sources(build_settings, redis)
    names = [*(s.id for s in sources), "steel", "all"]
    counting = CountingRedis.from_url(redis_url)
    try:
        assert rebuild_feeds(counting, build_settings, sources) == names
        assert counting.trips <= 3  # indexes + ETags, articles, stored bodies
        opml = build_settings.feeds_path / "feeds.opml"
        opml_inode = opml.stat().st_ino

        counting.trips = 0
        assert rebuild_feeds(counting, build_settings, sources) == []
        assert counting.trips == 2  # nothing changed: nothing written
        assert opml.stat().st_ino == opml_inode  # the same bytes are not written again
    finally:
        counting.close()

    keys = Keys(build_settings.key_prefix)
    plans = feed_plans(build_settings, sources)
    for name in names:
        plan = plans[name]
        articles = feed_articles(redis, keys, name, plan.items * 2)
        if plan.combined:
            articles = [a for a in articles if not a.duplicate_of]
        for fmt in FORMATS:
            body = render(plan.info, articles[: plan.items], fmt)
            assert redis.hget(keys.feed_file(name, fmt), "body") == body
            assert (build_settings.feeds_path / f"{name}.{fmt}").read_bytes() == body


def test_an_unreadable_article_fails_only_the_feeds_that_carry_it(
    build_settings: Settings, redis: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    sources = store_sources(build_settings, redis)
    keys = Keys(build_settings.key_prefix)
    (broken,) = redis.zrevrange(keys.feed_index("src-1"), 0, 0)
    redis.hset(keys.article(broken.decode()), "json", "{not json")
    caplog.set_level(logging.ERROR, logger="tasks.feedbuild")
    assert rebuild_feeds(redis, build_settings, sources) == ["src-0", "src-2"]
    failed = {r.getMessage() for r in caplog.records}
    assert failed == {f"feed.failed feed={name}" for name in ("src-1", "steel", "all")}
    with pytest.raises(ValueError):  # one feed asked for (the HTTP server): the error is raised
        rebuild_feed(redis, build_settings, feed_plans(build_settings, sources)["all"])


def test_rebuilds_reuse_parsed_articles_only_while_their_stored_json_is_unchanged(
    build_settings: Settings, redis: redis_lib.Redis
) -> None:
    from tasks import feedbuild

    sources = store_sources(build_settings, redis)
    keys = Keys(build_settings.key_prefix)
    rebuild_feeds(redis, build_settings, sources)
    (edited_id,) = (i.decode() for i in redis.zrevrange(keys.feed_index("src-1"), 0, 0))
    (kept_id,) = (i.decode() for i in redis.zrevrange(keys.feed_index("src-2"), 0, 0))
    kept = feedbuild._recent[kept_id][1]

    stored = json.loads(redis.hget(keys.article(edited_id), "json"))
    stored["title"] = "Story 1-3, corrected"
    redis.hset(keys.article(edited_id), "json", json.dumps(stored))
    assert "src-1" in rebuild_feeds(redis, build_settings, sources)
    assert b"Story 1-3, corrected" in (build_settings.feeds_path / "src-1.rss").read_bytes()
    assert b"Story 1-3, corrected" in (build_settings.feeds_path / "all.json").read_bytes()
    assert feedbuild._recent[kept_id][1] is kept  # unchanged JSON: parsed and cleaned once
