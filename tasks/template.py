"""Template learning: the text blocks a source repeats on every page are its boilerplate.

A disclaimer, a "subscribe to our newsletter" paragraph or a footer line looks like content to
a generic extractor on any single page; across pages of one source it is obvious. Each extracted
page reports the fingerprints of its text blocks (``tasks.extract.analyze_article``);
``record_blocks`` counts, per block, on how many *different* pages it was seen, and
``load_boilerplate`` returns the blocks seen on at least ``MIN_PAGES`` pages, which
``extract_article(..., boilerplate=...)`` then drops from the body.

Redis layout, all under ``{key_prefix}template:{source_id}``:

- ``...:pages`` — sorted set of page-URL hashes, score = time recorded. A page is counted once,
  however often it is re-fetched, so re-polling never inflates the counts.
- ``...:blocks`` — sorted set of block fingerprints, score = number of distinct pages.

Both are capped (the least useful entries are evicted) and expire after ``TTL_SECONDS`` without
writes, so a source that changed its template or was removed costs nothing for long. The check
"was this page already counted?" and the increments happen in one Lua script: two workers
recording the same page at once count it once. The script is sent by SHA (EVALSHA).

``load_boilerplate`` is asked once per article page, so each process keeps what it read for
``CACHE_SECONDS`` (per key prefix and source). Serving a slightly stale set is harmless: the
boilerplate of a source only grows slowly (a block must be seen on ``MIN_PAGES`` pages to join
it), and a block that joined meanwhile is merely kept in the bodies extracted during those
seconds, exactly as it was in every body before it joined; nothing stored depends on the set
being current. An empty set is never cached: while a source has no boilerplate yet it is still
being learned, and its first blocks are then used as soon as any worker has learned them.
"""

from __future__ import annotations

import hashlib
import time
from time import monotonic
from typing import cast

from redis import Redis
from redis.commands.core import Script

MIN_PAGES = 3
MAX_BLOCKS = 5000
MAX_PAGES = 2000
MAX_BLOCKS_PER_PAGE = 400
# Once a source's boilerplate is known, 1 page in this many (by URL hash) keeps counting: enough
# to learn a new template within a few dozen pages, at an eighth of the Redis work per page.
SAMPLE_EVERY = 8
TTL_SECONDS = 60 * 60 * 24 * 30
CACHE_SECONDS = 30.0
_CACHE_MAX_ENTRIES = 1000  # (prefix, source) pairs; beyond that, expired entries are dropped

# KEYS[1] pages zset, KEYS[2] blocks zset.
# ARGV[1] page hash, ARGV[2] now, ARGV[3] max pages, ARGV[4] max blocks, ARGV[5] ttl,
# ARGV[6..] block fingerprints (already de-duplicated).
_RECORD_SCRIPT = """
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 0 then
  return 0
end
for i = 6, #ARGV do
  redis.call('ZINCRBY', KEYS[2], 1, ARGV[i])
end
local pages = redis.call('ZCARD', KEYS[1])
if pages > tonumber(ARGV[3]) then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, pages - tonumber(ARGV[3]) - 1)
end
local blocks = redis.call('ZCARD', KEYS[2])
if blocks > tonumber(ARGV[4]) then
  -- Evict the rarest blocks; the frequent ones are the boilerplate worth keeping.
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, blocks - tonumber(ARGV[4]) - 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""
# Module-level: calls send the SHA, and redis-py loads the script into a server that lacks it.
# No client is registered; each call passes the caller's (built after fork).
_RECORD = Script(cast(Redis, None), _RECORD_SCRIPT.encode())

# (key prefix, source id) -> (monotonic time read, boilerplate); never holds an empty set.
_cache: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}


def _keys(key_prefix: str, source_id: str) -> tuple[str, str]:
    base = f"{key_prefix}template:{source_id}"
    return f"{base}:pages", f"{base}:blocks"


def record_blocks(
    redis: Redis,
    key_prefix: str,
    source_id: str,
    page_url: str,
    block_fingerprints: list[str],
    *,
    learned: bool = False,
) -> None:
    """Count the blocks of one page; a page already recorded is ignored.

    ``learned``: the source's boilerplate is known already (``load_boilerplate`` found some), so
    only a sample of pages (1 in SAMPLE_EVERY, the same ones on every worker) is counted.
    """
    page_hash = hashlib.blake2b(page_url.encode("utf-8"), digest_size=10).hexdigest()
    if learned and int(page_hash[:8], 16) % SAMPLE_EVERY:
        return
    unique = list(dict.fromkeys(block_fingerprints))[:MAX_BLOCKS_PER_PAGE]
    if not unique:
        return
    pages_key, blocks_key = _keys(key_prefix, source_id)
    args: list[str | int | float] = [
        page_hash,
        time.time(),
        MAX_PAGES,
        MAX_BLOCKS,
        TTL_SECONDS,
        *unique,
    ]
    _RECORD(keys=[pages_key, blocks_key], args=args, client=redis)


def load_boilerplate(redis: Redis, key_prefix: str, source_id: str) -> frozenset[str]:
    """Fingerprints of blocks seen on at least MIN_PAGES different pages of the source (read at
    most CACHE_SECONDS ago; see the module docstring for why that is enough)."""
    now = monotonic()
    cached = _cache.get((key_prefix, source_id))
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    _, blocks_key = _keys(key_prefix, source_id)
    members = redis.zrangebyscore(blocks_key, MIN_PAGES, "+inf")
    boilerplate = frozenset(m.decode() if isinstance(m, bytes) else str(m) for m in members)
    if boilerplate:
        if len(_cache) >= _CACHE_MAX_ENTRIES:
            for key in [k for k, (read, _) in _cache.items() if now - read >= CACHE_SECONDS]:
                del _cache[key]
        _cache[key_prefix, source_id] = (now, boilerplate)
    else:
        _cache.pop((key_prefix, source_id), None)
    return boilerplate
