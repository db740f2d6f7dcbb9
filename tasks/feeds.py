"""Feed rendering: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from stored articles (PRODUCT.md §6).

Pure functions of their arguments: no Redis, no clock, no I/O except :func:`write_atomic`.

Design decisions
----------------
Stable ids.
    An item's identity is the article's ``id`` (derived from its canonical URL, so it never
    changes when the page is edited or re-polled):

    * RSS ``<guid isPermaLink="false">`` and JSON Feed ``id``: the article id itself;
    * Atom ``<id>``: ``urn:newswire:article:<id>``;
    * the Atom feed ``<id>``: ``urn:newswire:feed:<feed name>``.

    None of them contains the public URL, so moving newswire to another host never makes
    readers see every article again. (Characters a URN cannot carry are percent-encoded;
    real ids are hex and come out unchanged.)

Determinism.
    The same articles give the same bytes (ETags and ``304 Not Modified`` depend on it):

    * items are sorted newest first by (published, else fetched_at, else the epoch), then by
      id, whatever order the caller passes them in; an id that appears twice is rendered once;
    * the feed's ``updated`` / ``lastBuildDate`` / ``pubDate`` is the newest date found on any
      item (published, updated or fetched_at), never the render time; an empty feed says
      1970-01-01T00:00:00Z;
    * an item's date is its published date, else when newswire first fetched it; an article
      with no date at all has no ``pubDate`` / ``published`` / ``date_published``, and the
      epoch stands in for Atom's required entry ``updated``;
    * feedgen's defaults that would leak into the output ("now" timestamps, its own name and
      version as generator) are overridden; all dates are rendered in UTC.

Validity.
    Every feed must pass the W3C feed validator whatever an article contains, so each article
    is first turned into an :class:`_Item` of cleaned values:

    * characters XML 1.0 cannot carry (C0/C1 controls except tab, newline and carriage
      return, lone surrogates, U+FFFE/U+FFFF) are removed from every string, in every format;
    * text is escaped by the XML serializer, never wrapped in CDATA, so ``]]>`` is harmless;
    * titles are single-line, at most 500 characters (ellipsis), and never empty: the first
      words of the text, the URL, or "(untitled)" stand in;
    * links must be absolute http(s) URLs made of URI characters: they are percent-encoded
      (IDNA for hosts); a link that cannot be repaired is left out rather than emitted broken;
    * author names lose markup and ``<email>`` parts (the validator warns about both);
    * the RSS description and Atom summary are HTML-escaped plain text (``type="html"``), the
      full body goes in ``content:encoded`` / Atom ``content``.

    An article that still cannot be rendered is skipped with a warning naming its id; the
    rest of the feed is rendered.

Format details.
    RSS carries ``dc:creator`` per author, ``category`` per tag, ``media:content`` for the
    lead image and ``dc:source`` for the attribution; Atom the same through ``author``,
    ``category``, ``media:content`` and ``dc:source``. JSON Feed items carry a ``_newswire``
    extension object with ``source_id``, ``attribution`` and ``duplicate_of``. When a WebSub hub
    is configured, every format advertises it (``rel="hub"`` links, JSON Feed ``hubs``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import ipaddress
import itertools
import json
import logging
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from feedgen.feed import FeedGenerator

from tasks.models import Article

log = logging.getLogger(__name__)

FORMATS: dict[str, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
OPML_CONTENT_TYPE = "text/x-opml; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ARTICLE_URN_PREFIX = "urn:newswire:article:"
FEED_URN_PREFIX = "urn:newswire:feed:"
GENERATOR = "newswire"

# The date of an empty feed and of an article with no date at all: fixed, so bytes stay stable.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MAX_TITLE_CHARS = 500
FALLBACK_TITLE_CHARS = 80  # a title made from the first words of the text
MAX_SUMMARY_CHARS = 300  # a summary made from the text when the article has none
MAX_NAME_CHARS = 200  # authors, tags, attribution
UNTITLED = "(untitled)"

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"


@dataclass(frozen=True)
class FeedInfo:
    """What a feed is about; the articles come separately."""

    name: str  # a source id, a topic name or "all"; URLs are /feeds/<name>.<ext>
    title: str  # e.g. the source's name, "Topic: steel", "All news"
    description: str
    site_url: str  # the website the feed is about (source listing URL, or the public base URL)
    public_url: str  # newswire's public base URL, e.g. "http://localhost:8080"
    language: str | None = None
    hub_url: str | None = None  # WebSub hub; when set, feeds advertise rel="hub"
    ttl_minutes: int | None = None


# --------------------------------------------------------------------------------------------
# URLs


def feed_url(info_or_public_url: FeedInfo | str, name: str, fmt: str) -> str:
    """The public URL of feed ``name`` in format ``fmt`` ("rss", "atom" or "json")."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown feed format {fmt!r}; expected one of {', '.join(FORMATS)}")
    base = (
        info_or_public_url.public_url
        if isinstance(info_or_public_url, FeedInfo)
        else info_or_public_url
    )
    return f"{base.rstrip('/')}/feeds/{quote(name, safe='')}.{fmt}"


def opml_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/feeds.opml"


# --------------------------------------------------------------------------------------------
# Cleaning: every string that reaches a feed goes through these.

# Everything XML 1.0 allows, minus the C1 controls (U+007F-U+009F), which are never meaningful
# text and which validators flag. Lone surrogates fall outside these ranges and are removed.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WHITESPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")
# RFC 3986 characters a path, query or fragment may keep as they are ('%' for escapes).
_URI_SAFE = "!$&'()*+,;=:@/?~-._%"
# Characters a URN's namespace-specific string may carry unescaped (RFC 2141, as validators
# check it: no '/', '?', '#' or '~').
_URN_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789()+,.:=@;$_!*'-"
)


def _xml_safe(text: str | None) -> str:
    """``text`` without the characters an XML 1.0 document cannot contain."""
    return _NOT_XML_CHAR.sub("", text) if text else ""


def _one_line(text: str | None) -> str:
    return _WHITESPACE.sub(" ", _xml_safe(text)).strip()


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.7:  # Thai and other unspaced scripts have no word boundary to find
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def _html_to_text(markup: str) -> str:
    """Rough plain text of an HTML fragment, good enough for a fallback title or summary."""
    return _one_line(html.unescape(_TAG.sub(" ", markup)))


def _plain_name(text: str | None) -> str:
    """A person or organisation name: no markup, no ``<email>``, one line, bounded."""
    return _shorten(_one_line(_TAG.sub(" ", _xml_safe(text))), MAX_NAME_CHARS)


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _language(tag: str | None) -> str | None:
    tag = (tag or "").strip()
    return tag if _LANGUAGE_TAG.fullmatch(tag) else None


def _quote_uri_part(part: str) -> str:
    return _STRAY_PERCENT.sub("%25", quote(part, safe=_URI_SAFE))


def _http_url(url: str | None) -> str | None:
    """``url`` as an absolute http(s) URI a validator accepts, or None when it is not one."""
    candidate = _xml_safe(url).strip()
    if not candidate:
        return None
    try:
        parts = urlsplit(candidate)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # e.g. an unclosed IPv6 bracket or a port out of range
        return None
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        try:
            netloc = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return None
    else:
        try:
            netloc = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        if not _HOSTNAME.fullmatch(netloc):
            return None
    if port is not None:
        netloc = f"{netloc}:{port}"
    # User info is dropped: credentials do not belong in a public feed.
    path = _quote_uri_part(parts.path)
    query = _quote_uri_part(parts.query)
    fragment = _quote_uri_part(parts.fragment).replace("#", "%23")
    return urlunsplit((scheme, netloc, path, query, fragment))


def _urn(prefix: str, value: str) -> str:
    """``prefix`` + ``value`` with every character a URN cannot carry percent-encoded."""
    encoded = "".join(
        char if char in _URN_SAFE else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        for char in value
    )
    return prefix + encoded


def _utc(value: datetime | None) -> datetime | None:
    """A UTC datetime to the second; naive datetimes are taken to be UTC already."""
    if value is None:
        return None
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC).replace(microsecond=0)
    except OverflowError:  # an offset that pushes year 1 or 9999 out of range
        return None
    # RSS dates need a four-digit year; no news article is that old, so such a date is a
    # parsing accident and is treated as missing.
    return value if value.year >= 1000 else None


def _iso(value: datetime) -> str:
    return value.isoformat()


# --------------------------------------------------------------------------------------------
# Items: an article reduced to the cleaned values every format renders.


@dataclass(frozen=True)
class _Item:
    id: str
    atom_id: str
    title: str
    link: str | None
    summary: str  # plain text, never empty
    content_html: str  # may be empty
    content_text: str  # may be empty
    published: datetime | None  # published, else fetched_at
    updated: datetime  # Atom entry <updated>: newest of updated/published, else fetched_at
    modified: datetime | None  # the article's own `updated`, for JSON Feed date_modified
    newest: datetime  # newest of every date the article has; the feed's date derives from it
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    image: str | None
    attribution: str | None
    language: str | None
    source_id: str
    duplicate_of: str | None

    @property
    def sort_key(self) -> tuple[float, str]:
        """Newest first, then by id (two copies of one id with one date: see :func:`_ordered`)."""
        return (-(self.published or EPOCH).timestamp(), self.id)

    @property
    def summary_html(self) -> str:
        return html.escape(self.summary, quote=False)


def _first_words(text: str) -> str:
    return _shorten(_one_line(text), FALLBACK_TITLE_CHARS)


def _item(article: Article) -> _Item:
    item_id = _one_line(article.id)
    if not item_id:
        raise ValueError("article has no id")
    link = _http_url(article.canonical_url) or _http_url(article.url)
    content_html = _xml_safe(article.content_html).strip()
    content_text = _xml_safe(article.text).strip()
    title = (
        _one_line(article.title)
        or _first_words(article.text)
        or _first_words(article.summary)
        or _first_words(_html_to_text(content_html))
        or link
        or UNTITLED
    )
    title = _shorten(title, MAX_TITLE_CHARS)
    summary = (
        _one_line(article.summary)
        or _shorten(_one_line(content_text), MAX_SUMMARY_CHARS)
        or _shorten(_html_to_text(content_html), MAX_SUMMARY_CHARS)
        or title
    )
    published, updated, fetched = (
        _utc(article.published),
        _utc(article.updated),
        _utc(article.fetched_at),
    )
    page_dates = [d for d in (published, updated) if d is not None]
    all_dates = [*page_dates, *([fetched] if fetched else [])]
    return _Item(
        id=item_id,
        atom_id=_urn(ARTICLE_URN_PREFIX, item_id),
        title=title,
        link=link,
        summary=summary,
        content_html=content_html,
        content_text=content_text,
        published=published or fetched,
        updated=max(page_dates) if page_dates else (fetched or EPOCH),
        modified=updated,
        newest=max(all_dates, default=EPOCH),
        authors=_unique([_plain_name(a) for a in article.authors]),
        tags=_unique([_shorten(_one_line(t), MAX_NAME_CHARS) for t in article.tags]),
        image=_http_url(article.image),
        attribution=_plain_name(article.attribution) or None,
        language=_language(article.language),
        source_id=_one_line(article.source_id),
        duplicate_of=_one_line(article.duplicate_of) or None,
    )


class ItemCache:
    """Cleaned items shared by every feed (and format) that carries an article.

    A source's article usually sits in its source feed, its topic feeds and ``all``; cleaning is
    most of the cost of rendering, so each article object is cleaned once. Entries are keyed by
    article id and hold the article object they were made from: a different object with the
    same id (another copy, or a later read) is cleaned afresh, so a cache never changes output.
    ``limit`` bounds the entries kept (the least recently used go first); None keeps all.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._entries: OrderedDict[str, tuple[Article, _Item]] = OrderedDict()
        self._limit = limit

    def item(self, article: Article) -> _Item:
        """The cleaned item of ``article``; raises what cleaning raises (a failure is not kept:
        such articles are rare, and each feed logs its own warning)."""
        key = getattr(article, "id", None)
        entry = self._entries.get(key) if isinstance(key, str) else None
        if entry is not None and entry[0] is article:
            self._entries.move_to_end(key)  # type: ignore[arg-type]
            return entry[1]
        item = _item(article)
        if isinstance(key, str):
            self._entries[key] = (article, item)
            self._entries.move_to_end(key)
            if self._limit is not None and len(self._entries) > self._limit:
                self._entries.popitem(last=False)
        return item


def _items(
    feed_name: str, articles: Sequence[Article], fmt: str, cache: ItemCache | None = None
) -> list[_Item]:
    """Cleaned items, newest first, each id once; articles that cannot be cleaned are skipped.

    ``fmt`` only names the format(s) in the warning about a skipped article.
    """
    items: list[_Item] = []
    clean = _item if cache is None else cache.item
    for article in articles:
        try:
            items.append(clean(article))
        except Exception as exc:  # one odd article must not take the whole feed down
            _warn_skipped(feed_name, fmt, getattr(article, "id", None), exc)
    return _ordered(items)


def _sort_key(item: _Item) -> tuple[float, str]:
    return item.sort_key


def _ordered(items: list[_Item]) -> list[_Item]:
    """Newest first, then by id; of two copies of one id the newer wins.

    Two copies of one id with the same date are the only tie :attr:`_Item.sort_key` leaves; the
    copy with the smaller ``repr`` wins, so the input order never shows in the output. The repr
    (which formats whole items, HTML included) is computed only for such copies, which are rare.
    """
    items.sort(key=_sort_key)
    unique_items: list[_Item] = []
    seen: set[str] = set()
    for _key, group in itertools.groupby(items, key=_sort_key):
        copies = list(group)  # one id, one date: nearly always a single item
        item = copies[0] if len(copies) == 1 else min(copies, key=repr)
        if item.id not in seen:  # an earlier group held a newer copy
            seen.add(item.id)
            unique_items.append(item)
    return unique_items


def _warn_skipped(feed_name: str, fmt: str, article_id: object, exc: Exception) -> None:
    log.warning(
        "feed.item_skipped feed=%s format=%s article=%r error=%s: %s",
        feed_name,
        fmt,
        article_id,
        type(exc).__name__,
        exc,
    )


def _feed_updated(items: Sequence[_Item]) -> datetime:
    return max((item.newest for item in items), default=EPOCH)


@dataclass(frozen=True)
class _Channel:
    """FeedInfo, cleaned the same way as items."""

    name: str
    title: str
    description: str
    site_url: str
    public_url: str
    language: str | None
    hub_url: str | None
    ttl_minutes: int | None

    def url(self, fmt: str) -> str:
        return feed_url(self.public_url, self.name, fmt)


def _public_base(public_url: str) -> str:
    """The public base URL without a trailing slash (settings validate it; clean it anyway)."""
    base = public_url.rstrip("/")
    return _http_url(base) or base


def _channel(info: FeedInfo) -> _Channel:
    public_url = _public_base(info.public_url)
    title = _shorten(_one_line(info.title), MAX_TITLE_CHARS) or _one_line(info.name) or GENERATOR
    return _Channel(
        name=info.name,
        title=title,
        description=_one_line(info.description) or title,
        site_url=_http_url(info.site_url) or public_url,
        public_url=public_url,
        language=_language(info.language),
        hub_url=_http_url(info.hub_url),
        ttl_minutes=info.ttl_minutes if info.ttl_minutes and info.ttl_minutes > 0 else None,
    )


# --------------------------------------------------------------------------------------------
# RSS and Atom through feedgen


class _ChannelExtension:
    """feedgen feed extension: declares the dc and media namespaces, and adds the WebSub hub
    link to RSS (feedgen writes only the first ``rel="self"`` link into an RSS channel)."""

    def __init__(self) -> None:
        self.hub_url: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS, "media": MEDIA_NS}

    def extend_rss(self, rss: Any) -> Any:
        if self.hub_url:
            channel = rss[0]
            hub = channel.makeelement(f"{{{ATOM_NS}}}link", {"href": self.hub_url, "rel": "hub"})
            channel.append(hub)
        return rss

    def extend_atom(self, feed: Any) -> Any:
        return feed


class _ItemExtension:
    """feedgen entry extension for what feedgen has no setter for."""

    def __init__(self) -> None:
        self.creators: tuple[str, ...] = ()  # RSS only: Atom has <author>
        self.attribution: str | None = None
        self.image: str | None = None

    def _append(self, element: Any, tag: str, text: str | None = None, **attrs: str) -> None:
        child = element.makeelement(tag, attrs)
        if text is not None:
            child.text = text
        element.append(child)

    def _extend(self, element: Any, *, creators: bool) -> Any:
        if creators:
            for name in self.creators:
                self._append(element, f"{{{DC_NS}}}creator", name)
        if self.attribution:
            self._append(element, f"{{{DC_NS}}}source", self.attribution)
        if self.image:
            self._append(element, f"{{{MEDIA_NS}}}content", url=self.image, medium="image")
        return element

    def extend_rss(self, item: Any) -> Any:
        return self._extend(item, creators=True)

    def extend_atom(self, entry: Any) -> Any:
        return self._extend(entry, creators=False)


_EXTENSION = "newswire"


def _feed_generator(
    channel: _Channel, items: Sequence[_Item], fmt: str, *, check_entries: bool = True
) -> Any:
    """A FeedGenerator holding the channel and every item that renders in ``fmt``.

    With ``check_entries=False`` an entry is only filled, not built, so an entry feedgen cannot
    build makes the serialization fail instead of being skipped (see :func:`_serialized`).
    """
    feed = FeedGenerator()
    feed.register_extension(_EXTENSION, _ChannelExtension, _ItemExtension)
    getattr(feed, _EXTENSION).hub_url = channel.hub_url
    feed.id(_urn(FEED_URN_PREFIX, channel.name))
    feed.title(channel.title)
    feed.description(channel.description)  # also the Atom subtitle
    # Atom requires a feed author unless every entry has one.
    feed.author({"name": channel.title})
    # feedgen writes the LAST link added as the RSS channel <link>: self and hub first.
    feed.link(href=channel.url(fmt), rel="self", type=FORMATS[fmt].split(";")[0])
    if channel.hub_url:
        feed.link(href=channel.hub_url, rel="hub")
    feed.link(href=channel.site_url, rel="alternate", type="text/html")
    if channel.language:
        feed.language(channel.language)
    if channel.ttl_minutes:
        feed.ttl(channel.ttl_minutes)
    feed.generator(GENERATOR)  # instead of feedgen's name and version

    rendered: list[_Item] = []
    for item in items:
        entry = feed.add_entry(order="append")  # the default prepends, reversing the order
        try:
            _fill_entry(entry, item, fmt)
            # feedgen builds XML only when the whole feed is serialized; build this entry now
            # so an error skips one item instead of failing the feed.
            if check_entries:
                _ = entry.rss_entry() if fmt == "rss" else entry.atom_entry()
        except Exception as exc:
            feed.remove_entry(entry)
            _warn_skipped(channel.name, fmt, item.id, exc)
        else:
            rendered.append(item)

    # feedgen would say "now"; the newest item's date keeps the bytes stable.
    updated = _feed_updated(rendered)
    feed.updated(updated)  # Atom <updated> and RSS <lastBuildDate>
    feed.pubDate(updated)
    return feed


def _fill_entry(entry: Any, item: _Item, fmt: str) -> None:
    # feedgen's id() and guid() both set the Atom <id> and the RSS <guid>; each format gets its own.
    if fmt == "rss":
        entry.guid(item.id, permalink=False)
    else:
        entry.id(item.atom_id)
    entry.title(item.title)
    if item.link:
        # rel="alternate" makes it the RSS <link>. (feedgen 1.0 drops rel and type from Atom
        # entry links; a link without rel is an alternate link in Atom anyway.)
        entry.link(href=item.link, rel="alternate")
    # The summary goes in the RSS <description> and Atom <summary>, escaped as HTML; the full
    # body in <content:encoded> and Atom <content type="html">.
    entry.summary(item.summary_html, type="html")
    if item.content_html:
        entry.content(item.content_html, type="html")
    elif not item.link:
        entry.content(f"<p>{item.summary_html}</p>", type="html")  # Atom: content or a link
    entry.updated(item.updated)
    if item.published:
        entry.published(item.published)  # Atom <published> and RSS <pubDate>
    for name in item.authors:
        entry.author({"name": name})
    for tag in item.tags:
        entry.category({"term": tag})
    extension = getattr(entry, _EXTENSION)
    extension.creators = item.authors
    extension.attribution = item.attribution
    extension.image = item.image


def render_rss(info: FeedInfo, articles: Sequence[Article]) -> bytes:
    """RSS 2.0 with content:encoded, dc:creator, media:content and atom:link rel=self."""
    return _rss(_channel(info), _items(info.name, articles, "rss"))


def render_atom(info: FeedInfo, articles: Sequence[Article]) -> bytes:
    """Atom 1.0 (RFC 4287)."""
    return _atom(_channel(info), _items(info.name, articles, "atom"))


def _rss(channel: _Channel, items: Sequence[_Item]) -> bytes:
    return _serialized(channel, items, "rss")


def _atom(channel: _Channel, items: Sequence[_Item]) -> bytes:
    return _serialized(channel, items, "atom")


def _serialized(channel: _Channel, items: Sequence[_Item], fmt: str) -> bytes:
    """The RSS or Atom bytes of ``items``, skipping (and logging) entries feedgen cannot build.

    Building an entry's XML is a good part of the cost, and checking each entry beforehand
    would build every entry twice. So the feed is first serialized unchecked; only when that
    fails is it rebuilt with every entry checked, which skips the culprits. Both paths give the
    same bytes for the same rendered entries.
    """
    try:
        return _to_bytes(_feed_generator(channel, items, fmt, check_entries=False), fmt)
    except Exception:
        return _to_bytes(_feed_generator(channel, items, fmt), fmt)


def _to_bytes(feed: Any, fmt: str) -> bytes:
    serialize = feed.rss_str if fmt == "rss" else feed.atom_str
    data: bytes = serialize(pretty=True, encoding="UTF-8", xml_declaration=True)
    return data


# --------------------------------------------------------------------------------------------
# JSON Feed


def _json_item(item: _Item) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": item.id}
    if item.link:
        entry["url"] = item.link
    entry["title"] = item.title
    if item.content_html:
        entry["content_html"] = item.content_html
    if item.content_text or not item.content_html:  # an item needs content_html or content_text
        entry["content_text"] = item.content_text or item.summary
    entry["summary"] = item.summary
    if item.image:
        entry["image"] = item.image
    if item.published:
        entry["date_published"] = _iso(item.published)
    if item.modified:
        entry["date_modified"] = _iso(item.modified)
    if item.authors:
        entry["authors"] = [{"name": name} for name in item.authors]
    if item.tags:
        entry["tags"] = list(item.tags)
    if item.language:
        entry["language"] = item.language
    entry["_newswire"] = {
        "source_id": item.source_id,
        "attribution": item.attribution,
        "duplicate_of": item.duplicate_of,
    }
    return entry


def render_json(info: FeedInfo, articles: Sequence[Article]) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
    return _json(_channel(info), _items(info.name, articles, "json"))


def _json(channel: _Channel, items: Sequence[_Item]) -> bytes:
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": channel.title,
        "home_page_url": channel.site_url,
        "feed_url": channel.url("json"),
        "description": channel.description,
    }
    if channel.language:
        feed["language"] = channel.language
    if channel.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": channel.hub_url}]
    json_items = []
    for item in items:
        try:
            json_items.append(_json_item(item))
        except Exception as exc:
            _warn_skipped(channel.name, "json", item.id, exc)
    feed["items"] = json_items
    # Compact: with ``indent`` json.dumps falls back to its pure-Python encoder, ~10x slower,
    # and a feed is rendered on every rebuild.
    return (json.dumps(feed, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


_RENDERERS: dict[str, Callable[[_Channel, Sequence[_Item]], bytes]] = {
    "rss": _rss,
    "atom": _atom,
    "json": _json,
}


def render(info: FeedInfo, articles: Sequence[Article], fmt: str) -> bytes:
    """Render ``articles`` as feed ``info`` in ``fmt``: "rss", "atom" or "json" (see FORMATS)."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown feed format {fmt!r}; expected one of {', '.join(FORMATS)}"
        ) from None
    return renderer(_channel(info), _items(info.name, articles, fmt))


def render_all(
    info: FeedInfo, articles: Sequence[Article], cache: ItemCache | None = None
) -> dict[str, bytes]:
    """Every format of one feed, ``{fmt: bytes}`` in FORMATS order; the same bytes as
    :func:`render` gives per format, for a third of the cost: the articles are cleaned once
    (and, with a shared ``cache``, once per rebuild whatever number of feeds carry them).

    An article that cannot be cleaned is skipped with one warning for all formats.
    """
    channel = _channel(info)
    items = _items(info.name, articles, ",".join(FORMATS), cache)
    return {fmt: _RENDERERS[fmt](channel, items) for fmt in FORMATS}


# --------------------------------------------------------------------------------------------
# OPML and the index page


def render_opml(feeds: Sequence[FeedInfo], public_url: str) -> bytes:
    """OPML 2.0 listing every feed once.

    Each feed is one ``outline``: ``xmlUrl`` is the RSS URL, so importing the file subscribes
    to each feed once; the Atom and JSON Feed URLs ride along in ``atomUrl`` and ``jsonUrl``
    (OPML allows extra attributes). No dates, so the bytes change only when the feeds do.
    """
    opml = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = "newswire feeds"
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(opml, "body")
    for channel in _channels(feeds, public_url):
        attributes = {
            "type": "rss",
            "text": channel.title,
            "title": channel.title,
            "description": channel.description,
            "xmlUrl": channel.url("rss"),
            "htmlUrl": channel.site_url,
            "atomUrl": channel.url("atom"),
            "jsonUrl": channel.url("json"),
        }
        if channel.language:
            attributes["language"] = channel.language
        ET.SubElement(body, "outline", attributes)
    ET.indent(opml)
    document: bytes = ET.tostring(opml, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _channels(feeds: Sequence[FeedInfo], public_url: str) -> list[_Channel]:
    """Cleaned channels in the given order, each feed name once, all under ``public_url``."""
    base = _public_base(public_url)
    channels: dict[str, _Channel] = {}
    for info in feeds:
        if info.name not in channels:
            channels[info.name] = dataclasses.replace(_channel(info), public_url=base)
    return list(channels.values())


_FORMAT_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


def render_index_html(feeds: Sequence[FeedInfo], public_url: str) -> bytes:
    """A small HTML page linking every feed in each format, and the OPML file."""

    def esc(text: str) -> str:
        return html.escape(text, quote=True)

    channels = _channels(feeds, public_url)
    discovery = [
        f'<link rel="alternate" type="{FORMATS[fmt].split(";")[0]}" '
        f'title="{esc(channel.title)} ({_FORMAT_LABELS[fmt]})" href="{esc(channel.url(fmt))}">'
        for channel in channels
        for fmt in FORMATS
    ]
    rows = []
    for channel in channels:
        links = " · ".join(
            f'<a href="{esc(channel.url(fmt))}">{_FORMAT_LABELS[fmt]}</a>' for fmt in FORMATS
        )
        rows.append(
            "<li>"
            f'<a href="{esc(channel.site_url)}">{esc(channel.title)}</a>'
            f" — {esc(channel.description)}<br>{links}"
            "</li>"
        )
    base = _public_base(public_url)
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>newswire feeds</title>",
            *discovery,
            "</head>",
            "<body>",
            "<h1>newswire feeds</h1>",
            f'<p>All feeds as OPML: <a href="{esc(opml_url(base))}">feeds.opml</a></p>',
            "<ul>",
            *rows,
            "</ul>",
            "</body>",
            "</html>",
            "",
        ]
    )
    return page.encode("utf-8")


# --------------------------------------------------------------------------------------------
# Files


def write_atomic(path: Path, data: bytes, *, sync_directory: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new, never half.

    The bytes go to a temporary file in the same directory (same file system, so the rename
    is atomic), are fsynced, and the file is renamed over ``path``; the directory is fsynced
    too so the rename survives a crash. The file is made world-readable: static web servers
    usually run as another user.

    A caller replacing many files in one directory passes ``sync_directory=False`` and calls
    :func:`fsync_directory` once after the last rename: one directory fsync covers them all.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if sync_directory:
        fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make the renames done in ``directory`` durable (best effort where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform; the data itself is already synced
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
