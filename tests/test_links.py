"""Listing pages: article links found without selectors, with selectors, and the next page."""

from __future__ import annotations

from config.sources import Source
from tasks.extract import extract_links, find_next_page
from tests.fixture_site import listing_html

BASE = "http://127.0.0.1:8000"

NEWS_PORTAL = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Markets | Metals Daily</title>
<link rel="next" href="/markets?page=3"></head><body>
<header><nav class="main-nav"><a href="/">Home</a><a href="/markets">Markets</a>
<a href="/world">World</a><a href="/login">Sign in</a></nav></header>
<div class="breadcrumbs"><a href="/">Home</a> / <a href="/markets">Markets</a></div>
<section class="story-list">
  <article class="card"><h2><a href="/markets/2023/09/14/steel-output-rises-third-month">
   Steel output rises for third month</a></h2><time datetime="2023-09-14">14 Sep</time>
   <a class="tag" href="/tag/steel">steel</a></article>
  <article class="card"><h2><a href="/markets/2023/09/13/iron-ore-falls-on-weak-demand">
   Iron ore falls on weak demand from China</a></h2><time datetime="2023-09-13">13 Sep</time>
   <a class="tag" href="/tag/iron-ore">iron ore</a></article>
  <article class="card"><h2><a href="/markets/2023/09/12/coal-prices-steady-ahead-of-winter">Coal
   prices steady ahead of winter</a></h2><time datetime="2023-09-12">12 Sep</time></article>
  <article class="card"><h2><a
   href="https://metalsdaily.example.com/markets/2023/09/11/scrap-market-tightens">
   Scrap market tightens in Turkey</a></h2></article>
</section>
<aside class="sidebar"><h3>Follow us</h3><a href="https://twitter.com/metalsdaily">Twitter</a>
<a href="https://www.facebook.com/metalsdaily">Facebook</a>
<a href="mailto:news@example.com">Email</a>
<a href="javascript:void(0)">Print</a></aside>
<div class="pagination"><a href="/markets?page=1">‹ Prev</a> <a href="/markets?page=1">1</a>
<span>2</span> <a href="/markets?page=3">3</a></div>
<footer><a href="/about">About us</a><a href="/privacy">Privacy policy</a>
<a href="/category/markets">All markets</a><a href="/author/ana-lima">Ana Lima</a></footer>
</body></html>"""
PORTAL_URL = "https://metalsdaily.example.com/markets?page=2"


def test_fixture_site_listing_without_selectors() -> None:
    html = listing_html(1, 3, [1, 2, 3, 4, 5])
    links = extract_links(html, f"{BASE}/en/news")
    assert links == [f"{BASE}/en/news/{n}" for n in (1, 2, 3, 4, 5)]


def test_fixture_site_listing_accepts_bytes() -> None:
    links = extract_links(listing_html(2, 3, [11, 12, 13]).encode(), f"{BASE}/en/news?page=2")
    assert links == [f"{BASE}/en/news/{n}" for n in (11, 12, 13)]


def test_news_portal_links_skip_navigation_tags_social_and_pagination() -> None:
    links = extract_links(NEWS_PORTAL, PORTAL_URL)
    assert links == [
        "https://metalsdaily.example.com/markets/2023/09/14/steel-output-rises-third-month",
        "https://metalsdaily.example.com/markets/2023/09/13/iron-ore-falls-on-weak-demand",
        "https://metalsdaily.example.com/markets/2023/09/12/coal-prices-steady-ahead-of-winter",
        "https://metalsdaily.example.com/markets/2023/09/11/scrap-market-tightens",
    ]


def test_links_are_deduplicated_in_page_order() -> None:
    html = """<html><body><ul class="news">
    <li><a href="/news/2023/alpha-story-one"><img src="a.jpg"></a>
        <a href="/news/2023/alpha-story-one">Alpha story one is here today</a></li>
    <li><a href="/news/2023/beta-story-two#comments">Beta story two is here today</a></li>
    <li><a href="/news/2023/beta-story-two">Beta story two is here today</a></li>
    <li><a href="/news/2023/gamma-story-three">Gamma story three is here today</a></li>
    </ul></body></html>"""
    links = extract_links(html, "https://example.com/news")
    assert links == [
        "https://example.com/news/2023/alpha-story-one",
        "https://example.com/news/2023/beta-story-two",
        "https://example.com/news/2023/gamma-story-three",
    ]


def test_configured_selector() -> None:
    source = Source(id="isit", url=f"{BASE}/en/news", listing={"links": "div.news-list a.title"})
    html = listing_html(1, 2, [7, 8, 9])
    assert extract_links(html, f"{BASE}/en/news", source) == [
        f"{BASE}/en/news/{n}" for n in (7, 8, 9)
    ]


def test_configured_selector_matching_containers() -> None:
    source = Source(id="isit", url=f"{BASE}/en/news", listing={"links": "div.item"})
    html = listing_html(1, 2, [7, 8])
    assert extract_links(html, f"{BASE}/en/news", source) == [
        f"{BASE}/en/news/7",
        f"{BASE}/en/news/8",
    ]


def test_empty_or_garbage_listing() -> None:
    assert extract_links("", f"{BASE}/en/news") == []
    assert extract_links(b"\x00\xff" * 100, f"{BASE}/en/news") == []


def test_next_page_from_text() -> None:
    assert find_next_page(listing_html(1, 3, [1]), f"{BASE}/en/news") == f"{BASE}/en/news?page=2"
    assert find_next_page(listing_html(3, 3, [1]), f"{BASE}/en/news?page=3") is None


def test_next_page_from_rel_next() -> None:
    assert find_next_page(NEWS_PORTAL, PORTAL_URL) == (
        "https://metalsdaily.example.com/markets?page=3"
    )


def test_next_page_from_selector_and_symbols() -> None:
    source = Source(id="isit", url=f"{BASE}/en/news", listing={"next_page": ".pager a.next"})
    html = listing_html(1, 2, [1])
    assert find_next_page(html, f"{BASE}/en/news", source) == f"{BASE}/en/news?page=2"
    for label in ("»", "›", "ถัดไป", "Next page", "Older posts"):
        page = f'<html><body><div class="nav"><a href="/list/5">{label}</a></div></body></html>'
        assert find_next_page(page, "https://example.com/list/4") == "https://example.com/list/5"


def test_next_page_ignores_self_links() -> None:
    page = '<html><body><a href="/list/4">Next</a></body></html>'
    assert find_next_page(page, "https://example.com/list/4") is None
