"""robots.txt (RFC 9309): parsing, matching, and a cache shared by all workers.

Design decisions:

* **Parsing is lenient, matching is the RFC's.** Unknown lines are skipped. The group for our
  product token (``newswire``, case-insensitive) is used, all such groups merged; otherwise the
  ``*`` groups; otherwise everything is allowed. The longest matching pattern wins, and Allow
  beats Disallow when they are equally long. ``*`` matches any run of characters, a final ``$``
  anchors the end. ``/robots.txt`` itself is always allowed.
* **Outcomes, not files, are cached.** What a fetch of robots.txt *means* is recorded: the file's
  text (2xx), "allow all" (4xx other than 429: the site has no rules), or "disallow all" (429,
  5xx: we cannot know the rules, so we stay away for a while). Errors are cached briefly
  (:data:`ERROR_TTL`) so a broken site is retried soon, and good answers for a day. A host that
  does not answer at all is not cached: its connect/timeout error is raised as is (transient).
* **Redis holds the shared copy** under ``{key_prefix}robots:{scheme}://{host[:port]}``; each
  process also keeps the parsed rules for a minute so a busy host costs no Redis round trip per
  request. Without Redis the process cache is the only cache.
* **Fetching is not done here.** :class:`RobotsCache` is handed a function that fetches a URL
  (the :class:`~tasks.fetch.Fetcher`, with its guard, caps and politeness) so this module stays a
  pure policy plus a cache.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from redis import Redis

from tasks.errors import FetchError

PRODUCT_TOKEN = "newswire"
MAX_ROBOTS_BYTES = 512 * 1024  # RFC 9309: parse at least 500 KiB
OK_TTL = 24 * 3600
ERROR_TTL = 10 * 60
LOCAL_TTL = 60.0
LOCAL_MAX_HOSTS = 2048

Outcome = Literal["rules", "allow_all", "disallow_all"]

_LINE = re.compile(r"^\s*([A-Za-z-]+)\s*:\s*(.*?)\s*$")
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
# Characters kept as they are when normalising a pattern or path; everything else (non-ASCII,
# spaces, controls) is percent-encoded as UTF-8, as RFC 9309 §2.2.2 asks.
_SAFE = "/?#[]@!$&'()*+,;=:-._~%"


def _normalise(text: str) -> str:
    """Percent-encode what must be, and upper-case existing escapes so %2f equals %2F."""
    return _PERCENT.sub(lambda m: m[0].upper(), quote(text, safe=_SAFE))


@dataclass(frozen=True)
class Rule:
    allow: bool
    pattern: str  # normalised
    regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def make(cls, allow: bool, raw: str) -> Rule:
        pattern = _normalise(raw)
        anchored = pattern.endswith("$")
        body = pattern[:-1] if anchored else pattern
        regex = ".*".join(re.escape(part) for part in body.split("*"))
        return cls(allow, pattern, re.compile(regex + (r"\Z" if anchored else ""), re.DOTALL))

    def matches(self, path: str) -> bool:
        return self.regex.match(path) is not None


@dataclass(frozen=True)
class Robots:
    """The rules that apply to one user agent on one host."""

    rules: tuple[Rule, ...] = ()
    outcome: Outcome = "rules"

    @classmethod
    def parse(cls, text: str, agent: str = PRODUCT_TOKEN) -> Robots:
        """The rules of the groups for ``agent`` (merged), else of the ``*`` groups."""
        agent = agent.lower()
        ours: list[Rule] = []
        star: list[Rule] = []
        group_agents: list[str] = []
        in_rules = False  # a user-agent line after rules starts a new group
        for line in text[:MAX_ROBOTS_BYTES].splitlines():
            match = _LINE.match(line.split("#", 1)[0])
            if not match:
                continue
            key, value = match[1].lower(), match[2]
            if key == "user-agent":
                if in_rules:
                    group_agents, in_rules = [], False
                # The product token is the leading name characters ("newswire/1.0" -> newswire).
                token = re.match(r"[A-Za-z_*-]*", value)
                group_agents.append(token[0].lower() if token else "")
            elif key in ("allow", "disallow"):
                in_rules = True
                if not value or not group_agents:  # an empty rule matches nothing
                    continue
                rule = Rule.make(key == "allow", value)
                if agent in group_agents:
                    ours.append(rule)
                if "*" in group_agents:
                    star.append(rule)
        return cls(tuple(ours if _has_group(text, agent) else star))

    def allowed(self, path: str) -> bool:
        """May ``path`` (path and query of a URL, e.g. ``/news?page=2``) be fetched?"""
        if self.outcome != "rules":
            return self.outcome == "allow_all"
        path = _normalise(path or "/")
        if path == "/robots.txt":
            return True
        best: Rule | None = None
        for rule in self.rules:
            if not rule.matches(path):
                continue
            if (
                best is None
                or len(rule.pattern) > len(best.pattern)
                or (len(rule.pattern) == len(best.pattern) and rule.allow and not best.allow)
            ):
                best = rule
        return best is None or best.allow


def _has_group(text: str, agent: str) -> bool:
    """Whether any group names ``agent``: then it is ours even if it has no rules."""
    for line in text[:MAX_ROBOTS_BYTES].splitlines():
        match = _LINE.match(line.split("#", 1)[0])
        if match and match[1].lower() == "user-agent":
            token = re.match(r"[A-Za-z_*-]*", match[2])
            if token and token[0].lower() == agent:
                return True
    return False


ALLOW_ALL = Robots(outcome="allow_all")
DISALLOW_ALL = Robots(outcome="disallow_all")


@dataclass(frozen=True)
class Verdict:
    """What fetching a robots.txt told us, as stored in the cache."""

    outcome: Outcome
    text: str = ""
    note: str = ""  # why, for error messages ("HTTP 503", "timeout" ...)

    def robots(self, agent: str = PRODUCT_TOKEN) -> Robots:
        if self.outcome == "rules":
            return Robots.parse(self.text, agent)
        return ALLOW_ALL if self.outcome == "allow_all" else DISALLOW_ALL


# fetch(url) -> the body of a 2xx answer; raises FetchError otherwise (status set for HTTP errors).
RobotsFetch = Callable[[str], str]


def verdict_for(fetch: RobotsFetch, robots_url: str) -> Verdict:
    """Fetch robots.txt and decide what it means (RFC 9309 §2.3.1).

    A host that cannot be reached at all (``connect``, ``timeout``) raises that error unchanged:
    the page could not be fetched either, and the true reason is transient and retried, whereas
    "robots_disallowed" would read as a policy decision. Nothing is cached for it.
    """
    try:
        return Verdict("rules", fetch(robots_url))
    except FetchError as exc:
        if exc.reason in ("blocked_address", "connect", "timeout", "rate_limited"):
            raise
        if exc.reason == "http_status" and exc.status is not None:
            if 400 <= exc.status < 500 and exc.status != 429:
                return Verdict("allow_all", note=f"HTTP {exc.status}")  # no rules published
            return Verdict("disallow_all", note=f"HTTP {exc.status}")
        if exc.reason in ("empty_body", "too_many_redirects", "bad_scheme"):
            return Verdict("allow_all", note=exc.reason)  # "unavailable": no usable file
        return Verdict("disallow_all", note=exc.reason)


class RobotsCache:
    """robots.txt verdicts per ``scheme://host[:port]``: in Redis (shared) and in this process."""

    def __init__(self, redis: Redis | None, key_prefix: str, agent: str = PRODUCT_TOKEN) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.agent = agent
        self._local: dict[str, tuple[float, Verdict, Robots]] = {}
        self._lock = threading.Lock()

    def key(self, authority: str) -> str:
        return f"{self.key_prefix}robots:{authority}"

    def lookup(self, authority: str, fetch: RobotsFetch) -> tuple[Robots, Verdict]:
        """The rules for ``authority``, fetching robots.txt when no cache has a fresh verdict."""
        now = time.monotonic()
        with self._lock:
            hit = self._local.get(authority)
        if hit and hit[0] > now:
            return hit[2], hit[1]
        verdict, ttl = self._load(authority)
        if verdict is None:
            verdict = verdict_for(fetch, f"{authority}/robots.txt")
            ttl = OK_TTL if verdict.outcome != "disallow_all" else ERROR_TTL
            self._store(authority, verdict, ttl)
        robots = verdict.robots(self.agent)
        local_ttl = min(ttl, LOCAL_TTL) if self.redis is not None else ttl
        with self._lock:
            if len(self._local) >= LOCAL_MAX_HOSTS:
                self._local.clear()  # crude but bounded; a miss only costs a Redis read
            self._local[authority] = (now + local_ttl, verdict, robots)
        return robots, verdict

    def retry_after(self, authority: str) -> float | None:
        """Seconds until a cached verdict for ``authority`` expires (for error reports)."""
        if self.redis is not None:
            ms = int(self.redis.pttl(self.key(authority)))
            return ms / 1000 if ms > 0 else None
        with self._lock:
            hit = self._local.get(authority)
        return max(hit[0] - time.monotonic(), 0.0) if hit else None

    def _load(self, authority: str) -> tuple[Verdict | None, float]:
        if self.redis is None:
            return None, 0.0
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key(authority))
        pipe.pttl(self.key(authority))
        raw, pttl = pipe.execute()
        if not raw:
            return None, 0.0
        try:
            data = json.loads(raw)
            verdict = Verdict(data["outcome"], data.get("text", ""), data.get("note", ""))
        except (ValueError, KeyError, TypeError):
            return None, 0.0  # a corrupt entry is simply refetched
        return verdict, max(int(pttl), 1000) / 1000

    def _store(self, authority: str, verdict: Verdict, ttl: float) -> None:
        if self.redis is None:
            return
        payload = json.dumps(
            {"outcome": verdict.outcome, "text": verdict.text, "note": verdict.note}
        )
        self.redis.set(self.key(authority), payload, px=int(ttl * 1000))
