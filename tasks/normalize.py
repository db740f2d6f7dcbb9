"""Normalization: canonical URLs, stable article ids, sanitized HTML and content fingerprints.

The article id is derived from the canonical URL only, so it never changes when a title or body
is edited, and ``http``/``https`` spellings, tracking parameters or fragments of the same page map
to one article.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

import nh3

# Query parameters that only track the visitor; removing them never changes the page.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wickedid",
        "rb_clickid",
        "s_cid",
        "ref_src",
        "spm",
        "cmpid",
        "ocid",
        "sr_share",
        "__twitter_impression",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The one spelling of a page's URL that identifies it.

    Lower-cases scheme and host, drops default ports, fragments and tracking parameters, sorts
    the query, normalizes percent-encoding, and folds http into https (the same page, one id).
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "http":
        scheme = "https"
    host = (parts.hostname or "").lower().rstrip(".")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii") if host and not host.isascii() else host
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = (
        parts.port
        if parts.port and parts.port != _DEFAULT_PORTS.get(parts.scheme.lower())
        else None
    )
    netloc = f"{host}:{port}" if port else host
    path = quote(unquote(parts.path or "/"), safe="/:@!$&'()*+,;=-._~%")
    path = re.sub(r"/{2,}", "/", path)
    query_pairs = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query = urlencode(sorted(query_pairs), quote_via=quote)
    return urlunsplit((scheme, netloc, path, query, ""))


def article_id(canonical: str) -> str:
    """A short stable id for a canonical URL (hex of SHA-256, 20 chars = 80 bits)."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def absolute_url(base: str, href: str | None) -> str | None:
    """Resolve ``href`` against ``base``; None for empty, fragment-only or non-http(s) links."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    resolved = urljoin(base, href)
    if urlsplit(resolved).scheme not in ("http", "https"):
        return None
    return resolved.split("#", 1)[0]


# Allow-list for content_html: structure and inline semantics; no script, style, iframe,
# forms, event handlers or javascript: URLs (nh3 drops everything not listed).
ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "picture",
    "pre",
    "q",
    "s",
    "small",
    "source",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "source": {"srcset", "type", "media"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "*": {"lang", "dir"},
}
_URL_ATTRIBUTES = {("a", "href"), ("img", "src"), ("blockquote", "cite"), ("q", "cite")}


def sanitize_html(html: str, base_url: str) -> str:
    """Allow-list sanitize and make every link and image URL absolute against ``base_url``."""

    def resolve(tag: str, attribute: str, value: str) -> str | None:
        if (tag, attribute) in _URL_ATTRIBUTES:
            return absolute_url(base_url, value)
        return value

    cleaned: str = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        attribute_filter=resolve,
        strip_comments=True,
    )
    return cleaned.strip()


_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFC, collapsed whitespace: the form text is compared and fingerprinted in."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fingerprint(title: str, text: str) -> str:
    """Content hash of what a reader sees; a change means the article was edited."""
    digest = hashlib.sha256()
    digest.update(normalize_text(title).encode("utf-8"))
    digest.update(b"\x00")
    digest.update(normalize_text(text).encode("utf-8"))
    return digest.hexdigest()[:32]
