"""Source definitions (PRODUCT.md §4), loaded from YAML and validated all at once.

A bad file stops start-up with every problem listed as ``file: source <id>: <field>: <what>``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import soupsieve
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config.settings import IPNetwork, parse_networks
from tasks.errors import ConfigError

SOURCE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_INTERVAL_SECONDS = 5.0
ALL_FEED = "all"


def parse_duration(text: str | int | float) -> timedelta:
    """'15m', '1h30m', '90s', '2d' or a number of seconds -> timedelta."""
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    compact = text.replace(" ", "").lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", compact):
        return timedelta(seconds=float(compact))
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration like '15m', '1h30m' or a cron expression")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def is_cron(text: str) -> bool:
    return len(text.split()) == 5


def _check_cron(text: str) -> None:
    from celery.schedules import crontab

    minute, hour, day_of_month, month_of_year, day_of_week = text.split()
    try:
        crontab(minute, hour, day_of_week, day_of_month, month_of_year)
    except Exception as exc:  # celery raises ValueError or its own ParseException
        raise ValueError(f"{text!r} is not a valid cron expression: {exc}") from None


def _check_selector(value: str) -> str:
    try:
        soupsieve.compile(value)
    except Exception as exc:  # soupsieve.SelectorSyntaxError and friends
        first_line = str(exc).splitlines()[0]
        raise ValueError(f"invalid CSS selector {value!r}: {first_line}") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListingRules(_Strict):
    links: str | None = None
    next_page: str | None = None

    @field_validator("links", "next_page")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        return _check_selector(value) if value else value


class ArticleRules(_Strict):
    title: str | None = None
    published: str | None = None
    updated: str | None = None
    body: str | None = None
    summary: str | None = None
    author: str | None = None
    attribution: str | None = None
    image: str | None = None
    tags: str | None = None
    remove: tuple[str, ...] = ()

    @field_validator(
        "title", "published", "updated", "body", "summary", "author", "attribution", "image", "tags"
    )
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        return _check_selector(value) if value else value

    @field_validator("remove", mode="before")
    @classmethod
    def _remove(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        for item in value or ():
            _check_selector(str(item))
        return value


class Source(_Strict):
    """One website to poll. Frozen: pass it around freely."""

    id: str
    name: str = ""
    url: str
    kind: Literal["listing", "article", "feed"] = "listing"
    interval: str = "15m"
    language: str | None = None
    timezone: str = "UTC"
    topics: tuple[str, ...] = ()
    listing: ListingRules = Field(default_factory=ListingRules)
    article: ArticleRules = Field(default_factory=ArticleRules)
    allow_networks: tuple[IPNetwork, ...] = ()
    # robots.txt is obeyed unless the operator explicitly opts out (logged as a warning).
    ignore_robots: bool = False
    max_articles: int = Field(default=200, ge=1, le=10_000)  # new article pages per poll
    feed_items: int | None = Field(default=None, ge=1, le=10_000)
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not SOURCE_ID.match(value):
            raise ValueError(
                f"{value!r} must be lower-case letters, digits and dashes ([a-z0-9-]+)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{value!r}: only http and https URLs can be polled")
        if not parts.hostname:
            raise ValueError(f"{value!r} has no host")
        return value.strip()

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> str:
        text = str(value).strip()
        if is_cron(text):
            _check_cron(text)
        elif parse_duration(text).total_seconds() < MIN_INTERVAL_SECONDS:
            raise ValueError(f"{text!r} is shorter than {MIN_INTERVAL_SECONDS:g}s")
        return text

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone like 'Asia/Bangkok'") from None
        return value

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        for topic in value or ():
            if not SOURCE_ID.match(str(topic)):
                raise ValueError(f"topic {topic!r} must match [a-z0-9-]+ (it names a feed)")
        return value

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return tuple(parse_networks(value))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def interval_seconds(self) -> float | None:
        """Seconds between polls, or None when the interval is a cron expression."""
        return None if is_cron(self.interval) else parse_duration(self.interval).total_seconds()

    @property
    def feed_names(self) -> tuple[str, ...]:
        """Feeds an article of this source belongs to: its own, its topics', and `all`."""
        return (self.id, *self.topics, ALL_FEED)

    def allows(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in net for net in self.allow_networks)


class Webhook(_Strict):
    """A subscriber that receives article events by signed HTTP POST (PRODUCT.md §7)."""

    id: str
    url: str
    # Standard Webhooks secret: "whsec_" + base64 key, or any other string used as-is.
    secret: str = Field(min_length=16)
    events: tuple[str, ...] = ()  # event types; empty = article created and updated
    sources: tuple[str, ...] = ()  # source ids; empty = every source
    allow_networks: tuple[IPNetwork, ...] = ()
    max_attempts: int = Field(default=8, ge=1, le=50)
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not SOURCE_ID.match(value):
            raise ValueError(f"{value!r} must be lower-case letters, digits and dashes")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r}: webhooks must be absolute http(s) URLs")
        return value.strip()

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return tuple(parse_networks(value))


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(source)"


def parse_sources(data: Any, origin: str = "<sources>") -> list[Source]:
    """Validate already-loaded YAML data. Raises ConfigError with every problem found."""
    problems: list[str] = []
    if data is None:
        data = {"sources": []}
    if isinstance(data, list):
        data = {"sources": data}
    if not isinstance(data, dict) or "sources" not in data:
        raise ConfigError(
            f"invalid sources file {origin}",
            [f"{origin}: top level must be a mapping with a 'sources' list"],
        )
    unknown = sorted(set(data) - {"sources", "defaults", "webhooks"})
    if unknown:
        problems.append(f"{origin}: unknown top-level key(s): {', '.join(unknown)}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append(f"{origin}: defaults: must be a mapping")
        defaults = {}
    entries = data.get("sources") or []
    if not isinstance(entries, list):
        raise ConfigError(
            f"invalid sources file {origin}", [f"{origin}: sources: must be a list of sources"]
        )

    sources: list[Source] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        label = f"source #{index + 1}"
        if not isinstance(entry, dict):
            problems.append(f"{origin}: {label}: must be a mapping with at least id and url")
            continue
        raw_id = entry.get("id")
        if isinstance(raw_id, str):
            label = f"source {raw_id!r}"
            # Checked on the raw id, so a duplicate is reported even when the entry has errors.
            if raw_id in seen:
                problems.append(f"{origin}: {label}: id: duplicate of source #{seen[raw_id] + 1}")
            else:
                seen[raw_id] = index
            if raw_id == ALL_FEED:
                problems.append(f"{origin}: {label}: id: 'all' is reserved for the combined feed")
        try:
            source = Source(**{**defaults, **entry})
        except ValidationError as exc:
            for err in exc.errors():
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{origin}: {label}: {_field_name(err['loc'])}: {msg}")
            continue
        sources.append(source)
    for source in sources:
        for topic in source.topics:
            if topic in seen or topic == ALL_FEED:
                problems.append(
                    f"{origin}: source {source.id!r}: topics: {topic!r} is also a source id or"
                    " 'all'; feed names must be unique"
                )
    _, webhook_problems = _parse_webhooks(data.get("webhooks"), origin, set(seen))
    problems.extend(webhook_problems)
    if problems:
        raise ConfigError(f"invalid sources file {origin}", problems)
    return sources


def _parse_webhooks(
    entries: Any, origin: str, source_ids: set[str]
) -> tuple[list[Webhook], list[str]]:
    problems: list[str] = []
    webhooks: list[Webhook] = []
    if entries is None:
        return [], []
    if not isinstance(entries, list):
        return [], [f"{origin}: webhooks: must be a list"]
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        label = f"webhook #{index + 1}"
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            label = f"webhook {entry['id']!r}"
        if not isinstance(entry, dict):
            problems.append(f"{origin}: {label}: must be a mapping with id, url and secret")
            continue
        try:
            webhook = Webhook(**entry)
        except ValidationError as exc:
            for err in exc.errors():
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{origin}: {label}: {_field_name(err['loc'])}: {msg}")
            continue
        if webhook.id in seen:
            problems.append(f"{origin}: {label}: id: duplicate webhook id")
        seen.add(webhook.id)
        for source_id in webhook.sources:
            if source_id not in source_ids:
                problems.append(f"{origin}: {label}: sources: unknown source {source_id!r}")
        webhooks.append(webhook)
    return webhooks, problems


def load_webhooks(path: Path | str) -> list[Webhook]:
    """The webhook subscribers of a sources file (validated with the sources)."""
    path = Path(path)
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        return []
    sources = parse_sources(data, str(path))
    webhooks, _ = _parse_webhooks(data.get("webhooks"), str(path), {s.id for s in sources})
    return webhooks


def load_sources(path: Path | str) -> list[Source]:
    """Read and validate a sources YAML file. Raises ConfigError naming file, source and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"sources file not found: {path}",
            [f"{path}: does not exist (set NEWSWIRE_SOURCES to point elsewhere)"],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}", [f"{path}: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML in {path}", [f"{path}: {exc}"]) from None
    return parse_sources(data, str(path))
