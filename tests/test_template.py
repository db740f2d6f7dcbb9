"""Template learning on a real Redis: blocks shared by three pages of a source are boilerplate."""

from __future__ import annotations

import pytest
import redis as redis_lib

from tasks import template
from tasks.extract import analyze_article, extract_article
from tasks.template import MAX_BLOCKS, load_boilerplate, record_blocks
from tests.fixture_site import DISCLAIMER

SOURCE_ID = "steel-news"
PROMO = "Subscribe to Steel Weekly and get every market report in your inbox on Monday morning."


def page(n: int) -> str:
    """An article page of one site: its own story, plus a promo paragraph inside the body and a
    disclaimer below it, both repeated on every page (as real templates do)."""
    story = " ".join(
        f"Story {n} sentence {i}: mills in region {n} changed output by {n * i} percent,"
        " traders said."
        for i in range(1, 8)
    )
    return f"""<html><head><title>Story number {n} about steel | Steel Weekly</title></head><body>
    <div class="content"><h1>Story number {n} about steel</h1>
    <div class="text">
      <p>{story}</p>
      <p>Second paragraph of story {n}, with more detail, figures and quotes from analysts.</p>
      <p>{PROMO}</p>
      <p>{DISCLAIMER}</p>
    </div></div></body></html>"""


def url(n: int) -> str:
    return f"https://steel.example.com/news/{n}"


def test_shared_blocks_disappear_after_three_pages(redis: redis_lib.Redis, key_prefix: str) -> None:
    before = extract_article(page(1), url(1))
    assert PROMO in before.text and DISCLAIMER in before.text

    for n in (1, 2):
        _, blocks = analyze_article(page(n), url(n))
        record_blocks(redis, key_prefix, SOURCE_ID, url(n), blocks)
    assert load_boilerplate(redis, key_prefix, SOURCE_ID) == frozenset()  # two pages: not yet

    _, blocks = analyze_article(page(3), url(3))
    record_blocks(redis, key_prefix, SOURCE_ID, url(3), blocks)
    boilerplate = load_boilerplate(redis, key_prefix, SOURCE_ID)
    assert boilerplate

    for n in (1, 2, 3, 4):
        article = extract_article(page(n), url(n), boilerplate=boilerplate)
        assert PROMO not in article.text
        assert DISCLAIMER not in article.text
        assert f"Story {n} sentence 1" in article.text
        assert f"Second paragraph of story {n}" in article.text
        assert article.provenance.get("boilerplate") == "template"


def test_the_same_page_counts_once(redis: redis_lib.Redis, key_prefix: str) -> None:
    _, blocks = analyze_article(page(1), url(1))
    for _ in range(5):
        record_blocks(redis, key_prefix, SOURCE_ID, url(1), blocks)
    assert load_boilerplate(redis, key_prefix, SOURCE_ID) == frozenset()


def test_sources_are_learned_separately(redis: redis_lib.Redis, key_prefix: str) -> None:
    for n in (1, 2, 3):
        _, blocks = analyze_article(page(n), url(n))
        record_blocks(redis, key_prefix, SOURCE_ID, url(n), blocks)
    assert load_boilerplate(redis, key_prefix, SOURCE_ID)
    assert load_boilerplate(redis, key_prefix, "other-source") == frozenset()


def test_keys_are_prefixed_bounded_and_expire(redis: redis_lib.Redis, key_prefix: str) -> None:
    many = [f"{i:016x}" for i in range(MAX_BLOCKS + 500)]
    record_blocks(redis, key_prefix, SOURCE_ID, url(1), many[:400])
    for n in range(2, 16):
        record_blocks(redis, key_prefix, SOURCE_ID, url(n), many[n * 400 : (n + 1) * 400])
    keys = [key.decode() for key in redis.scan_iter(match=f"{key_prefix}*")]
    assert keys and all(key.startswith(f"{key_prefix}template:{SOURCE_ID}") for key in keys)
    for key in keys:
        assert 0 < redis.ttl(key) <= 60 * 60 * 24 * 30
    blocks_key = f"{key_prefix}template:{SOURCE_ID}:blocks"
    assert redis.zcard(blocks_key) <= MAX_BLOCKS


def test_a_body_is_never_emptied(redis: redis_lib.Redis, key_prefix: str) -> None:
    same = page(7)
    for n in (1, 2, 3):
        _, blocks = analyze_article(same, url(n))
        record_blocks(redis, key_prefix, SOURCE_ID, url(n), blocks)
    article = extract_article(
        same, url(9), boilerplate=load_boilerplate(redis, key_prefix, SOURCE_ID)
    )
    assert article.text


def test_boilerplate_is_cached_briefly_per_process(
    redis: redis_lib.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(template, "monotonic", lambda: clock[0])
    for n in (1, 2, 3):
        _, blocks = analyze_article(page(n), url(n))
        record_blocks(redis, key_prefix, SOURCE_ID, url(n), blocks)
    learned = load_boilerplate(redis, key_prefix, SOURCE_ID)
    assert learned

    # More blocks are learned (by any process): the cached set may be served meanwhile.
    late = "0123456789abcdef"
    for n in (4, 5, 6):
        record_blocks(redis, key_prefix, SOURCE_ID, url(n), [late])
    clock[0] += template.CACHE_SECONDS - 1
    assert load_boilerplate(redis, key_prefix, SOURCE_ID) == learned
    clock[0] += 1
    assert load_boilerplate(redis, key_prefix, SOURCE_ID) == learned | {late}
    assert load_boilerplate(redis, key_prefix, "other-source") == frozenset()


def test_once_learned_only_a_sample_of_pages_is_counted(
    redis: redis_lib.Redis, key_prefix: str
) -> None:
    new_block = "fedcba9876543210"
    pages = [url(n) for n in range(200)]
    for page_url in pages:
        record_blocks(redis, key_prefix, SOURCE_ID, page_url, [new_block], learned=True)
    counted = int(redis.zscore(f"{key_prefix}template:{SOURCE_ID}:blocks", new_block) or 0)
    # The sample is fixed by the URL: about 1 in SAMPLE_EVERY, the same pages on every worker.
    assert len(pages) / template.SAMPLE_EVERY / 2 < counted < len(pages) / template.SAMPLE_EVERY * 2
    # Counting enough sampled pages still teaches a new template block.
    assert new_block in load_boilerplate(redis, key_prefix, SOURCE_ID)
