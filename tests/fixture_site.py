"""Local fixture websites served over real sockets on 127.0.0.1.

``news_site()`` builds an industry-institute news section modelled on the seed page
(../shared/seeds): listing pages linking to article pages with a Thai title, a date like
"14 September 2023", English paragraphs, a "Source : X" line, a "Related News" list and a
disclaimer footer. Some article pages are served as windows-874 bytes.

``FixtureSite`` serves any dict of pages, honours If-None-Match / If-Modified-Since, and records
every request path so tests can assert what was (not) fetched.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAST_MODIFIED = "Thu, 14 Sep 2023 08:00:00 GMT"

THAI_TITLES = [
    "การประชุมการพัฒนาเหล็กสีเขียวและคาร์บอนต่ำแห่งชาติครั้งที่ 4 จัดขึ้นที่เมือง Nanjing.",
    "ราคาเหล็กแผ่นรีดร้อนในตลาดเอเชียปรับตัวสูงขึ้น",
    "อุตสาหกรรมเหล็กไทยเร่งลดการปล่อยก๊าซเรือนกระจก",
    "การส่งออกเหล็กของจีนเพิ่มขึ้นในไตรมาสที่สาม",
    "ผู้ผลิตเหล็กญี่ปุ่นลงทุนในเทคโนโลยีไฮโดรเจน",
]
SOURCES = ["CISA", "Reuters", "SteelOrbis", "Nikkei Asia", "Kallanish"]
PARAGRAPHS = [
    "The {n}th National Steel Green and Low Carbon Development Conference was held in Nanjing."
    " Delegates from the government, steel and related industry enterprises, and industrial"
    " associations focused on ultra-low emissions and carbon neutrality goals.",
    "This meeting is guided by the China Iron and Steel Industry Association, hosted by China"
    " Metallurgical News, and organized by Nanjing Steel United Co., Ltd. (story {n}).",
    "Firstly, promote green and low-carbon development of the steel industry through industrial"
    " innovation. Secondly, strengthen the key work of innovation driving development.",
    "Jiang Wei stated that we ought to improve the ideological standing, fully recognize the"
    " importance of green and low-carbon work, and continue to promote high-quality ultra-low"
    " emission transformation across the whole industrial chain.",
]
# Words of the seed page, to give every fixture article a body of its own (real articles differ;
# near-identical bodies from different sources would rightly be taken for one syndicated story).
VOCABULARY = sorted(
    set(
        " ".join(PARAGRAPHS)
        .replace(".", "")
        .replace(",", "")
        .replace("(", "")
        .replace(")", "")
        .split()
    )
    | {
        "tonnes",
        "capacity",
        "mill",
        "furnace",
        "scrap",
        "ore",
        "coking",
        "coal",
        "billets",
        "rebar",
        "coil",
        "exports",
        "imports",
        "tariff",
        "quota",
        "demand",
        "margin",
        "prices",
        "Vietnam",
        "Japan",
        "Korea",
        "India",
        "Thailand",
        "Malaysia",
        "Indonesia",
        "quarter",
        "plant",
        "hydrogen",
        "electric",
        "arc",
        "blast",
        "investment",
        "orders",
        "shipyard",
    }
)


def article_words(n: int, count: int) -> str:
    """A deterministic paragraph of ``count`` words that is different for every article."""
    rng = random.Random(n)
    words = [rng.choice(VOCABULARY) for _ in range(count)]
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words) + "."


DISCLAIMER = (
    "The information in the above report, publication and website has been obtained from sources"
    " believed to be reliable. However, Iron & Steel Institute of Thailand does not guarantee the"
    " accuracy, adequacy or completeness of the information."
)


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    validators: bool = True  # send ETag / Last-Modified and answer 304
    delay: float = 0.0  # seconds before answering: keeps work in flight for fault tests

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


class FixtureSite:
    def __init__(self, pages: dict[str, Page] | None = None) -> None:
        self.pages: dict[str, Page] = pages or {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.base_url = ""

    def hits(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for path in self.requests if path.startswith(prefix))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                with site._lock:
                    site.requests.append(self.path)
                page = site.pages.get(self.path)
                if page is not None and page.delay:
                    time.sleep(page.delay)
                if page is None:
                    self._send(404, b"not found", "text/plain", {})
                    return
                headers = dict(page.headers)
                if page.validators and page.status == 200:
                    headers["ETag"] = page.etag
                    headers["Last-Modified"] = LAST_MODIFIED
                    if self.headers.get("If-None-Match") == page.etag or (
                        self.headers.get("If-Modified-Since") == LAST_MODIFIED
                        and "If-None-Match" not in self.headers
                    ):
                        self._send(304, b"", None, headers)
                        return
                self._send(page.status, page.body, page.content_type, headers)

            def _send(
                self, status: int, body: bytes, ctype: str | None, headers: dict[str, str]
            ) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        return Handler

    @contextmanager
    def serve(self, host: str = "127.0.0.1") -> Iterator[FixtureSite]:
        server = ThreadingHTTPServer((host, 0), self._handler())
        server.daemon_threads = True
        self.base_url = f"http://{host}:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def article_date(n: int) -> date:
    return date(2023, 9, 14) - timedelta(days=n)


def article_html(
    n: int, *, related: list[int], charset: str = "utf-8", distinct: bool = False
) -> str:
    """Article page ``n``. Its body repeats 2-4 of the seed's paragraphs, as the tests expect,
    unless ``distinct``: then every paragraph is the article's own (the pipeline benchmark,
    where stories sharing whole paragraphs would all look like near-duplicates)."""
    title = THAI_TITLES[n % len(THAI_TITLES)] + f" ({n})"
    day = article_date(n)
    shared = [] if distinct else [text.format(n=n) for text in PARAGRAPHS[: 2 + n % 3]]
    own = [article_words(n * 10 + k, 60) for k in range(4 + n % 3 - len(shared))]
    paragraphs = "\n".join(f"<p>{text}</p>" for text in shared + own)
    related_items = "".join(
        f'<li><a href="/en/news/{r}">{THAI_TITLES[r % len(THAI_TITLES)]} ({r})</a></li>'
        for r in related
    )
    return f"""<!DOCTYPE html>
<html lang="th"><head><meta charset="{charset}">
<title>{title} | Iron &amp; Steel Institute of Thailand</title></head>
<body>
<div class="header"><ul class="menu"><li><a href="/en/">Home</a></li>
<li><a href="/en/news?page=1">News</a></li><li><a href="/en/about">About ISIT</a></li></ul></div>
<div class="content">
  <h1 class="news-title">{title}</h1>
  <div class="news-date">{day.day} {day:%B %Y}</div>
  <div class="news-detail">
    <p><strong>{title}</strong></p>
    {paragraphs}
    <p class="news-source">Source : {SOURCES[n % len(SOURCES)]}</p>
  </div>
  <div class="related-news"><h3>Related News</h3><ul>{related_items}</ul></div>
  <div class="disclaimer"><p>{DISCLAIMER}</p></div>
</div>
<div class="footer">Copyright &copy; 2023 Iron &amp; Steel Institute of Thailand</div>
</body></html>"""


def listing_html(page: int, pages: int, ids: list[int]) -> str:
    items = "".join(
        f'<div class="item"><a class="title" href="/en/news/{n}">'
        f"{THAI_TITLES[n % len(THAI_TITLES)]} ({n})</a>"
        f'<span class="date">{article_date(n).day} {article_date(n):%B %Y}</span></div>'
        for n in ids
    )
    next_link = f'<a class="next" href="/en/news?page={page + 1}">Next</a>' if page < pages else ""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>News | Iron &amp; Steel Institute of Thailand</title></head><body>
<div class="header"><ul class="menu"><li><a href="/en/">Home</a></li>
<li><a href="/en/about">About ISIT</a></li><li><a href="/en/contact">Contact</a></li></ul></div>
<div class="news-list">{items}</div><div class="pager">{next_link}</div>
<div class="footer">Copyright &copy; 2023 Iron &amp; Steel Institute of Thailand</div>
</body></html>"""


def news_site(
    articles: int = 30, per_page: int = 10, cp874_every: int = 10, prefix: str = "/en/news"
) -> FixtureSite:
    """A site with ``articles`` article pages on ceil(articles/per_page) listing pages.

    Every ``cp874_every``-th article is served as windows-874 bytes (header and meta say so).
    Listing page 1 is also served at ``prefix`` itself.
    """
    pages: dict[str, Page] = {}
    ids = list(range(1, articles + 1))
    n_pages = max(1, -(-articles // per_page))
    for page in range(1, n_pages + 1):
        chunk = ids[(page - 1) * per_page : page * per_page]
        pages[f"{prefix}?page={page}"] = Page(listing_html(page, n_pages, chunk).encode())
    pages[prefix] = pages[f"{prefix}?page=1"]
    for n in ids:
        related = [r for r in (n + 1, n + 2, n + 3) if r <= articles]
        if cp874_every and n % cp874_every == 0:
            html = article_html(n, related=related, charset="windows-874")
            pages[f"{prefix}/{n}"] = Page(
                html.encode("cp874"), content_type="text/html; charset=windows-874"
            )
        else:
            pages[f"{prefix}/{n}"] = Page(article_html(n, related=related).encode())
    return pages_site(pages)


def pages_site(pages: dict[str, Page]) -> FixtureSite:
    return FixtureSite(pages)
