"""Canonical URLs, ids, sanitizing and charset decoding."""

from __future__ import annotations

import pytest

from tasks.decode import codec_for_label, decode_html
from tasks.normalize import article_id, canonical_url, fingerprint, sanitize_html

THAI = "การประชุมการพัฒนาเหล็กสีเขียวและคาร์บอนต่ำแห่งชาติครั้งที่ 4 จัดขึ้นที่เมือง Nanjing."


@pytest.mark.parametrize(
    "spelling",
    [
        "https://example.org/en/news/1",
        "http://example.org/en/news/1",
        "HTTPS://EXAMPLE.ORG:443/en/news/1#comments",
        "https://example.org/en/news/1?utm_source=x&utm_medium=y&fbclid=z",
        "https://example.org//en/news/1?gclid=abc",
    ],
)
def test_spellings_of_one_page_share_one_id(spelling: str) -> None:
    assert canonical_url(spelling) == "https://example.org/en/news/1"
    assert article_id(canonical_url(spelling)) == article_id("https://example.org/en/news/1")


def test_query_is_sorted_and_kept() -> None:
    assert canonical_url("https://e.org/a?b=2&a=1") == "https://e.org/a?a=1&b=2"
    assert canonical_url("https://e.org:8443/a") == "https://e.org:8443/a"


def test_sanitizer_keeps_structure_and_drops_active_content() -> None:
    html = (
        '<p onclick="steal()">Hi <a href="/x">link</a> <a href="javascript:alert(1)">j</a></p>'
        '<script>bad()</script><style>p{}</style><iframe src="https://evil"></iframe>'
        '<img src="pic.jpg" onerror="x()">'
    )
    clean = sanitize_html(html, "https://e.org/news/1")
    assert "<script" not in clean and "<style" not in clean and "<iframe" not in clean
    assert "onclick" not in clean and "onerror" not in clean and "javascript:" not in clean
    assert 'href="https://e.org/x"' in clean
    assert 'src="https://e.org/news/pic.jpg"' in clean


def test_fingerprint_ignores_whitespace_but_not_words() -> None:
    assert fingerprint("T", "a  b\n c") == fingerprint("T", "a b c")
    assert fingerprint("T", "a b c") != fingerprint("T", "a b d")


@pytest.mark.parametrize(
    "label", ["windows-874", "tis-620", "iso-8859-11", "TIS620", "x-windows-874"]
)
def test_thai_labels_decode_as_cp874(label: str) -> None:
    body = f"<html><body><h1>{THAI}</h1></body></html>".encode("cp874")
    text, codec = decode_html(body, f"text/html; charset={label}")
    assert codec == "cp874"
    assert THAI in text


def test_thai_without_any_declaration_is_detected() -> None:
    body = f"<html><body><h1>{THAI}</h1><p>{THAI * 3}</p></body></html>".encode("cp874")
    text, _codec = decode_html(body, "text/html")
    assert THAI in text


def test_meta_charset_and_bom() -> None:
    body = f'<html><head><meta charset="windows-874"></head><p>{THAI}</p>'.encode("cp874")
    assert THAI in decode_html(body, None)[0]
    assert decode_html("\ufeffสวัสดี".encode(), "text/html; charset=iso-8859-1") == ("สวัสดี", "utf-8")


def test_latin1_means_windows_1252_and_a_lying_utf8_header_is_not_trusted() -> None:
    assert codec_for_label("ISO-8859-1") == "cp1252"
    assert (
        decode_html("“quoted”".encode("cp1252"), "text/html; charset=iso-8859-1")[0] == "“quoted”"
    )
    text, codec = decode_html(THAI.encode("cp874"), "text/html; charset=utf-8")
    assert codec != "utf-8" and text  # never an empty document
