"""Charset decoding, done before BeautifulSoup sees a page.

Order (as browsers do): byte-order mark, then the HTTP ``Content-Type`` charset, then a
``<meta>`` declaration in the first bytes, then detection. Labels go through the WHATWG encoding
table, because Python's codec names differ: ``windows-874``, ``tis-620`` and ``iso-8859-11`` are
all cp874 (Python has no ``windows-874``), and ``iso-8859-1``/``ascii`` mean windows-1252.
A declared charset that cannot decode the bytes is not trusted: the next candidate is tried, so
a page never silently turns into mojibake.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from charset_normalizer import from_bytes

# WHATWG "Encoding" labels -> Python codec, for the labels whose Python meaning differs or that
# Python does not know. Everything else goes through codecs.lookup().
WHATWG_LABELS: dict[str, str] = {
    **dict.fromkeys(
        (
            "windows-874",
            "dos-874",
            "tis-620",
            "iso-8859-11",
            "iso8859-11",
            "iso885911",
            "x-windows-874",
            "cp874",
            "tis620",
        ),
        "cp874",
    ),
    **dict.fromkeys(
        (
            "iso-8859-1",
            "iso8859-1",
            "iso88591",
            "latin1",
            "l1",
            "iso_8859-1",
            "iso-ir-100",
            "us-ascii",
            "ascii",
            "ansi_x3.4-1968",
            "cp819",
            "ibm819",
            "csisolatin1",
            "windows-1252",
            "x-cp1252",
            "cp1252",
        ),
        "cp1252",
    ),
    **dict.fromkeys(("iso-8859-9", "iso8859-9", "latin5", "l5", "windows-1254"), "cp1254"),
    **dict.fromkeys(
        ("gb2312", "gbk", "x-gbk", "gb_2312-80", "chinese", "csgb2312", "gb18030"), "gb18030"
    ),
    **dict.fromkeys(("big5", "big5-hkscs", "cn-big5", "x-x-big5", "csbig5"), "big5hkscs"),
    **dict.fromkeys(("euc-kr", "ks_c_5601-1987", "korean", "windows-949", "cp949"), "cp949"),
    **dict.fromkeys(
        ("shift_jis", "sjis", "ms_kanji", "windows-31j", "x-sjis", "csshiftjis"), "cp932"
    ),
    **dict.fromkeys(
        ("utf8", "utf-8", "unicode-1-1-utf-8", "unicode11utf8", "x-unicode20utf8"), "utf-8"
    ),
    "utf-16": "utf-16-le",
    "utf-16le": "utf-16-le",
    "utf-16be": "utf-16-be",
}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_PRESCAN_BYTES = 4096


def codec_for_label(label: str | None) -> str | None:
    """The Python codec for a charset label, or None when the label is unknown."""
    if not label:
        return None
    key = label.strip().strip("\"'").lower()
    if key in WHATWG_LABELS:
        return WHATWG_LABELS[key]
    try:
        name = codecs.lookup(key).name
    except LookupError:
        return None
    # Python's latin-1 is not what the web means by it (see module docstring).
    return WHATWG_LABELS.get(name, name)


def charset_from_content_type(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return match[1] if match else None


def charset_from_meta(content: bytes) -> str | None:
    match = _META_CHARSET.search(content[:_PRESCAN_BYTES])
    return match[1].decode("ascii", "replace") if match else None


def _try(content: bytes, codec: str | None) -> str | None:
    if not codec:
        return None
    try:
        return content.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _candidate_codecs(content: bytes, content_type: str | None) -> Iterator[str | None]:
    """Declared charsets first, then UTF-8, then detection (computed only if reached)."""
    yield codec_for_label(charset_from_content_type(content_type))
    yield codec_for_label(charset_from_meta(content))
    yield "utf-8"
    best = from_bytes(content[:200_000]).best()
    yield codec_for_label(best.encoding) if best is not None else None


def decode_html(content: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode a page's bytes; returns ``(text, codec)``. Never raises on bad bytes."""
    for bom, bom_codec in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(bom_codec, "replace"), bom_codec

    for codec in _candidate_codecs(content, content_type):
        decoded = _try(content, codec)
        if decoded is not None and codec is not None:
            return decoded, codec
    return content.decode("cp1252", "replace"), "cp1252"
