"""Article and listing extraction: one HTML page in, an ``Article`` (or a list of links) out.

The order of trust, field by field, is: the source's configured CSS selectors, then the page's
own metadata (JSON-LD, OpenGraph/Twitter cards, ``<meta>`` conventions, microdata, ``<time>``),
then generic heuristics. ``provenance`` records which one answered, so ``newswire check`` can
explain a wrong field.

The body comes from a content scorer in the spirit of Mozilla's Readability: paragraphs score
their ancestors by length and punctuation, containers are weighted by tag and by class/id hints
and discounted by link density; the winner and its worthy siblings form the article, which is
then cleaned of boilerplate (share bars, related lists, newsletter boxes, disclaimers, blocks the
source repeats on every page, the "Source : X" attribution line and a leading copy of the title).

A page is parsed once. Metadata is read in one walk over the tree before anything is removed;
everything after that mutates the tree, so the order of the steps in ``analyze_article`` matters.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, Tag
from bs4.builder._lxml import LXMLTreeBuilder
from bs4.element import (
    AttributeValueWithCharsetSubstitution,
    CData,
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    PageElement,
    PreformattedString,
    ProcessingInstruction,
)

from config.sources import Source
from tasks.dates import date_from_url, parse_date
from tasks.decode import decode_html
from tasks.errors import ParseError
from tasks.models import Article
from tasks.normalize import (
    absolute_url,
    article_id,
    canonical_url,
    fingerprint,
    normalize_text,
    sanitize_html,
)

# --- vocabulary ---------------------------------------------------------------------------------

# Never content: removed before anything is scored.
DROP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "iframe",
        "object",
        "embed",
        "canvas",
        "input",
        "button",
        "select",
        "textarea",
        "link",
        "meta",
        "head",
        "dialog",
    }
)
BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "td",
        "th",
        "ul",
        "caption",
        "summary",
        "center",
        "body",
    }
)
HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Elements whose text scores their ancestors as a paragraph would.
PARAGRAPH_TAGS = frozenset({"p", "pre", "td", "blockquote", "li", "dd"})
# Structural elements that are boilerplate by definition inside an article body.
NON_CONTENT_TAGS = frozenset({"nav", "aside", "footer"})

# Class/id hints. UNLIKELY marks a subtree that is almost never the article (unless it also
# matches MAYBE); the weights nudge container scores.
UNLIKELY_HINTS = re.compile(
    r"-ad-|ai2html|banner|breadcrumb|combx|comment|community|cover-wrap|disqus|extra|footer|gdpr"
    r"|cookie|consent|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper"
    r"|social|sponsor|supplemental|ad-break|agegate|pagination|pager|popup|yom-remote|newsletter"
    r"|subscribe|signup|share|sharing|disclaimer|promo|navbar|widget|outbrain|taboola|recommend"
    r"|most-?popular|trending|toolbar|masthead|jump-?link|gallery|slideshow|carousel",
    re.I,
)
MAYBE_CONTENT_HINTS = re.compile(r"and|article|body|column|content|main|mathjax|shadow", re.I)
NEGATIVE_HINTS = re.compile(
    r"-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|footer|gdpr|masthead"
    r"|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|sponsor"
    r"|shopping|tags|widget|nav|menu|social|newsletter|cookie|disclaimer|breadcrumb|byline"
    r"|author|dateline|caption|credit|copyright|subscribe",
    re.I,
)
POSITIVE_HINTS = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|post|text|blog|story|detail", re.I
)
UNLIKELY_ROLES = frozenset(
    {"menu", "menubar", "complementary", "navigation", "alert", "alertdialog", "dialog"}
)
# Small elements around the text that are about the article, not part of it.
FURNITURE_HINTS = re.compile(
    r"\b(?:by-?line|author|authors|dateline|timestamp|date|time|posted-on|meta|entry-meta"
    r"|post-meta|article-meta|story-meta|share|sharing|social|tags|tag-list|print|toolbar"
    r"|published|updated)\b",
    re.I,
)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# Headings that introduce boilerplate lists at the end of an article.
BOILERPLATE_HEADING = re.compile(
    r"^(?:related|more|read more|see also|you may also like|recommended|popular|trending|latest"
    r"|share|follow us|tags|comments?|leave a (?:reply|comment)|ข่าวที่เกี่ยวข้อง|ข่าวล่าสุด)\b",
    re.I,
)
ATTRIBUTION_LINE = re.compile(
    r"^\s*(?:sources?|source\s+link|ที่มา|แหล่งที่มา|แหล่งข่าว|quellen?|fuentes?|fontes?"
    r"|bronn?en|sumber)\s*[:：]\s*(?P<who>.{1,150}?)\s*$",
    re.I,
)
BYLINE_PREFIX = re.compile(r"^\s*(?:by|from|written by|posted by|author:?|โดย)\s+", re.I)
SENTENCE_END = re.compile(r"[.!?。！？]\s*$")
COMMAS = re.compile(r"[,，、،]")

ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "blogposting",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "reviewnewsarticle",
        "backgroundnewsarticle",
        "scholarlyarticle",
        "techarticle",
        "report",
        "liveblogposting",
        "socialmediaposting",
        "webpage",
        "posting",
        "creativework",
        "medicalwebpage",
        "aboutpage",
        "itempage",
    }
)
PUBLISHED_META = (
    "article:published_time",
    "og:published_time",
    "og:article:published_time",
    "datepublished",
    "date",
    "pubdate",
    "publishdate",
    "publish_date",
    "publish-date",
    "published_time",
    "publication_date",
    "dc.date",
    "dc.date.issued",
    "dc.date.created",
    "dcterms.created",
    "dcterms.issued",
    "dcterms.date",
    "sailthru.date",
    "parsely-pub-date",
    "article.published",
    "article_date_original",
    "cxenseparse:recs:publishtime",
    "originalpublicationdate",
    "displaydate",
    "dc.date.published",
    "timestamp",
    "rnews:datepublished",
    "og:pubdate",
    "date_published",
    "citation_publication_date",
    "last-modified",
)
UPDATED_META = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "modified",
    "dcterms.modified",
    "dc.date.modified",
    "lastmod",
    "article.updated",
    "updated_time",
    "sailthru.lastmodified",
)
AUTHOR_META = (
    "author",
    "article:author",
    "parsely-author",
    "sailthru.author",
    "dc.creator",
    "dcterms.creator",
    "byl",
    "citation_author",
    "twitter:creator",
)
DESCRIPTION_META = ("og:description", "description", "twitter:description", "dc.description")
TITLE_META = ("og:title", "twitter:title", "dc.title", "dcterms.title", "parsely-title", "title")
TAG_META = ("article:tag", "news_keywords", "keywords", "parsely-tags", "sailthru.tags")
# Separators between a headline and the site name in <title>.
TITLE_SEPARATOR = re.compile(r"\s+[|\-–—:·•»/\\]+\s+|\s*[|·•»]\s*")

SUMMARY_CHARS = 300
MIN_PARAGRAPH_CHARS = 25
MIN_BODY_CHARS = 500  # below this the first pass was too aggressive and is retried
MIN_BLOCK_CHARS = 10  # shorter blocks are not fingerprinted for template learning
MAX_SCORED_DEPTH = 400  # real pages nest a few dozen levels deep


# --- parsing ------------------------------------------------------------------------------------


class _HTMLTreeBuilder(LXMLTreeBuilder):
    """bs4's lxml builder without its namespace bookkeeping for plain HTML elements.

    lxml's HTML parser reports no namespaces, yet bs4 copies every attribute dict twice and
    resolves namespace prefixes for every tag: an eighth of the parse. Whenever a namespace is
    in play after all, the stock code runs, so the tree is exactly the one bs4 would build.
    """

    def start(
        self, tag: str | bytes, attrib: dict[str | bytes, str | bytes], nsmap: Any = None
    ) -> None:
        if (
            nsmap
            or len(self.nsmaps) > 1
            or not isinstance(tag, str)
            or tag.startswith("{")
            or (attrib and "{" in "".join(map(str, attrib)))
            or self.soup is None
        ):
            super().start(tag, attrib, nsmap or {})
            return
        attrs: dict[str, str] = dict(attrib)  # type: ignore[arg-type]  # str in HTML mode
        self.soup.handle_starttag(
            tag, None, None, attrs, namespaces=self.active_namespace_prefixes[-1]
        )

    def end(self, tag: str | bytes) -> None:
        if len(self.nsmaps) > 1 or not isinstance(tag, str) or tag.startswith("{") or not self.soup:
            super().end(tag)
            return
        self.soup.endData()
        self.soup.handle_endtag(tag, None)


def parse_html(html: bytes | str, content_type: str | None = None) -> BeautifulSoup:
    """One parse of a page with lxml; bytes are decoded first (tasks.decode)."""
    text = decode_html(html, content_type)[0] if isinstance(html, bytes) else html
    # lxml stops at NUL characters; they are never meaningful in HTML. Attributes stay plain
    # strings (class="a b" is not split into a list): faster, and _attr reads both.
    builder = _HTMLTreeBuilder(multi_valued_attributes=None)
    return BeautifulSoup(text.replace("\x00", ""), builder=builder)


def _text(node: Tag | NavigableString | None) -> str:
    if node is None:
        return ""
    return normalize_text(node.get_text(" ") if isinstance(node, Tag) else str(node))


def _short_text(tag: Tag, limit: int) -> str:
    """``_text(tag)`` when it is at most ``limit`` characters, else "" (without reading it all)."""
    pieces: list[str] = []
    size = 0
    for string in tag.strings:
        size += len(string.strip())
        if size > limit:
            return ""
        pieces.append(string)
    text = normalize_text(" ".join(pieces))
    return text if len(text) <= limit else ""


def _attr(tag: Tag, name: str) -> str:
    # Read on every tag of the page, several times: plain dict access, the common case first.
    attrs = tag.attrs
    if not attrs:
        return ""
    value = attrs.get(name)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return " ".join(value)
    return ""


def _hints(tag: Tag) -> str:
    if not tag.attrs:
        return ""
    return f"{_attr(tag, 'class')} {_attr(tag, 'id')}".strip()


def _descendant_tags(root: Tag, names: frozenset[str] | None = None) -> list[Tag]:
    """``root.find_all(names or True)`` without building a SoupStrainer per call.

    Called thousands of times on small subtrees, where bs4's matcher set-up costs more than the
    walk itself.
    """
    if names is None:
        return [node for node in root.descendants if isinstance(node, Tag)]
    return [node for node in root.descendants if isinstance(node, Tag) and node.name in names]


def _first_descendant(root: Tag, names: frozenset[str]) -> Tag | None:
    """``root.find(names)``, as cheaply as ``_descendant_tags``."""
    for node in root.descendants:
        if isinstance(node, Tag) and node.name in names:
            return node
    return None


def _has_ancestor(tag: Tag, names: frozenset[str]) -> bool:
    """``tag.find_parent(names) is not None``."""
    parent = tag.parent
    while parent is not None:
        if parent.name in names:
            return True
        parent = parent.parent
    return False


def _escape_xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _quoted(value: str) -> str:
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return '"' + value.replace('"', "&quot;") + '"'


def _serialize(root: Tag) -> str:
    """``str(root)``: the same markup as bs4's "minimal" formatter, several times faster.

    bs4 renders through a generator of events and a formatter call per node; the body of a
    long article has thousands of nodes, and this runs once per page on the whole body.
    """
    if isinstance(root, BeautifulSoup):
        return str(root)
    pieces: list[str] = []
    stack: list[PageElement | str] = [root]
    while stack:
        node = stack.pop()
        if type(node) is str:  # a closing tag pushed below
            pieces.append(node)
        elif isinstance(node, Tag):
            name = f"{node.prefix}:{node.name}" if node.prefix else node.name
            attributes = "".join(
                f" {key}" if value is None else f" {key}={_quoted(_escape_xml(_attr_text(value)))}"
                for key, value in sorted(node.attrs.items())
            )
            if not node.contents and node.can_be_empty_element:
                pieces.append(f"<{name}{attributes}/>")
                continue
            pieces.append(f"<{name}{attributes}>")
            stack.append(f"</{name}>")
            stack.extend(reversed(node.contents))
        elif isinstance(node, PreformattedString):  # comments, CDATA, doctypes: verbatim
            pieces.append(f"{node.PREFIX}{node}{node.SUFFIX}")
        elif isinstance(node, NavigableString):
            parent = node.parent
            text = str(node) if parent is not None and parent.name in RAW_TEXT_TAGS else None
            pieces.append(f"{node.PREFIX}{text or _escape_xml(node)}{node.SUFFIX}")
    return "".join(pieces)


# Their text is written out as is (bs4's HTMLFormatter.cdata_containing_tags).
RAW_TEXT_TAGS = frozenset({"script", "style"})


def _attr_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(value)
    if isinstance(value, AttributeValueWithCharsetSubstitution):
        return str(value.substitute_encoding("utf-8"))
    return value if isinstance(value, str) else str(value)


def block_fingerprint(text: str) -> str:
    """Fingerprint of one block of text, the unit of template learning."""
    return hashlib.blake2b(normalize_text(text).lower().encode("utf-8"), digest_size=8).hexdigest()


# --- metadata: one walk over the tree -----------------------------------------------------------


@dataclass
class PageMetadata:
    """Everything the page says about itself, gathered before the tree is cleaned."""

    lang: str = ""
    doc_title: str = ""
    meta: dict[str, str] = field(default_factory=dict)  # lower-cased name/property -> content
    meta_lists: dict[str, list[str]] = field(default_factory=dict)  # repeated ones (tags)
    json_ld: dict[str, Any] = field(default_factory=dict)  # the article item, if any
    json_ld_items: list[dict[str, Any]] = field(default_factory=list)
    canonical: str = ""
    image_src: str = ""
    h1s: list[Tag] = field(default_factory=list)
    times: list[Tag] = field(default_factory=list)
    itemprops: dict[str, list[Tag]] = field(default_factory=dict)
    author_links: list[Tag] = field(default_factory=list)
    # Only the outermost ones: decomposing a tag again inside a removed subtree costs a find().
    hidden: list[Tag] = field(default_factory=list)
    droppable: list[Tag] = field(default_factory=list)
    all_tags: list[Tag] = field(default_factory=list)
    max_depth: int = 0


# The tags _collect_metadata reads something from, besides attributes every tag may carry.
METADATA_TAGS = frozenset({"meta", "script", "link", "title", "h1", "time", "html", "a"})


def _collect_metadata(soup: BeautifulSoup) -> PageMetadata:
    page = PageMetadata()
    depths: dict[int, int] = {}
    doomed: set[int] = set()  # ids of the tags _remove_noise will take out, with their subtrees
    for tag in soup.find_all(True):
        name = tag.name
        page.all_tags.append(tag)
        parent_id = id(tag.parent)
        depth = depths.get(parent_id, 0) + 1
        depths[id(tag)] = depth
        if depth > page.max_depth:
            page.max_depth = depth
        inside_doomed = parent_id in doomed
        attrs = tag.attrs
        if name not in METADATA_TAGS:
            pass  # most tags: skip the chain below
        elif name == "meta":
            _read_meta(tag, page)
        elif name == "script":
            if "ld+json" in _attr(tag, "type").lower():
                page.json_ld_items.extend(_parse_json_ld(tag.string or tag.get_text()))
        elif name == "link":
            rel = _attr(tag, "rel").lower().split()
            if "canonical" in rel and not page.canonical:
                page.canonical = _attr(tag, "href")
            elif "image_src" in rel and not page.image_src:
                page.image_src = _attr(tag, "href")
            elif "author" in rel:
                page.author_links.append(tag)
        elif name == "title" and not page.doc_title:
            page.doc_title = _text(tag)
        elif name == "h1":
            page.h1s.append(tag)
        elif name == "time":
            page.times.append(tag)
        elif name == "html":
            page.lang = _attr(tag, "lang") or _attr(tag, "xml:lang")
        elif name == "a" and "author" in _attr(tag, "rel").lower().split():
            page.author_links.append(tag)
        prop = attrs.get("itemprop") if attrs else None
        if isinstance(prop, str):
            for key in prop.split():
                page.itemprops.setdefault(key, []).append(tag)
        if name in DROP_TAGS:
            doomed.add(id(tag))
            if not inside_doomed:
                page.droppable.append(tag)
        elif attrs and (
            "hidden" in attrs
            or _attr(tag, "aria-hidden").lower() == "true"
            or ("style" in attrs and HIDDEN_STYLE.search(_attr(tag, "style")))
        ):
            if not inside_doomed:
                page.hidden.append(tag)
            if inside_doomed or name not in ("html", "body"):
                doomed.add(id(tag))
        elif inside_doomed:
            doomed.add(id(tag))
    page.json_ld = _article_item(page.json_ld_items)
    return page


def _read_meta(tag: Tag, page: PageMetadata) -> None:
    # <meta itemprop=...> is microdata, read with the other itemprops.
    key = (_attr(tag, "property") or _attr(tag, "name")).lower()
    if not key:
        if _attr(tag, "http-equiv").lower() == "content-language":
            page.meta.setdefault("content-language", _attr(tag, "content"))
        return
    content = _attr(tag, "content") or _attr(tag, "value")
    if not content:
        return
    for name in key.split():  # property="og:title dc:title" names both
        page.meta.setdefault(name, content)
        if name in TAG_META:
            page.meta_lists.setdefault(name, []).append(content)


def _parse_json_ld(raw: str) -> list[dict[str, Any]]:
    """Every JSON object in a ld+json script, flattening lists and @graph; tolerant of junk."""
    # Sites wrap the JSON in comments or CDATA markers; the object is between the outer braces.
    raw = raw.replace("<![CDATA[", "").replace("]]>", "")
    start = min((i for i in (raw.find("{"), raw.find("[")) if i >= 0), default=-1)
    end = max(raw.rfind("}"), raw.rfind("]"))
    if start < 0 or end <= start:
        return []
    raw = raw[start : end + 1]
    data: Any = None
    for attempt in (raw, re.sub(r",[\s,]*([}\]])", r"\1", re.sub(r",\s*,", ",", raw))):
        try:
            data = json.loads(attempt, strict=False)
            break
        except ValueError:
            continue
    items: list[dict[str, Any]] = []
    stack = [data]
    while stack and len(items) < 50:
        current = stack.pop(0)
        if isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, dict):
            items.append(current)
            graph = current.get("@graph")
            if isinstance(graph, list):
                stack.extend(graph)
            main = current.get("mainEntity")
            if isinstance(main, dict):
                stack.append(main)
    return items


def _ld_types(item: dict[str, Any]) -> set[str]:
    kinds = item.get("@type")
    if isinstance(kinds, str):
        return {kinds.lower()}
    if isinstance(kinds, list):
        return {kind.lower() for kind in kinds if isinstance(kind, str)}
    return set()


def _article_item(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-LD item describing the article: a *NewsArticle* beats a generic WebPage."""
    best: dict[str, Any] = {}
    best_rank = len(ARTICLE_TYPES) + 1
    ranked = ["newsarticle", "reportagenewsarticle", "article", "blogposting"]
    for item in items:
        kinds = _ld_types(item) & ARTICLE_TYPES
        if not kinds:
            continue
        rank = min((ranked.index(k) if k in ranked else len(ranked)) for k in kinds)
        if "webpage" in kinds and not item.get("headline"):
            rank = len(ARTICLE_TYPES)
        if rank < best_rank:
            best, best_rank = item, rank
    return best


def _ld_text(value: Any) -> str:
    if isinstance(value, str):
        return normalize_text(value)
    if isinstance(value, dict):
        return _ld_text(value.get("name") or value.get("@value") or value.get("url") or "")
    if isinstance(value, list) and value:
        return _ld_text(value[0])
    return ""


def _ld_names(value: Any) -> list[str]:
    if isinstance(value, list):
        return [name for item in value for name in _ld_names(item)]
    if isinstance(value, dict):
        name = value.get("name")
        return [normalize_text(name)] if isinstance(name, str) and name.strip() else []
    if isinstance(value, str) and value.strip():
        return [normalize_text(value)]
    return []


def _ld_url(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return _ld_url(value.get("url") or value.get("contentUrl") or value.get("@id") or "")
    if isinstance(value, list) and value:
        return _ld_url(value[0])
    return ""


# --- the page, section by section ---------------------------------------------------------------


@dataclass
class _Extraction:
    """Working state of one extraction: fields found so far and where they came from."""

    url: str
    source: Source | None
    zone: tzinfo
    now: datetime
    provenance: dict[str, str] = field(default_factory=dict)

    def found(self, name: str, origin: str) -> None:
        self.provenance.setdefault(name, origin)


def _select_one(soup: BeautifulSoup | Tag, selector: str | None) -> Tag | None:
    if not selector:
        return None
    try:
        found = soup.select_one(selector)
    except Exception:  # a selector soupsieve accepted at config time but cannot run here
        return None
    return found if isinstance(found, Tag) else None


def _select(soup: BeautifulSoup | Tag, selector: str | None) -> list[Tag]:
    if not selector:
        return []
    try:
        return [tag for tag in soup.select(selector) if isinstance(tag, Tag)]
    except Exception:
        return []


def _date_of(tag: Tag, state: _Extraction) -> datetime | None:
    for attribute in ("datetime", "content", "data-datetime", "data-timestamp", "title"):
        value = _attr(tag, attribute)
        if value:
            parsed = parse_date(value, tz=state.zone, now=state.now)
            if parsed is not None:
                return parsed
    return parse_date(_text(tag)[:200], tz=state.zone, now=state.now)


DATE_HINTS = re.compile(r"date|time|publish|posted|byline|meta|info|dateline|stamp", re.I)


def _find_dates(
    soup: BeautifulSoup, page: PageMetadata, state: _Extraction
) -> tuple[datetime | None, datetime | None]:
    rules = state.source.article if state.source else None
    published = updated = None
    if rules and rules.published:
        tag = _select_one(soup, rules.published)
        published = _date_of(tag, state) if tag is not None else None
        if published is not None:
            state.found("published", "selector")
    if rules and rules.updated:
        tag = _select_one(soup, rules.updated)
        updated = _date_of(tag, state) if tag is not None else None
        if updated is not None:
            state.found("updated", "selector")

    def parse(value: str) -> datetime | None:
        return parse_date(value, tz=state.zone, now=state.now) if value else None

    if published is None:
        published = parse(_ld_text(page.json_ld.get("datePublished")))
        if published is not None:
            state.found("published", "json-ld")
    if updated is None:
        updated = parse(_ld_text(page.json_ld.get("dateModified")))
        if updated is not None:
            state.found("updated", "json-ld")
    if published is None:
        for key in PUBLISHED_META:
            published = parse(page.meta.get(key, ""))
            if published is not None:
                state.found("published", "meta")
                break
    if updated is None:
        for key in UPDATED_META:
            updated = parse(page.meta.get(key, ""))
            if updated is not None:
                state.found("updated", "meta")
                break
    if published is None:
        published = parse(_ld_text(page.json_ld.get("dateCreated")))
        if published is not None:
            state.found("published", "json-ld")
    if published is None:
        for tag in page.itemprops.get("datePublished", []) + page.itemprops.get("dateCreated", []):
            published = _date_of(tag, state)
            if published is not None:
                state.found("published", "microdata")
                break
    if updated is None:
        for tag in page.itemprops.get("dateModified", []):
            updated = _date_of(tag, state)
            if updated is not None:
                state.found("updated", "microdata")
                break
    if published is None:
        # A <time> marked as the publication time first, then the first one in the page.
        # Only machine-readable ones: a bare "Today 7:30AM" is usually a sidebar teaser. Times
        # on teasers of other stories (cards, most-read lists, comments) are never this one's.
        ordered = sorted(
            (t for t in page.times if t.has_attr("datetime") and not _on_teaser(t)),
            key=lambda t: 0 if t.has_attr("pubdate") or "publish" in _hints(t) else 1,
        )
        for tag in ordered[:10]:
            published = _date_of(tag, state)
            if published is not None:
                state.found("published", "time")
                break
    if published is None:
        published = _date_from_hinted_text(page, state)
        if published is not None:
            state.found("published", "heuristic")
    if published is None:
        published = date_from_url(state.url, tz=state.zone, now=state.now)
        if published is not None:
            state.found("published", "url")
    if updated is not None and published is not None and updated < published:
        updated = None
    return published, updated


# Containers of other stories' teasers, and of comments: a date inside them is theirs. (Not
# <a> or <footer>: blogs put their own date in a permalink and in the article's footer.)
TEASER_TAGS = frozenset({"aside", "nav"})
TEASER_HINTS = re.compile(
    r"related|sidebar|widget|most-?read|most-?popular|popular|trending|teaser|card|recommend"
    r"|promo|more-from|latest|comment|replies",
    re.I,
)


def _on_teaser(tag: Tag) -> bool:
    """Whether ``tag`` sits in a sidebar, a menu, or a list of other stories or comments."""
    parent = tag.parent
    while parent is not None and parent.name not in ("body", "[document]"):
        if parent.name in TEASER_TAGS:
            return True
        hints = _hints(parent)
        if hints and TEASER_HINTS.search(hints):
            return True
        parent = parent.parent
    return False


def _date_from_hinted_text(page: PageMetadata, state: _Extraction) -> datetime | None:
    """A short element whose class/id says date/time/byline and whose text parses as a date.

    Scans from the first <h1> onwards when there is one: dates above the headline are usually
    today's date in the site header.
    """
    tags = page.all_tags
    start = 0
    if page.h1s:
        first_h1 = page.h1s[0]
        for index, tag in enumerate(tags):
            if tag is first_h1:
                start = index
                break
    for scope in (tags[start:], tags[:start]):
        for tag in scope:
            if tag.name in DROP_TAGS or tag.parent is None:
                continue
            hints = _hints(tag)
            if not hints or not DATE_HINTS.search(hints):
                continue
            text = _text(tag)
            if not text or len(text) > 120:
                continue
            parsed = parse_date(text, tz=state.zone, now=state.now)
            if parsed is not None:
                return parsed
    return None


def _word_count(text: str) -> int:
    """Words, counting scripts written without spaces (Thai, CJK) as ~4 characters a word."""
    words = len(text.split())
    return words if text.isascii() else max(words, len(text) // 4)


def _strip_site_name(title: str, site_name: str) -> str:
    """Remove ``site_name`` when it is a separated prefix or suffix of ``title``."""
    if not site_name:
        return title
    site = site_name.lower().strip()
    for separator in TITLE_SEPARATOR.finditer(title):
        before, after = title[: separator.start()].strip(), title[separator.end() :].strip()
        if after.lower() == site or (after and site.startswith(after.lower())):
            return before
        if before.lower() == site:
            return after
    return title


def _clean_title(title: str, site_name: str) -> str:
    """A document title without the site name: "Steel news | ISIT", "ISIT - Steel news"."""
    title = normalize_text(title)
    stripped = _strip_site_name(title, site_name)
    if stripped != title or not TITLE_SEPARATOR.search(title):
        return stripped
    # As Readability does: drop what follows the last separator; if that leaves too little,
    # the site name came first, so drop what precedes the first separator instead.
    separators = list(TITLE_SEPARATOR.finditer(title))
    head = title[: separators[-1].start()].strip()
    if _word_count(head) >= 3:
        return head
    tail = title[separators[0].end() :].strip()
    if _word_count(tail) >= 3:
        return tail
    return title  # "Mozilla - Wikipedia": no telling which half is the site


def _find_title(soup: BeautifulSoup, page: PageMetadata, state: _Extraction) -> str:
    """The headline: the <h1> when the page's metadata agrees with it, else cleaned metadata."""
    rules = state.source.article if state.source else None
    if rules and rules.title:
        tag = _select_one(soup, rules.title)
        if tag is not None and _text(tag):
            state.found("title", "selector")
            return _text(tag)
    publisher = page.json_ld.get("publisher")
    site_name = page.meta.get("og:site_name", "") or _ld_text(publisher if publisher else "")
    meta_title, meta_origin = _ld_text(page.json_ld.get("headline")), "json-ld"
    if not meta_title:
        for tag in page.itemprops.get("headline", [])[:1]:
            meta_title, meta_origin = _attr(tag, "content") or _text(tag), "microdata"
    if not meta_title:
        for key in TITLE_META:
            if page.meta.get(key):
                meta_title = normalize_text(page.meta[key])
                meta_origin = "og" if key.startswith(("og:", "twitter:")) else "meta"
                break
    meta_title = _strip_site_name(meta_title, site_name)
    doc_title = _clean_title(page.doc_title, site_name) if page.doc_title else ""
    first_part = TITLE_SEPARATOR.split(page.doc_title, maxsplit=1)[0] if page.doc_title else ""
    references = [t.lower() for t in (meta_title, doc_title, first_part) if t]
    containers = [t.lower() for t in (meta_title, page.doc_title) if t]
    for h1 in page.h1s[:5]:
        text = _text(h1)
        key = text.lower()
        if not text or len(text) > 300:
            continue
        # A short <h1> is often the site's logo: it must match a title exactly.
        agrees = key in references or (
            _word_count(text) >= 3 and any(key in container for container in containers)
        )
        if agrees:
            state.found("title", "h1")
            return text
    if meta_title:
        state.found("title", meta_origin)
        return meta_title
    if doc_title:
        state.found("title", "title")
        return doc_title
    for h1 in page.h1s[:1]:
        if _text(h1):
            state.found("title", "h1")
            return _text(h1)
    return ""


def _split_authors(text: str) -> list[str]:
    text = BYLINE_PREFIX.sub("", normalize_text(text))
    text = re.split(r"\s+(?:on|\|)\s+|\s+[-–—]\s+|\d", text, maxsplit=1)[0]
    parts = re.split(r"\s*(?:,|;|&|\band\b|และ)\s*", text)
    return [part.strip(" .,") for part in parts if 1 < len(part.strip(" .,")) <= 60]


def _find_authors(soup: BeautifulSoup, page: PageMetadata, state: _Extraction) -> list[str]:
    rules = state.source.article if state.source else None
    names: list[str] = []
    if rules and rules.author:
        for tag in _select(soup, rules.author)[:5]:
            names.extend(_split_authors(_text(tag)))
        if names:
            state.found("authors", "selector")
    if not names:
        names = [n for n in _ld_names(page.json_ld.get("author")) if not n.startswith("http")]
        if names:
            state.found("authors", "json-ld")
    if not names:
        for key in AUTHOR_META:
            value = page.meta.get(key, "")
            if value and not value.startswith(("http", "@")):
                names = _split_authors(value)
                if names:
                    state.found("authors", "meta")
                    break
    if not names:
        for tag in page.itemprops.get("author", [])[:3]:
            name_tags = page.itemprops.get("name", [])
            inner = next((n for n in name_tags if tag in n.parents), None)
            value = _attr(inner or tag, "content") or _text(inner or tag)
            names.extend(_split_authors(value))
        if names:
            state.found("authors", "microdata")
    if not names:
        for tag in page.author_links[:3]:
            names.extend(_split_authors(_text(tag)))
        if names:
            state.found("authors", "heuristic")
    if not names:
        names = _byline_authors(page)
        if names:
            state.found("authors", "heuristic")
    unique: list[str] = []
    for name in names:
        if name.lower() not in (u.lower() for u in unique):
            unique.append(name)
    return unique[:10]


AUTHOR_PATH = re.compile(
    r"/(?:authors?|staff|people|profiles?|writers?|journalists?"
    r"|contributors?|columnists?|reporters?)/[^/?#]+",
    re.I,
)
BYLINE_HINTS = re.compile(r"\b(?:author|byline|by-line|writer)\b", re.I)


def _byline_authors(page: PageMetadata) -> list[str]:
    """Names from a byline element or links to author pages, near the top of the article."""
    for tag in page.all_tags:
        if tag.parent is None or tag.name in DROP_TAGS:
            continue
        if tag.name == "a" and AUTHOR_PATH.search(_attr(tag, "href")):
            text = _text(tag)
            if 1 < len(text) <= 60 and _word_count(text) <= 5:
                return _split_authors(text)
        hints = _hints(tag)
        if hints and BYLINE_HINTS.search(hints.replace("_", "-")):
            text = _text(tag)
            if 1 < len(text) <= 100 and not re.search(r"\d", text):
                return _split_authors(text)
    return []


def _find_image(soup: BeautifulSoup, page: PageMetadata, state: _Extraction) -> str | None:
    rules = state.source.article if state.source else None
    if rules and rules.image:
        tag = _select_one(soup, rules.image)
        if tag is not None:
            img = tag if tag.name == "img" else tag.find("img")
            source_url = _attr(img, "src") if isinstance(img, Tag) else _attr(tag, "content")
            image = absolute_url(state.url, source_url)
            if image:
                state.found("image", "selector")
                return image
    for origin, value in (
        ("json-ld", _ld_url(page.json_ld.get("image"))),
        ("og", page.meta.get("og:image", "") or page.meta.get("og:image:url", "")),
        ("og", page.meta.get("twitter:image", "") or page.meta.get("twitter:image:src", "")),
        ("meta", page.image_src),
    ):
        image = absolute_url(state.url, value)
        if image:
            state.found("image", origin)
            return image
    return None


def _find_tags(soup: BeautifulSoup, page: PageMetadata, state: _Extraction) -> list[str]:
    rules = state.source.article if state.source else None
    values: list[str] = []
    if rules and rules.tags:
        values = [_text(tag) for tag in _select(soup, rules.tags)]
        if values:
            state.found("tags", "selector")
    if not values:
        keywords = page.json_ld.get("keywords")
        if isinstance(keywords, list):
            values = [k for k in keywords if isinstance(k, str)]
        elif isinstance(keywords, str):
            values = keywords.split(",")
        if values:
            state.found("tags", "json-ld")
    if not values:
        for key in TAG_META:
            for content in page.meta_lists.get(key, []):
                values.extend(content.split(",") if key != "article:tag" else [content])
            if values:
                state.found("tags", "meta")
                break
    unique: list[str] = []
    for value in values:
        value = normalize_text(value)
        if value and len(value) <= 80 and value.lower() not in (u.lower() for u in unique):
            unique.append(value)
    return unique[:20]


def _same_site(first: str, second: str) -> bool:
    def host(url: str) -> str:
        return (urlsplit(url).hostname or "").lower().removeprefix("www.")

    a, b = host(first), host(second)
    return bool(a) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def _find_canonical(page: PageMetadata, state: _Extraction) -> str:
    for origin, value in (("canonical", page.canonical), ("og", page.meta.get("og:url", ""))):
        resolved = absolute_url(state.url, value)
        if resolved and _same_site(resolved, state.url):
            state.found("canonical_url", origin)
            return canonical_url(resolved)
    state.found("canonical_url", "url")
    return canonical_url(state.url)


def _find_language(page: PageMetadata, state: _Extraction, text: str) -> str | None:
    """The page's declared language, else the source's, else one read from ``text``.

    The text overrides the source only when its script rules the source's language out (a
    Thai page on a source configured as English): a script is certain, a word count is not.
    """
    for origin, value in (
        ("html", page.lang),
        ("meta", page.meta.get("content-language", "")),
        ("json-ld", _ld_text(page.json_ld.get("inLanguage"))),
        ("og", page.meta.get("og:locale", "")),
    ):
        value = value.split(",")[0].strip().replace("_", "-")
        if LANGUAGE_TAG.fullmatch(value):
            state.found("language", origin)
            return value
    detected, by_script = detect_language(text)
    configured = state.source.language if state.source else None
    if configured and not (by_script and detected and detected != configured.split("-")[0].lower()):
        state.found("language", "source")
        return configured
    if detected:
        state.found("language", "text")
    return detected


LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
LANGUAGE_SAMPLE_CHARS = 3000
# Scripts that (nearly) name their language; the first with a clear share of letters wins.
SCRIPT_LANGUAGES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),  # kana: Japanese even among many kanji
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")),
    ("zh", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff\u0750-\u077f]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("bn", re.compile(r"[\u0980-\u09ff]")),
    ("ta", re.compile(r"[\u0b80-\u0bff]")),
    ("lo", re.compile(r"[\u0e80-\u0eff]")),
    ("km", re.compile(r"[\u1780-\u17ff]")),
    ("my", re.compile(r"[\u1000-\u109f]")),
    ("ka", re.compile(r"[\u10a0-\u10ff]")),
    ("hy", re.compile(r"[\u0530-\u058f]")),
)
# Letters that tell a language apart from the script's default one.
SCRIPT_VARIANTS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    "ru": (("uk", re.compile(r"[іїєґІЇЄҐ]")),),
    "ar": (("fa", re.compile(r"[پچژگی]")),),
}
# Frequent function words that are distinctive for one language among the Latin-script
# languages the extractor knows (the month tables in tasks.dates cover the same set).
STOPWORDS: dict[str, frozenset[str]] = {
    language: frozenset(words.split())
    for language, words in {
        "en": "the and of to is that with for was are this have from by which were has been",
        "fr": "le les des et est une du pour qui dans pas sur au avec ce sont aux cette été",
        "de": "der die und das ist nicht mit den ein eine von sich auf für dem auch wird werden",
        "es": "el los las y al más pero fue sus muy también desde entre hay",
        "pt": "os do um uma com não é foi ao seu sua pelo pela também são nos uma",
        "it": "gli della che per non sono è nel alla delle anche più questo degli nella dei",
        "nl": "het een van dat niet op te met voor zijn ook maar wordt bij naar heeft",
        "id": "yang ini itu dengan untuk dari dalam tidak akan pada juga adalah oleh sebagai",
    }.items()
}
LATIN_LETTERS = re.compile(r"[a-zA-Z\u00c0-\u024f]")
# The sets are disjoint: each word votes for one language.
STOPWORD_LANGUAGE = {word: language for language, words in STOPWORDS.items() for word in words}
WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def detect_language(text: str) -> tuple[str | None, bool]:
    """A language code read from ``text`` and whether the script alone decided it.

    Cheap by design (a few regex passes over the first few thousand characters): the script
    names the language for Thai, CJK, Cyrillic, Arabic and the like; Latin-script text is
    told apart by function words, and stays undecided (None) when they are too few or tie.
    """
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    letters = sum(1 for char in sample if char.isalpha())
    if letters < 20:
        return None, False
    latin = len(LATIN_LETTERS.findall(sample))
    for language, pattern in () if latin > 0.9 * letters else SCRIPT_LANGUAGES:
        count = len(pattern.findall(sample))
        # Japanese writes mostly kanji: a modest share of kana is enough.
        needed = 0.05 if language == "ja" else 0.3
        if count >= needed * letters and count > latin * (0.1 if language == "ja" else 1):
            for variant, marker in SCRIPT_VARIANTS.get(language, ()):
                if marker.search(sample):
                    return variant, True
            return language, True
    if latin < 0.5 * letters:
        return None, False
    words = WORDS.findall(sample.lower())
    votes = {language: 0 for language in STOPWORDS}
    seen: dict[str, set[str]] = {language: set() for language in STOPWORDS}
    for word in words:
        voter = STOPWORD_LANGUAGE.get(word)
        if voter is not None:
            votes[voter] += 1
            seen[voter].add(word)
    ranked = sorted(votes, key=votes.__getitem__, reverse=True)
    best, runner_up = ranked[0], ranked[1]
    # Real prose uses many different function words, often; "Lorem ipsum … et … est" does not.
    if (
        len(seen[best]) >= 5
        and votes[best] >= 0.05 * len(words)
        and votes[best] >= 2 * votes[runner_up]
    ):
        return best, False
    return None, False


# --- the body -----------------------------------------------------------------------------------


def _remove_noise(page: PageMetadata) -> None:
    """Drop what is never content: scripts, styles, forms controls, hidden elements, comments."""
    for tag in page.droppable:
        tag.decompose()
    for tag in page.hidden:
        if tag.parent is not None and tag.name not in ("html", "body"):
            tag.decompose()


def _is_block(tag: Tag) -> bool:
    return tag.name in BLOCK_TAGS


def _page_blocks(root: Tag) -> Iterator[tuple[Tag, str]]:
    """Leaf blocks (block elements with no block element inside) and their text, in order."""
    has_inner_block: set[int] = set()
    blocks = [tag for tag in root.find_all(True) if tag.name in BLOCK_TAGS]
    for tag in blocks:
        parent = tag.parent
        while parent is not None and parent.name not in BLOCK_TAGS:
            parent = parent.parent
        if parent is not None:
            has_inner_block.add(id(parent))
    for tag in blocks:
        if id(tag) not in has_inner_block:
            yield tag, _text(tag)


LINK_TAGS = frozenset({"a"})


def _link_density(tag: Tag, text_length: int) -> float:
    if text_length == 0:
        return 0.0
    linked = sum(len(_text(a)) for a in _descendant_tags(tag, LINK_TAGS))
    return min(1.0, linked / text_length)


def _class_weight(tag: Tag) -> int:
    hints = _hints(tag)
    if not hints:
        return 0
    weight = 0
    if NEGATIVE_HINTS.search(hints):
        weight -= 25
    if POSITIVE_HINTS.search(hints):
        weight += 25
    return weight


def _tag_weight(tag: Tag) -> float:
    name = tag.name
    if name in ("div", "article", "main", "section"):
        weight = 5.0
    elif name in ("pre", "td", "blockquote"):
        weight = 3.0
    elif name in ("address", "ol", "ul", "dl", "dd", "dt", "li", "form"):
        weight = -3.0
    elif name in HEADING_TAGS or name == "th":
        weight = -5.0
    else:
        weight = 0.0
    if name in ("article", "main") or _attr(tag, "itemprop") == "articleBody":
        weight += 10.0
    return weight + _class_weight(tag)


def _is_unlikely(tag: Tag) -> bool:
    if tag.name in ("html", "body", "a", "article", "main"):
        return False
    if not tag.attrs:
        return tag.name in NON_CONTENT_TAGS
    if _attr(tag, "itemprop") == "articleBody":
        return False  # the page says so; its id may still say "share-buttons-parent"
    role = _attr(tag, "role").lower()
    if role in UNLIKELY_ROLES:
        return True
    if tag.name in NON_CONTENT_TAGS:
        return True
    hints = _hints(tag)
    return (
        bool(hints) and bool(UNLIKELY_HINTS.search(hints)) and not MAYBE_CONTENT_HINTS.search(hints)
    )


# Layout tables and code listings: their descendants are never "unlikely".
LITERAL_TAGS = frozenset({"table", "code", "pre"})


def _unlikely_subtrees(root: Tag) -> set[int]:
    """ids of every element inside (or being) an unlikely container; document order."""
    blocked: set[int] = set()
    for tag in root.find_all(True):
        inherited = tag.parent is not None and id(tag.parent) in blocked
        # Readability's exception: layout tables and code listings are never "unlikely".
        if inherited or (_is_unlikely(tag) and not _has_ancestor(tag, LITERAL_TAGS)):
            blocked.add(id(tag))
    return blocked


@dataclass
class _Candidate:
    tag: Tag
    score: float


def _text_lengths(root: Tag) -> tuple[dict[int, int], dict[int, int]]:
    """Characters of text under every element of ``root`` (by id) and how many are link text.

    One walk, children summed into parents, so scoring never calls get_text on a big subtree
    once per candidate. Lengths count each string with whitespace collapsed plus one
    separator: close to ``len(_text(tag))``, which is all a density needs.
    """
    total: dict[int, int] = {}
    linked: dict[int, int] = {}
    tags: list[Tag] = []
    for node in root.descendants:
        if isinstance(node, Tag):
            tags.append(node)
        elif isinstance(node, NavigableString) and not isinstance(node, SKIPPED_STRINGS):
            length = len(" ".join(node.split()))
            if length:
                key = id(node.parent)
                total[key] = total.get(key, 0) + length + 1
    for tag in reversed(tags):
        key = id(tag)
        length = total.get(key, 0)
        if not length:
            continue
        in_links = length if tag.name == "a" else linked.get(key, 0)
        if in_links:
            linked[key] = in_links
        parent = tag.parent
        if parent is not None:
            parent_key = id(parent)
            total[parent_key] = total.get(parent_key, 0) + length
            if in_links:
                linked[parent_key] = linked.get(parent_key, 0) + in_links
    return total, linked


# A list item or cell holding these is a container, not a paragraph.
NESTED_BLOCK_TAGS = frozenset({"p", "div", "li", "table"})


def _score_candidates(
    root: Tag, blocked: set[int], lengths: tuple[dict[int, int], dict[int, int]]
) -> list[_Candidate]:
    """Readability's scoring: paragraphs give points to up to five ancestors."""
    candidates: dict[int, _Candidate] = {}
    for tag in root.find_all(True):
        if id(tag) in blocked:
            continue
        name = tag.name
        if name in PARAGRAPH_TAGS:
            if name in ("li", "dd", "td") and _first_descendant(tag, NESTED_BLOCK_TAGS) is not None:
                continue
            text = _text(tag)
        elif name in ("div", "section", "article", "span", "font", "center"):
            # Text written straight into a container (no <p>) counts as its paragraph.
            text = normalize_text(
                " ".join(
                    str(s)
                    for s in tag.children
                    if isinstance(s, NavigableString) and not isinstance(s, Comment)
                )
            )
            if name in ("span", "font"):
                continue
        else:
            continue
        if len(text) < MIN_PARAGRAPH_CHARS:
            continue
        score = 1 + len(COMMAS.findall(text)) + min(len(text) // 100, 3)
        if name in ("div", "section", "article", "center"):
            ancestors = [tag, *islice(tag.parents, 4)]
        else:
            ancestors = list(islice(tag.parents, 5))
        for level, ancestor in enumerate(ancestors):
            if not isinstance(ancestor, Tag) or ancestor.name in ("[document]", "html"):
                break
            candidate = candidates.get(id(ancestor))
            if candidate is None:
                candidate = _Candidate(ancestor, _tag_weight(ancestor))
                candidates[id(ancestor)] = candidate
            divider = 1 if level == 0 else 2 if level == 1 else level * 3
            candidate.score += score / divider
    total, linked = lengths
    scored = []
    for candidate in candidates.values():
        length = total.get(id(candidate.tag), 0)
        if length:
            candidate.score *= 1 - min(1.0, linked.get(id(candidate.tag), 0) / length)
        scored.append(candidate)
    scored.sort(key=lambda c: c.score, reverse=True)
    return scored


def _pick_container(scored: list[_Candidate]) -> Tag | None:
    """The top candidate, promoted to a common ancestor when the runners-up share one."""
    if not scored:
        return None
    top = scored[0]
    by_id = {id(c.tag): c for c in scored}
    close = [c.tag for c in scored[1:5] if c.score >= top.score * 0.75]
    if len(close) >= 2:
        for ancestor in top.tag.parents:
            if not isinstance(ancestor, Tag) or ancestor.name in ("body", "html", "[document]"):
                break
            if sum(1 for other in close if ancestor in other.parents) >= 2:
                return ancestor
    # Climb while the parent scores at least as well (the article is split into sections).
    tag = top.tag
    last_score = top.score
    for parent in tag.parents:
        if not isinstance(parent, Tag) or parent.name in ("body", "html", "[document]"):
            break
        parent_candidate = by_id.get(id(parent))
        if parent_candidate is None:
            if len([c for c in parent.children if isinstance(c, Tag)]) == 1:
                tag = parent  # a lone child's wrapper adds nothing, but take it for siblings
                continue
            break
        if parent_candidate.score < last_score / 3:
            break
        if parent_candidate.score > last_score:
            tag = parent
        last_score = parent_candidate.score
    return tag


def _gather_siblings(container: Tag, scored: list[_Candidate]) -> list[Tag]:
    """The container plus siblings that look like more of the article."""
    parent = container.parent
    if not isinstance(parent, Tag) or parent.name in ("html", "[document]"):
        return [container]
    scores = {id(c.tag): c.score for c in scored}
    top_score = scores.get(id(container), 0.0)
    threshold = max(10.0, top_score * 0.2)
    container_class = _attr(container, "class")
    parts: list[Tag] = []
    for sibling in parent.children:
        if not isinstance(sibling, Tag):
            continue
        if sibling is container:
            parts.append(sibling)
            continue
        if _is_unlikely(sibling) or sibling.name in DROP_TAGS:
            continue
        same_class = bool(container_class) and _attr(sibling, "class") == container_class
        bonus = top_score * 0.2 if same_class else 0.0
        if scores.get(id(sibling), 0.0) + bonus >= threshold:
            parts.append(sibling)
        elif sibling.name == "p":
            text = _text(sibling)
            density = _link_density(sibling, len(text))
            if (len(text) > 80 and density < 0.25) or (
                0 < len(text) <= 80 and density == 0 and SENTENCE_END.search(text)
            ):
                parts.append(sibling)
    return parts


def _inside(tag: Tag, ancestor: Tag) -> bool:
    return any(parent is ancestor for parent in tag.parents)


def _add_split_sections(
    parts: list[Tag], scored: list[_Candidate], blocked: set[int], page: PageMetadata
) -> list[Tag]:
    """The other pieces of an article its template cut apart, in document order.

    Sites split a long article into several containers of the same tag and class around a
    figure, a pull quote or an ad (``div.post-content`` … ``div.post-content``), not always as
    siblings. A scored container that looks exactly like the best one or a chosen part and
    lies outside the parts joins them.
    """
    top = scored[0]
    signatures = {
        (tag.name, _attr(tag, "class")) for tag in (top.tag, *parts) if _attr(tag, "class")
    }
    if not signatures:
        return parts
    threshold = max(10.0, top.score * 0.1)
    chosen = list(parts)
    for candidate in scored[1:]:
        if candidate.score < threshold:
            break
        tag = candidate.tag
        if (tag.name, _attr(tag, "class")) not in signatures or id(tag) in blocked:
            continue
        if any(tag is part or _inside(part, tag) or _inside(tag, part) for part in chosen):
            continue
        chosen.append(tag)
    if len(chosen) == len(parts):
        return parts
    order = {id(tag): index for index, tag in enumerate(page.all_tags)}
    chosen.sort(key=lambda tag: order.get(id(tag), 0))
    return chosen


def _clean_conditionally(tag: Tag) -> bool:
    """Readability's test for a container inside the article that is probably not content."""
    weight = _class_weight(tag)
    text = _text(tag)
    if weight < 0 and len(text) < 1000:
        return True
    if len(COMMAS.findall(text)) >= 10:
        return False
    # One walk over the subtree instead of a find_all per element name.
    counts: dict[str, int] = {}
    for inner in tag.find_all(True):
        counts[inner.name] = counts.get(inner.name, 0) + 1
    paragraphs = counts.get("p", 0)
    images = counts.get("img", 0)
    list_items = counts.get("li", 0) - 100
    inputs = counts.get("input", 0)
    embeds = sum(counts.get(name, 0) for name in ("embed", "object", "iframe", "video"))
    is_list = tag.name in ("ul", "ol")
    density = _link_density(tag, len(text))
    if images > 1 and paragraphs / images < 0.5 and not _has_ancestor(tag, FIGURE_TAGS):
        return True
    if not is_list and list_items > paragraphs:
        return True
    if inputs > paragraphs // 3 and inputs > 0:
        return True
    has_headings = any(name in counts for name in HEADING_TAGS)
    headings = (
        sum(len(_text(h)) for h in _descendant_tags(tag, HEADING_TAGS)) if has_headings else 0
    )
    heading_density = headings / len(text) if text else 0.0
    if (
        not is_list
        and heading_density < 0.9
        and len(text) < 25
        and (images == 0 or images > 2)
        and density > 0
    ):
        return True
    if weight < 25 and density > (0.5 if is_list else 0.2) and len(text) < 2000:
        return True
    if weight >= 25 and density > 0.5:
        return True
    return (embeds == 1 and len(text) < 75) or embeds > 1


FIGURE_TAGS = frozenset({"figure"})
IMAGE_TAGS = frozenset({"img"})
INLINE_KEPT_TAGS = frozenset({"a", "span", "b", "i", "em", "strong"})
FURNITURE_TAGS = frozenset({"p", "div", "span", "section", "header", "time", "small"})
CONDITIONAL_TAGS = frozenset(
    {"div", "section", "ul", "ol", "table", "form", "aside", "header", "dl", "figure"}
)


def _decompose_where(root: Tag, doomed: Callable[[Tag], bool]) -> None:
    """Decompose, in document order, the descendants of ``root`` that ``doomed`` picks.

    The subtree of a removed tag is skipped rather than visited: looking at a decomposed tag
    (``tag.parent``) makes bs4 run a find() on it.
    """
    stack = [child for child in reversed(root.contents) if isinstance(child, Tag)]
    while stack:
        tag = stack.pop()
        if doomed(tag):
            tag.decompose()
        else:
            stack.extend(child for child in reversed(tag.contents) if isinstance(child, Tag))


def _clean_body(parts: list[Tag], blocked: set[int]) -> None:
    """Remove boilerplate inside the chosen parts (mutates the tree)."""

    def unlikely(tag: Tag) -> bool:
        return (
            id(tag) in blocked
            and tag.name not in INLINE_KEPT_TAGS
            and not _has_ancestor(tag, LITERAL_TAGS)
        )

    def furniture(tag: Tag) -> bool:
        return tag.name in FURNITURE_TAGS and _is_article_furniture(tag)

    for part in parts:
        _decompose_where(part, unlikely)
        _decompose_where(part, furniture)
        # Bottom-up so inner junk goes first and outer containers are judged on what remains.
        # Removing a tag only removes tags already visited, so none here is a removed one.
        for tag in reversed(_descendant_tags(part, CONDITIONAL_TAGS)):
            if tag.name == "figure" and _first_descendant(tag, IMAGE_TAGS) is not None:
                continue
            if tag.name == "table" and _is_data_table(tag):
                continue
            if _clean_conditionally(tag):
                tag.decompose()
        _drop_trailing_boilerplate(part)


def _is_article_furniture(tag: Tag) -> bool:
    """A short byline, dateline, share bar or tag list inside the article."""
    hints = _hints(tag)
    if not hints or not FURNITURE_HINTS.search(hints.replace("_", "-")):
        return False
    if POSITIVE_HINTS.search(hints) and not FURNITURE_HINTS.search(hints.split()[0]):
        return False
    return len(_text(tag)) < 200


TABLE_HEADER_TAGS = frozenset({"caption", "th", "thead"})
ROW_TAGS = frozenset({"tr"})
CELL_TAGS = frozenset({"td"})


def _is_data_table(table: Tag) -> bool:
    if _attr(table, "role").lower() == "presentation":
        return False
    if _first_descendant(table, TABLE_HEADER_TAGS) is not None:
        return True
    rows = _descendant_tags(table, ROW_TAGS)
    return len(rows) >= 10 or (rows and len(_descendant_tags(rows[0], CELL_TAGS)) > 4) is True


TRAILING_HEADING_TAGS = HEADING_TAGS | {"p", "div", "strong"}


def _drop_trailing_boilerplate(part: Tag) -> None:
    """A "Related News" / "Read more" heading and everything after it at the article's end."""
    for heading in _descendant_tags(part, TRAILING_HEADING_TAGS):
        if heading.parent is None:
            continue
        text = _short_text(heading, 40)
        if not text or not BOILERPLATE_HEADING.match(text):
            continue
        following = heading.find_next_sibling()
        if (
            following is not None
            and following.name in ("ul", "ol")
            and _link_density(following, len(_text(following))) > 0.5
        ):
            following.decompose()
            heading.decompose()


def _remove_title_repeat(parts: list[Tag], title: str) -> None:
    """Drop a leading heading/paragraph that only repeats the title."""
    if not title:
        return
    wanted = normalize_text(title).lower()
    checked = 0
    for part in parts:
        for tag, text in _page_blocks(part):
            if not text:
                continue
            if text.lower() == wanted:
                tag.decompose()
                return
            checked += 1
            if checked >= 3:
                return


def _take_attribution(parts: list[Tag]) -> str | None:
    """Find a "Source : CISA" line near the end, remove it, return "CISA"."""
    blocks = [(tag, text) for part in parts for tag, text in _page_blocks(part)]
    for tag, text in reversed(blocks[-8:]):
        match = ATTRIBUTION_LINE.match(text)
        if match:
            tag.decompose()
            return match["who"].strip(" .")
        # "Source: X" as the last line of a longer block.
        lines = [line.strip() for line in tag.get_text("\n").splitlines() if line.strip()]
        if len(lines) > 1:
            match = ATTRIBUTION_LINE.match(lines[-1])
            if match:
                for string in list(tag.find_all(string=True))[::-1]:
                    if lines[-1] in normalize_text(str(string)) or ATTRIBUTION_LINE.match(
                        normalize_text(str(string))
                    ):
                        string.extract()
                        break
                return match["who"].strip(" .")
    return None


def _drop_boilerplate_blocks(parts: list[Tag], boilerplate: frozenset[str]) -> None:
    if not boilerplate:
        return
    blocks = [(tag, text) for part in parts for tag, text in _page_blocks(part)]
    doomed = [tag for tag, text in blocks if text and block_fingerprint(text) in boilerplate]
    # Never empty a body: a source whose every article shares all blocks has learned wrongly.
    if len(doomed) < len([text for _, text in blocks if text]):
        for tag in doomed:
            if tag.parent is not None:
                tag.decompose()


INLINE_BREAKS = frozenset({"br"})
# Strings that are markup, not text.
SKIPPED_STRINGS = (Comment, CData, Declaration, Doctype, ProcessingInstruction)


def _paragraphs(parts: list[Tag]) -> list[str]:
    """The body as plain-text paragraphs: block elements break, inline ones flow."""
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = normalize_text("".join(current).replace("\n", " "))
        if text:
            paragraphs.append(text)
        current.clear()

    for part in parts:
        stack: list[tuple[PageElement, bool]] = [(part, False)]
        while stack:
            node, leaving = stack.pop()
            if isinstance(node, NavigableString):
                if not isinstance(node, SKIPPED_STRINGS):
                    current.append(str(node))
                continue
            if not isinstance(node, Tag):
                continue
            if leaving:
                if node.name in BLOCK_TAGS:
                    flush()
                continue
            if node.name in BLOCK_TAGS:
                flush()
            elif node.name in INLINE_BREAKS:
                current.append(" ")
                continue
            elif node.name == "img":
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        flush()
    return paragraphs


def _body_parts(
    soup: BeautifulSoup, page: PageMetadata, state: _Extraction
) -> tuple[list[Tag], set[int]]:
    """The elements that make up the article body, before cleaning."""
    rules = state.source.article if state.source else None
    if rules and rules.body:
        selected = _select(soup, rules.body)
        selected = [tag for tag in selected if not any(p in selected for p in tag.parents)]
        if selected:
            for selector in rules.remove:
                for part in selected:
                    for tag in _select(part, selector):
                        tag.decompose()
            state.found("content_html", "selector")
            return selected, set()
    root = soup.body or soup
    if page.max_depth > MAX_SCORED_DEPTH:
        # Pathological nesting (garbage or hostile markup): scoring would be quadratic.
        state.found("content_html", "heuristic")
        return [root], set()
    blocked = _unlikely_subtrees(root)
    lengths = _text_lengths(root)
    for attempt_blocked in (blocked, set[int]()):
        scored = _score_candidates(root, attempt_blocked, lengths)
        container = _pick_container(scored)
        if container is None:
            continue
        parts = _gather_siblings(container, scored)
        parts = _add_split_sections(parts, scored, attempt_blocked, page)
        kept = _kept_text_length(parts, attempt_blocked)
        marked = _marked_article_body(page, attempt_blocked, kept)
        if marked is not None:
            state.found("content_html", "microdata")
            return [marked], attempt_blocked
        if kept >= MIN_BODY_CHARS or not attempt_blocked:
            state.found("content_html", "heuristic")
            return parts, attempt_blocked
    # Nothing scored (a tiny or paragraph-less page): the whole body is the article.
    state.found("content_html", "heuristic")
    return [root], set()


def _marked_article_body(page: PageMetadata, blocked: set[int], scored_length: int) -> Tag | None:
    """The element the page marks itemprop=articleBody, when it holds most of the article."""
    marked = [t for t in page.itemprops.get("articleBody", []) if t.parent is not None]
    if len(marked) != 1:
        return None
    length = _kept_text_length(marked, blocked)
    return marked[0] if length >= MIN_BODY_CHARS and length >= 0.6 * scored_length else None


def _kept_text_length(parts: list[Tag], blocked: set[int]) -> int:
    """Characters of text in ``parts`` that survive removing the unlikely subtrees."""
    return sum(
        len(node.strip())
        for part in parts
        for node in part.descendants
        if isinstance(node, NavigableString)
        and not isinstance(node, SKIPPED_STRINGS)
        and id(node.parent) not in blocked
    )


def _body_from_json_ld(page: PageMetadata) -> str:
    body = page.json_ld.get("articleBody")
    return body.strip() if isinstance(body, str) else ""


# --- public API ---------------------------------------------------------------------------------


def analyze_article(
    html: bytes | str,
    url: str,
    source: Source | None = None,
    *,
    fetched_at: datetime | None = None,
    boilerplate: frozenset[str] = frozenset(),
    content_type: str | None = None,
) -> tuple[Article, list[str]]:
    """Extract the article and the fingerprints of the page's text blocks (template learning).

    Raises ParseError("no_content") when the page has neither a title nor a body; any other
    failure inside extraction is reported the same way, never as another exception.
    """
    source_id = source.id if source else ""
    try:
        return _analyze(html, url, source, fetched_at, boilerplate, content_type)
    except ParseError:
        raise
    except RecursionError:
        raise ParseError("page is nested too deeply to parse", "too_deep", source_id, url) from None
    except Exception as exc:  # a bug or a pathological page: never crash the worker
        raise ParseError(
            f"extraction failed: {type(exc).__name__}: {exc}", "no_content", source_id, url
        ) from exc


def extract_article(
    html: bytes | str,
    url: str,
    source: Source | None = None,
    *,
    fetched_at: datetime | None = None,
    boilerplate: frozenset[str] = frozenset(),
    content_type: str | None = None,
) -> Article:
    """Parse one article page into an Article (PRODUCT.md §9)."""
    article, _ = analyze_article(
        html,
        url,
        source,
        fetched_at=fetched_at,
        boilerplate=boilerplate,
        content_type=content_type,
    )
    return article


def _analyze(
    html: bytes | str,
    url: str,
    source: Source | None,
    fetched_at: datetime | None,
    boilerplate: frozenset[str],
    content_type: str | None,
) -> tuple[Article, list[str]]:
    source_id = source.id if source else ""
    now = fetched_at or datetime.now(UTC)
    state = _Extraction(url=url, source=source, zone=source.zone if source else UTC, now=now)
    soup = parse_html(html, content_type)

    # 1. Everything read from the intact tree.
    page = _collect_metadata(soup)
    title = _find_title(soup, page, state)
    published, updated = _find_dates(soup, page, state)
    authors = _find_authors(soup, page, state)
    image = _find_image(soup, page, state)
    tags = _find_tags(soup, page, state)
    canonical = _find_canonical(page, state)
    rules = source.article if source else None
    attribution: str | None = None
    if rules and rules.attribution:
        tag = _select_one(soup, rules.attribution)
        if tag is not None and _text(tag):
            match = ATTRIBUTION_LINE.match(_text(tag))
            attribution = match["who"].strip(" .") if match else _text(tag)
            tag.decompose()
            state.found("attribution", "selector")
    summary = ""
    if rules and rules.summary:
        summary = _text(_select_one(soup, rules.summary))
        if summary:
            state.found("summary", "selector")

    # 2. Remove noise, fingerprint the page's blocks, then find and clean the body.
    _remove_noise(page)
    root = soup.body or soup
    seen: set[str] = set()
    block_prints: list[str] = []
    for _, text in _page_blocks(root):
        if len(text) >= MIN_BLOCK_CHARS:
            key = block_fingerprint(text)
            if key not in seen:
                seen.add(key)
                block_prints.append(key)

    parts, blocked = _body_parts(soup, page, state)
    if (
        state.provenance.get("content_html") in ("heuristic", "microdata")
        and page.max_depth <= MAX_SCORED_DEPTH
    ):
        _clean_body(parts, blocked)
    _remove_title_repeat(parts, title)
    if attribution is None:
        attribution = _take_attribution(parts)
        if attribution:
            state.found("attribution", "heuristic")
    if boilerplate:
        before = len(state.provenance)
        _drop_boilerplate_blocks(parts, boilerplate)
        if len(state.provenance) == before:
            state.provenance.setdefault("boilerplate", "template")
    paragraphs = _paragraphs(parts)
    content_html = (
        sanitize_html("".join(_serialize(part) for part in parts), url) if paragraphs else ""
    )
    if not paragraphs:
        fallback = _body_from_json_ld(page)
        if fallback:
            paragraphs = [normalize_text(p) for p in fallback.split("\n") if p.strip()]
            content_html = "".join(f"<p>{_escape(p)}</p>" for p in paragraphs)
            state.provenance["content_html"] = "json-ld"
    text = "\n\n".join(paragraphs)
    if not title and not text:
        raise ParseError("page has no title and no article text", "no_content", source_id, url)
    language = _find_language(page, state, f"{title}\n{text}")

    if not summary:
        for key in DESCRIPTION_META:
            if page.meta.get(key):
                summary = normalize_text(page.meta[key])
                state.found("summary", "og" if ":" in key else "meta")
                break
    if not summary:
        summary = _ld_text(page.json_ld.get("description"))
        if summary:
            state.found("summary", "json-ld")
    if not summary and text:
        summary = _shorten(text, SUMMARY_CHARS)
        state.found("summary", "heuristic")

    article = Article(
        id=article_id(canonical),
        source_id=source_id,
        url=url,
        canonical_url=canonical,
        title=title,
        summary=summary,
        content_html=content_html,
        text=text,
        published=published,
        updated=updated,
        fetched_at=fetched_at,
        authors=tuple(authors),
        attribution=attribution,
        language=language,
        image=image,
        tags=tuple(tags),
        fingerprint=fingerprint(title, text),
        provenance=dict(state.provenance),
    )
    return article, block_prints


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _shorten(text: str, limit: int) -> str:
    flat = normalize_text(text)
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


# --- listing pages ------------------------------------------------------------------------------

NON_ARTICLE_PATH = re.compile(
    r"/(?:tags?|category|categories|topics?|authors?|users?|profile|page|search|login|signin"
    r"|sign-in|register|signup|account|subscribe|newsletter|contact|about|privacy|terms|cookies?"
    r"|feed|rss|sitemap|archive|help|faq|careers?|advertise|shop|cart|wp-login\.php)(?:/|$|\?|\.)",
    re.I,
)
SOCIAL_HOSTS = re.compile(
    r"(?:^|\.)(?:facebook|twitter|x|linkedin|instagram|youtube|pinterest|reddit|tiktok|whatsapp"
    r"|line|telegram|t)\.(?:com|me|me/|ly|net)$",
    re.I,
)
NEXT_TEXT = re.compile(
    r"^(?:next(?:\s+page)?|older(?:\s+(?:posts|entries))?|more|›|»|>|>>|→"
    r"|next\s*[›»>→]|ถัดไป|หน้าถัดไป|suivant|weiter|siguiente|próxima"
    r"|successivo|volgende|selanjutnya)$",
    re.I,
)
PAGINATION_HINTS = re.compile(r"pag(?:e|ing|ination)|pager|nav-links|next", re.I)


# Parts of a listing page whose links are never the list of stories.
LISTING_NOISE_TAGS = frozenset({"nav", "header", "footer", "script", "style"})
# The string types Tag.get_text reads on an ordinary element.
TEXT_STRINGS = (NavigableString, CData)

# The pipeline reads each listing page twice, for its links and then for the next page: both
# share one parse. Neither function mutates the tree. One entry per thread, dropped at its
# second use, so at most one parsed page stays in memory.
_listing_parses = threading.local()


def _parse_listing(html: bytes | str) -> BeautifulSoup:
    cached: tuple[bytes | str, BeautifulSoup] | None = getattr(_listing_parses, "last", None)
    if cached is not None and type(cached[0]) is type(html) and cached[0] == html:
        _listing_parses.last = None
        return cached[1]
    soup = parse_html(html)
    _listing_parses.last = (html, soup)
    return soup


def _ids_within(soup: BeautifulSoup, names: frozenset[str]) -> set[int]:
    """ids of the tags named ``names`` and of everything inside them."""
    ids: set[int] = set()
    for tag in soup.find_all(True):
        if tag.name in names or id(tag.parent) in ids:
            ids.add(id(tag))
    return ids


def _text_outside(tag: Tag, skipped: set[int]) -> str:
    """``_text(tag)`` as it would read with the ``skipped`` subtrees removed."""
    if not any(isinstance(node, Tag) and id(node) in skipped for node in tag.descendants):
        return _text(tag)
    return normalize_text(
        " ".join(
            str(node)
            for node in tag.descendants
            if type(node) in TEXT_STRINGS and id(node.parent) not in skipped
        )
    )


def _has_href(tag: Tag) -> bool:
    return tag.attrs.get("href") is not None


def _link_candidates(soup: BeautifulSoup, url: str, skipped: set[int]) -> list[tuple[Tag, str]]:
    anchors: list[tuple[Tag, str]] = []
    for anchor in soup.find_all("a"):
        if id(anchor) in skipped or not _has_href(anchor):
            continue
        href = _attr(anchor, "href")
        if href.lower().startswith(("javascript:", "mailto:", "tel:", "#")):
            continue
        absolute = absolute_url(url, href)
        if absolute:
            anchors.append((anchor, absolute))
    return anchors


def _structure_signature(anchor: Tag) -> str:
    """Tag/class path of an anchor's ancestors: repeated story lists share one."""
    path = []
    for ancestor in [anchor, *islice(anchor.parents, 5)]:
        if not isinstance(ancestor, Tag) or ancestor.name == "[document]":
            break
        classes = _attr(ancestor, "class").split()
        first_class = classes[0] if classes else ""
        path.append(f"{ancestor.name}.{first_class}")
    return "/".join(path)


def _looks_like_article_url(candidate: str, listing_url: str) -> bool:
    parts = urlsplit(candidate)
    if not _same_site(candidate, listing_url):
        return False
    if canonical_url(candidate) == canonical_url(listing_url):
        return False
    path = parts.path
    if NON_ARTICLE_PATH.search(path) or re.search(r"[?&](?:page|p|paged)=\d+", parts.query):
        return False
    if re.search(r"\.(?:jpe?g|png|gif|webp|svg|pdf|zip|mp[34]|css|js|xml)$", path, re.I):
        return False
    return path not in ("", "/")


def _article_url_score(candidate: str, text: str) -> float:
    path = urlsplit(candidate).path
    segments = [s for s in path.split("/") if s]
    score = 0.0
    score += min(len(segments), 4) * 0.5
    if re.search(r"\d{4,}|/\d+(?:/|$|\.)", path):
        score += 1.0  # ids and dates
    if re.search(r"/(?:19|20)\d{2}/", path):
        score += 1.0
    last = segments[-1] if segments else ""
    if last.count("-") >= 2 or last.count("_") >= 2:
        score += 1.5  # a slug
    words = len(text.split())
    if words >= 4 or (text and not text.isascii() and len(text) >= 15):
        score += 1.5  # a headline, not "Home"
    elif words <= 1:
        score -= 1.0
    return score


def extract_links(html: bytes | str, url: str, source: Source | None = None) -> list[str]:
    """Absolute article URLs on a listing page, de-duplicated, in page order."""
    soup = _parse_listing(html)
    links: list[str] = []
    seen: set[str] = set()

    def add(candidate: str) -> None:
        key = canonical_url(candidate)
        if key not in seen and key != canonical_url(url):
            seen.add(key)
            links.append(candidate)

    if source and source.listing.links:
        for match in _select(soup, source.listing.links):
            anchors = [match] if match.name == "a" else match.find_all("a", href=True)
            for anchor in anchors:
                href = absolute_url(url, _attr(anchor, "href"))
                if href:
                    add(href)
        return links

    # Site chrome is ignored (not removed: find_next_page reads the same tree).
    skipped = _ids_within(soup, LISTING_NOISE_TAGS)
    candidates = [
        (anchor, href)
        for anchor, href in _link_candidates(soup, url, skipped)
        if _looks_like_article_url(href, url) and not _is_in_navigation(anchor)
    ]
    # Group anchors by where they sit; the groups of repeated, headline-like links are the list.
    groups: dict[str, list[tuple[Tag, str, float]]] = {}
    for anchor, href in candidates:
        text = _text_outside(anchor, skipped) or _attr(anchor, "title")
        score = _article_url_score(href, text)
        groups.setdefault(_structure_signature(anchor), []).append((anchor, href, score))
    chosen: set[int] = set()
    for members in groups.values():
        average = sum(score for _, _, score in members) / len(members)
        distinct = len({href for _, href, _ in members})
        if (distinct >= 3 and average >= 1.5) or (distinct >= 2 and average >= 2.5):
            chosen.update(id(anchor) for anchor, _, _ in members)
        else:
            chosen.update(id(anchor) for anchor, _, score in members if score >= 3.5)
    for anchor, href in candidates:
        if id(anchor) in chosen:
            add(href)
    return links


def _is_in_navigation(anchor: Tag) -> bool:
    for ancestor in anchor.parents:
        if not isinstance(ancestor, Tag) or ancestor.name == "body":
            return False
        role = _attr(ancestor, "role").lower()
        if role in ("navigation", "menu", "menubar"):
            return True
        hints = _hints(ancestor)
        if hints and re.search(
            r"\b(?:menu|nav|navbar|breadcrumbs?|footer|header|social|share"
            r"|pag(?:er|ination)|tags?)\b",
            hints.replace("_", "-"),
            re.I,
        ):
            return True
    return False


def find_next_page(html: bytes | str, url: str, source: Source | None = None) -> str | None:
    """The URL of the next listing page, or None on the last page."""
    soup = _parse_listing(html)
    if source and source.listing.next_page:
        tag = _select_one(soup, source.listing.next_page)
        if tag is not None:
            anchor = tag if tag.name == "a" else tag.find("a", href=True)
            if isinstance(anchor, Tag):
                return _next_candidate(anchor, url)
        return None
    tags = soup.find_all(True)
    for tag in tags:
        if (
            tag.name in ("link", "a")
            and tag.attrs.get("rel") is not None
            and "next" in _attr(tag, "rel").lower().split()
        ):
            found = _next_candidate(tag, url)
            if found:
                return found
    for anchor in tags:
        if anchor.name != "a" or not _has_href(anchor):
            continue
        text = _text(anchor) or _attr(anchor, "aria-label") or _attr(anchor, "title")
        hints = f"{_hints(anchor)} {_hints(anchor.parent) if anchor.parent else ''}"
        if NEXT_TEXT.match(text) or (
            PAGINATION_HINTS.search(hints) and re.search(r"\bnext\b", hints, re.I)
        ):
            found = _next_candidate(anchor, url)
            if found:
                return found
    return None


def _next_candidate(tag: Tag, url: str) -> str | None:
    href = absolute_url(url, _attr(tag, "href"))
    if href is None or canonical_url(href) == canonical_url(url) or not _same_site(href, url):
        return None
    return href


__all__ = [
    "analyze_article",
    "block_fingerprint",
    "extract_article",
    "extract_links",
    "find_next_page",
    "parse_html",
]
