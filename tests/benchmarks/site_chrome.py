"""The weight of a real news page around the benchmark's article markup.

tests/fixture_site.py's article pages are ~3 KB: the seed page's content and little else. Real
article pages carry far more: on the 130 real pages of ../shared/corpus/readability-test-pages
the HTML has a median of ~110 KB, and building its BeautifulSoup tree takes ~13 ms median (the
issue's reference loop: ~11.5 ms of 15 ms per page). Measuring the pipeline on 3 KB pages would
make parsing look nearly free and every fixed cost look huge, so the benchmark dresses each
article in the furniture such a site has: a head full of meta tags, preloads, inline CSS and
analytics scripts, JSON-LD, a mega menu, share buttons with SVG icons, a sidebar of most-read
and latest stories with responsive images, a grid of "more from this section" cards, ad slots, a
newsletter form, a cookie banner and a link-heavy footer. ``dress`` puts them around the
fixture's own markup, which stays intact (title, date, body, "Source : X", related news,
disclaimer), so extraction has the same answer to find, in a page of realistic weight. Only
article pages are dressed: the cards' links (``/en/stories/...``) would otherwise join a
listing's article links, and the listings are 1 in 20 requests.

Everything is deterministic (a page's furniture depends on its number only) and encodable in
windows-874 (ASCII plus Thai), because every 10th page is served in it.
"""

from __future__ import annotations

import random

SECTIONS = (
    "Steel Market",
    "Industry",
    "Trade",
    "Policy",
    "Technology",
    "Sustainability",
    "Statistics",
    "Events",
)
TOPICS = (
    "hot-rolled coil",
    "rebar",
    "scrap",
    "iron ore",
    "coking coal",
    "tariffs",
    "green steel",
    "electric arc furnace",
    "ASEAN demand",
    "stainless",
    "tinplate",
    "pipe and tube",
)
THAI_HEADLINES = (
    "ราคาเหล็กแผ่นรีดร้อนในตลาดเอเชียปรับตัวสูงขึ้น",
    "อุตสาหกรรมเหล็กไทยเร่งลดการปล่อยก๊าซเรือนกระจก",
    "การนำเข้าเหล็กจากจีนเพิ่มขึ้นในไตรมาสที่สาม",
    "สถาบันเหล็กฯ จัดสัมมนาเทคโนโลยีเตาอาร์คไฟฟ้า",
)

_CSS_RULE = (
    ".{name}{{display:flex;margin:0 auto;padding:.5rem 1rem;font:400 1rem/1.5 "
    '"Sarabun",sans-serif;color:#1a1a1a;background:#fff;border-bottom:1px solid #e5e5e5}}'
    "@media (min-width:768px){{.{name}{{padding:1rem 2rem;max-width:1200px}}}}"
)
_SCRIPT = (
    "(function(w,d,s,l,i){{w[l]=w[l]||[];w[l].push({{'gtm.start':new Date().getTime(),"
    "event:'gtm.js'}});var f=d.getElementsByTagName(s)[0],j=d.createElement(s),"
    "dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src='https://www.googletagmanager.com/gtm.js"
    "?id='+i+dl;f.parentNode.insertBefore(j,f);}})(window,document,'script','dataLayer',"
    '\'GTM-{n}\');window.__SITE_CONFIG__={{"section":"{section}","article":{n},'
    '"ads":{{"slots":["top","side-1","side-2","inline"],"lazy":true}},"consent":"v2"}};'
)
_ICON = (
    '<svg class="icon icon-{name}" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">'
    '<path d="M12 2C6.48 2 2 6.48 2 12s4.48 10 10 10 10-4.48 10-10S17.52 2 12 2z"/>'
    '<path d="M10 17l-5-5 1.41-1.41L10 14.17l7.59-7.59L19 8l-9 9z"/>'
    '<circle cx="12" cy="12" r="3"/></svg>'
)


def _slug(text: str) -> str:
    return "-".join(text.lower().split())


def _head(n: int, section: str) -> str:
    css = "".join(_CSS_RULE.format(name=f"c{i}-{_slug(section)}") for i in range(48))
    metas = "".join(
        f'<meta property="og:{name}" content="{value}">'
        for name, value in (
            ("type", "article"),
            ("site_name", "Iron &amp; Steel Institute of Thailand"),
            ("url", f"/en/news/{n}"),
            ("image", f"/media/{n}/cover-1200x630.jpg"),
            ("locale", "th_TH"),
        )
    )
    preloads = "".join(
        f'<link rel="preload" href="/static/fonts/sarabun-{weight}.woff2" as="font" '
        'type="font/woff2" crossorigin>'
        for weight in (300, 400, 500, 600, 700)
    )
    return (
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="description" content="{section} news from the Iron and Steel Institute">'
        f'<meta name="twitter:card" content="summary_large_image">{metas}{preloads}'
        '<link rel="stylesheet" href="/static/css/main.8f3a2c.css">'
        '<link rel="icon" href="/favicon.ico"><link rel="manifest" href="/site.webmanifest">'
        f"<style>{css}</style>"
        f"<script>{_SCRIPT.format(n=n, section=section) * 4}</script>"
        '<script type="application/ld+json">{"@context":"https://schema.org","@type":'
        '"BreadcrumbList","itemListElement":[{"@type":"ListItem","position":1,"name":"Home",'
        '"item":"/en/"},{"@type":"ListItem","position":2,"name":"News","item":"/en/news"}]}'
        "</script>"
    )


def _mega_menu(rng: random.Random) -> str:
    columns = []
    for section in SECTIONS:
        links = "".join(
            f'<li class="menu-item"><a class="menu-link" href="/en/{_slug(section)}/'
            f'{_slug(topic)}"><span class="menu-label">{topic.title()}</span></a></li>'
            for topic in rng.sample(TOPICS, 10)
        )
        columns.append(
            f'<li class="menu-section has-children"><a href="/en/{_slug(section)}" '
            f'aria-haspopup="true">{section}</a><div class="mega-panel"><ul class="menu-list">'
            f"{links}</ul></div></li>"
        )
    return (
        '<header class="site-header"><div class="topbar"><ul class="lang"><li><a href="/th/">'
        'ไทย</a></li><li><a href="/en/">EN</a></li></ul><form class="search" action="/search">'
        '<input type="search" name="q" placeholder="Search"><button type="submit">'
        f"{_ICON.format(name='search')}</button></form></div>"
        '<a class="logo" href="/en/"><img src="/static/logo.svg" alt="ISIT" width="180"></a>'
        f'<nav class="main-nav" aria-label="Main"><ul class="menu">{"".join(columns)}</ul></nav>'
        '<nav class="breadcrumb"><a href="/en/">Home</a> / <a href="/en/news">News</a></nav>'
        "</header>"
    )


def _share_bar() -> str:
    buttons = "".join(
        f'<li><a class="share share-{name}" href="https://{name}.example/share" rel="noopener">'
        f'{_ICON.format(name=name)}<span class="sr-only">Share on {name}</span></a></li>'
        for name in ("facebook", "x", "linkedin", "line", "email", "print")
    )
    return f'<div class="share-bar"><ul class="share-list">{buttons}</ul></div>'


def _story_card(rng: random.Random, n: int, kind: str) -> str:
    other = rng.randrange(1, 100_000)
    headline = f"{rng.choice(THAI_HEADLINES)} ({other})"
    return (
        f'<li class="{kind}-item"><article class="card"><a class="card-link" '
        f'href="/en/stories/{other}"><figure class="card-media"><img loading="lazy" '
        f'src="/media/{other}/thumb-320.jpg" srcset="/media/{other}/thumb-320.jpg 320w, '
        f'/media/{other}/thumb-640.jpg 640w" sizes="(max-width: 768px) 100vw, 320px" '
        f'alt="" width="320" height="180"></figure><h3 class="card-title">{headline}</h3></a>'
        f'<p class="card-meta"><span class="card-section">{rng.choice(SECTIONS)}</span> '
        f'<time datetime="2023-09-{1 + n % 28:02d}">{1 + n % 28} Sep</time></p></article></li>'
    )


def _sidebar(rng: random.Random, n: int) -> str:
    most_read = "".join(_story_card(rng, n, "most-read") for _ in range(10))
    latest = "".join(_story_card(rng, n, "latest") for _ in range(10))
    return (
        '<aside class="sidebar"><div class="ad-slot" data-slot="side-1" data-size="300x250">'
        '</div><section class="widget most-read"><h2 class="widget-title">Most Read</h2>'
        f'<ol class="most-read-list">{most_read}</ol></section>'
        '<div class="ad-slot" data-slot="side-2" data-size="300x600"></div>'
        '<section class="widget latest"><h2 class="widget-title">Latest News</h2>'
        f'<ul class="latest-list">{latest}</ul></section>'
        '<section class="widget newsletter"><h2 class="widget-title">Newsletter</h2>'
        '<form action="/subscribe" method="post"><label for="nl-email">Email</label>'
        '<input id="nl-email" type="email" name="email" required><button type="submit">'
        "Subscribe</button></form></section></aside>"
    )


def _more_grid(rng: random.Random, n: int) -> str:
    cards = "".join(_story_card(rng, n, "more") for _ in range(12))
    return (
        '<section class="more-from-section"><h2>More from this section</h2>'
        f'<ul class="card-grid">{cards}</ul></section>'
    )


def _footer(rng: random.Random) -> str:
    columns = "".join(
        f'<div class="footer-col"><h4>{section}</h4><ul>'
        + "".join(
            f'<li><a href="/en/{_slug(section)}/{_slug(topic)}">{topic.title()}</a></li>'
            for topic in rng.sample(TOPICS, 8)
        )
        + "</ul></div>"
        for section in SECTIONS[:6]
    )
    social = "".join(
        f'<a class="social" href="https://{name}.example/isit">{_ICON.format(name=name)}</a>'
        for name in ("facebook", "x", "youtube", "linkedin", "line")
    )
    return (
        f'<footer class="site-footer"><div class="footer-columns">{columns}</div>'
        f'<div class="footer-social">{social}</div><address>Iron &amp; Steel Institute of '
        "Thailand, 1 Industrial Ring Road, Bangkok 10110. Tel +66 2 000 0000</address>"
        '<p class="legal"><a href="/en/privacy">Privacy</a> | <a href="/en/terms">Terms</a> | '
        '<a href="/en/cookies">Cookies</a></p></footer>'
        '<div class="cookie-banner" role="dialog" aria-live="polite"><p>We use cookies to '
        'improve your experience.</p><button class="accept">Accept</button><button class="'
        'settings">Settings</button></div>'
        '<script src="/static/js/vendor.4b1e9d.js" defer></script>'
        '<script src="/static/js/main.91c0aa.js" defer></script>'
    )


def dress(html: str, n: int) -> str:
    """``html`` (a tests/fixture_site.py page) with the furniture of a real news site."""
    rng = random.Random(n)
    section = SECTIONS[n % len(SECTIONS)]
    html = html.replace("</head>", _head(n, section) + "</head>", 1)
    html = html.replace("<body>", "<body>" + _mega_menu(rng), 1)
    html = html.replace(
        '<div class="content">',
        '<div class="ad-slot" data-slot="top" data-size="970x250"></div>'
        f'<main class="layout"><div class="content">{_share_bar()}',
        1,
    )
    html = html.replace(
        '<div class="footer">',
        f'{_more_grid(rng, n)}</main>{_sidebar(rng, n)}{_footer(rng)}<div class="footer">',
        1,
    )
    return html
