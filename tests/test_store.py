"""The atomic claim: one record and one event per article, however many workers race."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import redis as redis_lib

from config.settings import Settings
from config.sources import parse_sources
from tasks import events, store
from tasks.keys import Keys
from tasks.models import Article
from tasks.normalize import article_id, canonical_url, fingerprint

SOURCE = parse_sources(
    {"sources": [{"id": "isit-news", "url": "https://example.org/en/news", "topics": ["steel"]}]}
)[0]


def make_article(n: int = 1, body: str = "Steel output rose.", title: str = "Title") -> Article:
    url = f"https://example.org/en/news/{n}"
    return Article(
        id=article_id(canonical_url(url)),
        source_id="isit-news",
        url=url,
        canonical_url=canonical_url(url),
        title=f"{title} {n}",
        text=body,
        content_html=f"<p>{body}</p>",
        published=datetime(2023, 9, 14, tzinfo=UTC),
        fetched_at=datetime(2023, 9, 15, tzinfo=UTC),
        fingerprint=fingerprint(f"{title} {n}", body),
    )


def stream_types(redis: redis_lib.Redis, settings: Settings) -> list[str]:
    return [e.envelope["type"] for e in events.read_events(redis, settings.stream_key)]


def test_claim_stores_indexes_and_emits_once(redis: redis_lib.Redis, settings: Settings) -> None:
    article = make_article()
    first = store.save_article(redis, settings, SOURCE, article)
    again = store.save_article(redis, settings, SOURCE, article)
    assert (first.outcome, again.outcome) == ("new", "unchanged")
    keys = Keys(settings.key_prefix)
    for feed in ("isit-news", "steel", "all"):
        assert [a.id for a in store.feed_articles(redis, keys, feed, 10)] == [article.id]
    assert redis.smembers(keys.dirty_feeds) == {b"isit-news", b"steel", b"all"}
    assert stream_types(redis, settings) == [events.CREATED]
    assert store.load_article(redis, keys, article.id) == article


def test_racing_workers_produce_one_record_and_one_event(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    article = make_article()
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        client = redis_lib.Redis.from_url(str(settings.redis_url))
        barrier.wait()
        outcomes.append(store.save_article(client, settings, SOURCE, article).outcome)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["new"] + ["unchanged"] * 7
    assert stream_types(redis, settings) == [events.CREATED]


def test_changed_content_updates_in_place_with_one_event(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    original = make_article(body="First version.")
    store.save_article(redis, settings, SOURCE, original)
    edited = make_article(body="Second, corrected version.")
    result = store.save_article(redis, settings, SOURCE, edited)
    assert result.outcome == "updated"
    assert store.save_article(redis, settings, SOURCE, edited).outcome == "unchanged"
    keys = Keys(settings.key_prefix)
    stored = store.load_article(redis, keys, original.id)
    assert stored is not None
    assert stored.text == "Second, corrected version."
    assert stored.id == original.id and stored.published == original.published
    assert stored.updated is not None
    assert redis.zcard(keys.feed_index("all")) == 1
    assert stream_types(redis, settings) == [events.CREATED, events.UPDATED]
    updated = events.read_events(redis, settings.stream_key)[1].envelope
    assert updated["data"]["text"] == "Second, corrected version."


def test_unknown_links_checks_a_batch_and_marks_seen(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    keys = Keys(settings.key_prefix)
    links = [f"https://example.org/en/news/{n}" for n in range(5)]
    store.save_article(redis, settings, SOURCE, make_article(1), link_url=links[1])
    store.mark_seen(redis, keys, "http://example.org/en/news/3?utm_source=x", 60)
    assert store.unknown_links(redis, keys, links) == [links[0], links[2], links[4]]
    assert store.unknown_links(redis, keys, []) == []


def test_retention_ttl_is_set(redis: redis_lib.Redis, settings: Settings) -> None:
    article = make_article()
    store.save_article(redis, settings, SOURCE, article)
    ttl = redis.ttl(Keys(settings.key_prefix).article(article.id))
    assert 0 < ttl <= settings.retention_seconds


def test_event_envelope_is_cloudevents(redis: redis_lib.Redis, settings: Settings) -> None:
    store.save_article(redis, settings, SOURCE, make_article())
    raw = redis.xrange(settings.stream_key)[0][1][b"event"]
    envelope = json.loads(raw)
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "newswire.article.created"
    assert envelope["source"] == "newswire/isit-news"
    assert envelope["datacontenttype"] == "application/json"
    assert datetime.fromisoformat(envelope["time"]).tzinfo is not None
    assert envelope["data"]["title"] == "Title 1"
    assert envelope["data"]["published"] == "2023-09-14T00:00:00+00:00"
    assert len(envelope["id"]) == 32


SEED = (
    "The 4th National Steel Green and Low Carbon Development Conference was held in Nanjing on "
    "Sep 8, 2023. Delegates from the government, steel and related industry enterprises, and "
    "industrial associations focused on the two major themes of ultra-low emissions and carbon "
    "peaking and neutrality goals, exchanging and discussing on technological innovation and "
    "policies. This meeting is guided by the China Iron and Steel Industry Association, hosted "
    "by China Metallurgical News, and organized by Nanjing Steel United Co., Ltd. Zhang "
    "Haideng, Deputy Director of the Raw Materials Industry Department of the Ministry of "
    "Industry and Information Technology, expressed three opinions in his speech on promoting "
    "green and low-carbon development of the steel industry."
)


def test_a_syndicated_copy_appears_once_in_combined_feeds(
    redis: redis_lib.Redis, settings: Settings
) -> None:
    cisa, isit = parse_sources(
        {
            "sources": [
                {"id": "cisa", "url": "https://cisa.example/news", "topics": ["steel"]},
                {"id": "isit-news", "url": "https://example.org/en/news", "topics": ["steel"]},
            ]
        }
    )
    original = make_article(1, body=SEED).replace(
        source_id="cisa",
        url="https://cisa.example/news/1",
        id=article_id("https://cisa.example/news/1"),
    )
    copy = make_article(2, body="การประชุม Nanjing. " + SEED + " Source : CISA")
    assert store.save_article(redis, settings, cisa, original).outcome == "new"
    saved = store.save_article(redis, settings, isit, copy)
    assert saved.outcome == "new" and saved.article.duplicate_of == original.id
    keys = Keys(settings.key_prefix)
    assert [a.id for a in store.feed_articles(redis, keys, "isit-news", 10)] == [copy.id]
    for combined in ("steel", "all"):
        assert [a.id for a in store.feed_articles(redis, keys, combined, 10)] == [original.id]
    created = [e.envelope for e in events.read_events(redis, settings.stream_key)]
    assert created[1]["data"]["duplicate_of"] == original.id
