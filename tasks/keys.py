"""Every Redis key newswire uses, in one place. All start with ``settings.key_prefix``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


def text(value: Any) -> str | None:
    """A Redis reply as str (redis-py returns bytes unless decode_responses is set)."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Keys:
    prefix: str

    def article(self, article_id: str) -> str:
        """Hash: ``json`` (the Article), ``fp`` (fingerprint), ``source``."""
        return f"{self.prefix}article:{article_id}"

    def seen(self, link_id: str) -> str:
        """A listing link already handled (stored, or permanently failed); expires."""
        return f"{self.prefix}seen:{link_id}"

    def feed_index(self, feed: str) -> str:
        """Sorted set of article ids in a feed, scored by published time."""
        return f"{self.prefix}feed:{feed}"

    def feed_file(self, feed: str, fmt: str) -> str:
        """Hash: ``body``, ``etag``, ``last_modified`` of one rendered feed."""
        return f"{self.prefix}feedfile:{feed}:{fmt}"

    @property
    def dirty_feeds(self) -> str:
        return f"{self.prefix}feeds:dirty"

    @property
    def rebuild_scheduled(self) -> str:
        return f"{self.prefix}feeds:rebuild-scheduled"

    def http_cache(self, url: str) -> str:
        """Hash: ``etag``, ``last_modified``, ``hash`` of the last 200 response for a URL."""
        return f"{self.prefix}http:{hashlib.sha256(url.encode()).hexdigest()[:24]}"

    def listing_links(self, source_id: str) -> str:
        """JSON list of the article links on a source's listing when it last changed."""
        return f"{self.prefix}listing:{source_id}"

    def health(self, source_id: str) -> str:
        return f"{self.prefix}health:{source_id}"

    def run(self, run_id: str) -> str:
        """Hash of counters for one `newswire fetch` run."""
        return f"{self.prefix}run:{run_id}"

    def run_pending(self, run_id: str) -> str:
        """Set of work items (source ids and article URLs) not finished yet in a run."""
        return f"{self.prefix}run:{run_id}:pending"

    @property
    def beat_lease(self) -> str:
        return f"{self.prefix}beat:lease"

    @property
    def dead_letters(self) -> str:
        """List of work items given up after repeated crashes (JSON: task, args, attempts)."""
        return f"{self.prefix}dead:tasks"

    @property
    def celery_prefix(self) -> str:
        return f"{self.prefix}celery:"
