"""Syndication: notice that a story was already published by another source.

News sites republish each other (the Iron & Steel Institute of Thailand reposts CISA stories with a
Thai title, an intro line, "Source : CISA" and a disclaimer). Such a later copy gets
``duplicate_of`` = the id of the earlier article: it stays in its own source's feed but appears
once in topic feeds and ``all``, and its event says so.

Design
------
Text → features. ``normalize_text``, case-folded, punctuation dropped. Words of spaced scripts
give word 3-shingles. Runs of scripts written without spaces (Thai, Lao, Khmer, Myanmar, CJK)
give character 5-grams, of which a fixed 1 in 4 (by hash) is kept, so a Thai sentence weighs
about as much as an English one of the same length. Texts shorter than ``MIN_WORDS`` words (a
character of an unspaced script counts as 1/4 word) have no signature and are never duplicates:
short items (captions, one-line notices) are too alike to judge.

Features → signature. MinHash with one permutation hashing (Li, Owen & Zhang 2012) and optimal
densification (Shrivastava 2017): each feature is hashed once (BLAKE2b, 64 bits); bits 32+ pick one
of ``SLOTS`` = 128 slots, the low 32 bits are the value, each slot keeps its minimum; empty slots
copy the slot found by a fixed pseudo-random probe sequence. ``similarity`` (the share of equal
slots) estimates the Jaccard similarity of the feature sets; measured error against the exact
Jaccard: mean 0.000, sd 0.015. One hash per feature instead of 128 keeps it fast in pure Python.
Signatures stored in Redis must keep comparing, so a test pins them: a change to the features or
the hashing needs a new version in the stored keys, not just new test digests.

Lookup. LSH with ``BANDS`` = 20 bands of ``ROWS`` = 3 slots (the first 60 slots): an article is a
candidate when a whole band matches, probability 1 - (1 - J^3)^20 (J = 0.4: 0.74, 0.5: 0.93,
0.6: 0.99). Candidates are then compared exactly on their stored signature. Keys, all expiring
with the retention:

- ``{prefix}sig:{article_id}``: hash ``sig`` (base64 of 128 big-endian uint32), ``source``,
  ``ts`` (published, else fetched, else indexing time);
- ``{prefix}lsh:{band}:{bucket}``: sorted set of article ids scored by indexing time; members
  older than the retention are pruned and only the newest ``BUCKET_CAP`` kept, so a hot bucket
  (many texts sharing a band) costs a bounded lookup.

Only originals are indexed (``index`` ignores an article with ``duplicate_of``), so every candidate
is an original; among the matching candidates from other sources the oldest (``ts``, then id)
wins. Candidates from the article's own source are skipped: a site's own reposts are not
syndication. The first copy *seen* is the original: when a backfill meets an older copy after
a newer one, the older one becomes the duplicate, so no stored article ever changes.

Race: ``find_original`` then ``index`` is not atomic. Two workers saving near-duplicates from
different sources at the same moment may both find nothing and both become originals; the story
then appears twice in combined feeds. The window is one claim round trip; we accept it rather
than serialise all saves. Neither can ever be marked a duplicate of itself or of its own source.

Threshold
---------
``THRESHOLD`` = 0.5 (estimated Jaccard of the shingle sets), chosen on labelled pairs:

- 91 distinct real articles (the Readability.js test pages) turned into 443 duplicate pairs --
  each article against itself wrapped in another title, an intro line, "Source : ..." and a
  disclaimer; with its last 20 % cut and a disclaimer added; cut to its first 60 %; with 5 % and
  with 10 % of its words replaced -- and 4,480 other pairs: every pair of different articles,
  25 %-of-words rewrites (paraphrases), and 300 pairs of short different stories (3 paragraphs)
  sharing an intro line and a 75-word disclaimer. End to end (signature, LSH bands, threshold):

  ========= ========= ======
  threshold precision recall
  ========= ========= ======
  0.40      0.888     0.968
  0.45      0.911     0.950
  **0.50**  **0.943** **0.930**
  0.55      0.957     0.844
  0.60      0.961     0.720
  ========= ========= ======

  At 0.5 every false positive (25) is a pair of short stories whose shared boilerplate is about
  half their text: the extractor strips such boilerplate, and same-source pairs, where it is
  shared, are never compared. The misses are mostly texts cut to a short lead or with every
  tenth word changed. Word 4- and 5-shingles lost recall on copy-edits (0.84 and 0.77 at 0.5)
  for no precision gain.
- The hand-made set in ``tests/test_syndication.py`` (the seed page against CISA's original, and
  steel stories: 6 duplicate pairs, 7 others, including a rewrite of the same event and two
  stories sharing boilerplate): precision 1.0, recall 1.0 at 0.35 … 0.5.

Cost: signature ~1.6 ms median (~2.5 ms p95) for a 2,000-word text (the shingles are hashed in
one C-level ``map`` and unpacked with one ``struct.unpack``; ~2/3 of the time is BLAKE2b itself);
``index`` is one script call (EVALSHA; was 84 pipelined commands), ``find_original`` one ZUNION
of the 20 buckets, plus one script call reading the candidates' signatures when there are any
(was 20 ZRANGE + one HMGET per candidate); ~3.0 kB of Redis per indexed article (Redis 7.0:
signature hash ~1.1 kB, 20 buckets ~1.9 kB). ZUNION needs Redis 6.2 (as XAUTOCLAIM does).
Re-measure with ``.venv/bin/python tests/benchmarks/syndication.py``.
"""

from __future__ import annotations

import base64
import hashlib
import operator
import re
import struct
import time
import unicodedata
from collections.abc import Iterable
from functools import cache, partial
from typing import Any

from redis import Redis

from tasks.keys import text as reply_text
from tasks.models import Article

Signature = tuple[int, ...]
"""``SLOTS`` MinHash values (uint32); the empty tuple for a text too short to compare."""

SHINGLE_WORDS = 3  # words per shingle in spaced scripts
SHINGLE_CHARS = 5  # characters per shingle in scripts written without spaces
CHARS_PER_WORD = 4  # an unspaced-script character counts as 1/4 word; 1 in 4 of its shingles kept
MIN_WORDS = 40  # shorter texts are never duplicates
SLOTS = 128  # MinHash values per signature
BANDS = 20  # LSH bands ...
ROWS = 3  # ... of this many slots each (the first BANDS * ROWS slots)
THRESHOLD = 0.5  # estimated Jaccard at or above which a text duplicates another
BUCKET_CAP = 64  # ids kept per LSH bucket (the newest)

_EMPTY = 1 << 32  # larger than any slot value
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
)
_TOKEN = re.compile(rf"([{_UNSPACED}]+)|([^\W_{_UNSPACED}]+)")  # an unspaced run, or a word
_WORD = re.compile(rf"[^\W_{_UNSPACED}]+")
_UNSPACED_CHAR = re.compile(rf"[{_UNSPACED}]")


def _hash64(data: bytes) -> int:
    """A stable 64-bit hash (Python's ``hash`` of str differs between processes)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


_blake2b8 = partial(hashlib.blake2b, digest_size=8)
_DIGEST = hashlib.blake2b.digest


def _hashes(shingles: Iterable[str]) -> tuple[int, ...]:
    """``_hash64`` of each shingle (UTF-8), as (high 32 bits, low 32 bits) pairs, flattened.

    The loop runs in C (``map``) and one ``struct.unpack`` converts every digest: about twice
    as fast as calling ``_hash64`` per shingle.
    """
    digests = b"".join(map(_DIGEST, map(_blake2b8, map(str.encode, shingles))))
    return struct.unpack(f">{len(digests) // 4}I", digests)


def _features(text: str) -> tuple[tuple[int, ...], float]:
    """Hashed shingles of ``text`` (flattened high/low 32-bit pairs), and its length in words.

    Tokens as ``_TOKEN`` finds them in the NFC, case-folded text (``normalize_text``'s whitespace
    collapsing is skipped: whitespace never belongs to a token, so the tokens are the same).
    """
    folded = unicodedata.normalize("NFC", text).casefold()
    runs: list[str] = []
    if _UNSPACED_CHAR.search(folded) is None:  # the common case: one C-level findall
        words: list[str] = _WORD.findall(folded)
    else:
        words = []
        for run, word in _TOKEN.findall(folded):
            (runs if run else words).append(run or word)
    k = SHINGLE_WORDS
    hashed = _hashes(set(map(" ".join, zip(*(words[i:] for i in range(k)), strict=False))))
    chars = 0
    if runs:
        grams: set[str] = set()
        for run in runs:
            chars += len(run)
            grams.update(run[i : i + SHINGLE_CHARS] for i in range(len(run) - SHINGLE_CHARS + 1))
        pairs = _hashes(grams)
        kept: list[int] = []
        for i in range(0, len(pairs), 2):
            if pairs[i] >> 30 == 0:  # top two bits clear: 1 in 4 (CHARS_PER_WORD), any slot
                kept += pairs[i : i + 2]
        hashed += tuple(kept)
    return hashed, len(words) + chars / CHARS_PER_WORD


@cache
def _probe(slot: int, attempt: int) -> int:
    """The slot an empty ``slot`` copies from on its ``attempt``-th try; fixed for ever."""
    return _hash64(b"probe:%d:%d" % (slot, attempt)) % SLOTS


def signature(text: str) -> Signature:
    """The MinHash signature of ``text`` (see the module docstring); ``()`` when too short."""
    hashed, words = _features(text)
    if words < MIN_WORDS or not hashed:
        return ()
    slots = [_EMPTY] * SLOTS
    his = iter(hashed)  # (high, low) pairs: the slot is high % SLOTS, the value low
    for high, value in zip(his, his, strict=True):
        slot = high % SLOTS
        if value < slots[slot]:
            slots[slot] = value
    if _EMPTY not in slots:
        return tuple(slots)
    filled = list(slots)
    for slot in range(SLOTS):
        attempt = 0
        while filled[slot] == _EMPTY:
            filled[slot] = slots[_probe(slot, attempt)]
            attempt += 1
    return tuple(filled)


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets, 0.0 … 1.0."""
    if not a or not b or len(a) != len(b):
        return 0.0
    equal: int = sum(map(operator.eq, a, b))  # map runs in C: ~4x a generator expression
    return equal / len(a)


def encode(sig: Signature) -> str:
    """Base64 of the big-endian uint32 values, as stored in ``{prefix}sig:{id}``."""
    return base64.b64encode(struct.pack(f">{len(sig)}I", *sig)).decode("ascii")


def decode(raw: str | bytes) -> Signature:
    """The inverse of ``encode``."""
    data = base64.b64decode(raw)
    return struct.unpack(f">{len(data) // 4}I", data)


_INDEX = """
-- Index one article for syndication lookups, atomically (tasks/syndication.py ``index``).
-- KEYS[1] signature hash, KEYS[2..] LSH bucket sorted sets
-- ARGV[1] encoded signature, ARGV[2] source id, ARGV[3] ts, ARGV[4] ttl seconds,
-- ARGV[5] article id, ARGV[6] now (the bucket score), ARGV[7] bucket cap
-- Members older than the retention are not trimmed by time: their signature hashes have
-- expired, so find_original skips them, and the cap evicts the oldest first anyway.
redis.call('HSET', KEYS[1], 'sig', ARGV[1], 'source', ARGV[2], 'ts', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local cap = tonumber(ARGV[7])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[6], ARGV[5])
  if redis.call('ZCARD', KEYS[i]) > cap then
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(cap + 1))
  end
  redis.call('EXPIRE', KEYS[i], ARGV[4])
end
return 1
"""


_READ_SIGS = """
-- The stored signatures of candidates, in one call (tasks/syndication.py ``find_original``).
-- KEYS[1..] signature hashes. Returns, per key, {sig, source, ts} (nil when expired).
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HMGET', KEYS[i], 'sig', 'source', 'ts')
end
return out
"""


def _sig_key(prefix: str, article_id: str) -> str:
    return f"{prefix}sig:{article_id}"


def _bucket_keys(prefix: str, sig: Signature) -> list[str]:
    """One key per band: ``{prefix}lsh:{band}:{48-bit hash of the band's slot values}``."""
    keys = []
    for band in range(BANDS):
        rows = sig[band * ROWS : (band + 1) * ROWS]
        bucket = hashlib.blake2b(struct.pack(f">{ROWS}I", *rows), digest_size=6).hexdigest()
        keys.append(f"{prefix}lsh:{band}:{bucket}")
    return keys


def _timestamp(article: Article) -> float:
    """When the article appeared, for "the oldest original": published, fetched, or now."""
    when = article.published or article.fetched_at
    return when.timestamp() if when is not None else time.time()


def find_original(
    redis: Redis, prefix: str, article: Article, sig: Signature | None = None
) -> str | None:
    """The id of the earlier original, from another source, that ``article`` republishes.

    None when the text is too short, nothing similar is indexed, or every match comes from the
    article's own source. One command (ZUNION of the band buckets) when nothing similar is
    indexed, else a second: one script call reading the candidates' signatures. Pass ``sig`` when
    the caller has it already (it costs ~1.6 ms per 2,000 words).
    """
    sig = signature(article.text) if sig is None else sig
    if not sig:
        return None
    members: list[bytes | str] = redis.zunion(_bucket_keys(prefix, sig))  # type: ignore[assignment]
    candidates = sorted({str(reply_text(m)) for m in members} - {article.id})
    if not candidates:
        return None
    fields: list[list[Any]] = redis.register_script(_READ_SIGS)(
        keys=[_sig_key(prefix, candidate) for candidate in candidates]
    )
    best: tuple[float, str] | None = None
    for candidate, (raw_sig, raw_source, raw_ts) in zip(candidates, fields, strict=True):
        if raw_sig is None or reply_text(raw_source) == article.source_id:
            continue  # expired, or the same source (a repost is not syndication)
        if similarity(sig, decode(raw_sig)) < THRESHOLD:
            continue
        order = (float(reply_text(raw_ts) or 0), candidate)
        if best is None or order < best:
            best = order
    return best[1] if best else None


def index(
    redis: Redis, prefix: str, article: Article, ttl_seconds: int, sig: Signature | None = None
) -> None:
    """Make ``article`` findable as an original for ``ttl_seconds`` (use the retention).

    Call it once the article is stored as an original; duplicates (``duplicate_of`` set) and
    texts too short for a signature are ignored. Indexing again refreshes the expiry. One
    atomic script call (``_INDEX``) does the signature hash and all the band buckets.
    """
    if article.duplicate_of:
        return
    sig = signature(article.text) if sig is None else sig
    if not sig:
        return
    redis.register_script(_INDEX)(
        keys=[_sig_key(prefix, article.id), *_bucket_keys(prefix, sig)],
        args=[
            encode(sig),
            article.source_id,
            repr(_timestamp(article)),
            ttl_seconds,
            article.id,
            repr(time.time()),
            BUCKET_CAP,
        ],
    )
