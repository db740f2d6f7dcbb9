"""Process settings (PRODUCT.md §10): ``NEWSWIRE_*``, ``REDIS_URL`` and an optional ``.env``."""

from __future__ import annotations

import ipaddress
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tasks.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def newswire_version() -> str:
    try:
        return version("newswire")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def parse_rate(value: str | float) -> float:
    """'1/s', '30/m', '2' -> requests per second."""
    if isinstance(value, int | float):
        rate = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|m|min|h|hour))?\s*", value)
        if not match:
            raise ValueError(f"{value!r} is not a rate like '1/s' or '30/m'")
        per = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}[match[2] or "s"]
        rate = float(match[1]) / per
    if rate <= 0:
        raise ValueError("rate must be positive")
    return rate


def parse_networks(value: Any) -> list[IPNetwork]:
    """'127.0.0.0/8,::1/128' (or a list) -> networks; a bare address means just that host."""
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    networks: list[IPNetwork] = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
            continue
        text = str(item).strip()
        if text:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                raise ValueError(f"{text!r} is not an IP network ({exc})") from None
    return networks


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSWIRE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "NEWSWIRE_REDIS_URL")
    )
    sources: Path = Path("config/sources.yaml")
    data_dir: Path = Path("var")
    feed_dir: Path | None = None
    public_url: str = "http://localhost:8080"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    user_agent: str | None = None
    fetch_connect_timeout: float = Field(default=5.0, gt=0)
    fetch_read_timeout: float = Field(default=10.0, gt=0)
    fetch_deadline: float = Field(default=30.0, gt=0)
    fetch_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0, le=30)
    host_rate: Annotated[float, NoDecode] = 1.0
    host_concurrency: int = Field(default=2, ge=1)
    allow_networks: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    # Outgoing proxy: none unless set here; *_PROXY variables are ignored unless trust_env is on.
    proxy: str | None = None
    trust_env: bool = False
    default_interval: str = "15m"
    feed_items: int = Field(default=50, ge=1, le=10_000)
    stream_maxlen: int = Field(default=100_000, ge=10)
    retention_days: float = Field(default=90, gt=0)
    websub_hub: str | None = None
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"
    # Every Redis key newswire writes starts with this; tests use their own prefix.
    key_prefix: str = "newswire:"
    stream: str | None = None  # defaults to <key_prefix>events, i.e. newswire:events
    # A task may run this long; the broker redelivers a message not acknowledged within the
    # visibility timeout (a killed worker's tasks come back then), so it must be longer.
    task_time_limit: int = Field(default=300, ge=10)
    visibility_timeout: int = Field(default=1200, ge=15)
    # Webhooks: first retry delay (the schedule 5 s, 30 s, 2 min, ... scales with it) and
    # deliveries queued or running per subscriber.
    webhook_backoff: float = Field(default=5.0, gt=0)
    webhook_max_in_flight: int = Field(default=4, ge=1)
    # Refresh known articles for this long after first seen, to catch edits (0 disables).
    refresh_hours: float = Field(default=48, ge=0)

    @field_validator("host_rate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> float:
        return parse_rate(value)

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> list[IPNetwork]:
        return parse_networks(value)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        # Derived defaults; the model is frozen, so set them through object.__setattr__.
        if self.feed_dir is None:
            object.__setattr__(self, "feed_dir", self.data_dir / "feeds")
        if not self.user_agent:
            object.__setattr__(
                self, "user_agent", f"newswire/{newswire_version()} (+{self.public_url})"
            )
        if not self.stream:
            object.__setattr__(self, "stream", f"{self.key_prefix}events")
        if self.visibility_timeout <= self.task_time_limit:
            raise ValueError(
                "NEWSWIRE_VISIBILITY_TIMEOUT must be longer than NEWSWIRE_TASK_TIME_LIMIT, or"
                " slow tasks are delivered twice"
            )
        return self

    @property
    def feeds_path(self) -> Path:
        assert self.feed_dir is not None
        return self.feed_dir

    @property
    def stream_key(self) -> str:
        assert self.stream is not None
        return self.stream

    @property
    def ua(self) -> str:
        assert self.user_agent is not None
        return self.user_agent

    @property
    def retention_seconds(self) -> int:
        return int(self.retention_days * 86400)


def load_settings(**overrides: Any) -> Settings:
    """Read settings once, at the process edge. Raises ConfigError listing every problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            env = name if name == "REDIS_URL" else f"NEWSWIRE_{name.upper()}"
            problems.append(f"environment: {env}: {err['msg']}")
        raise ConfigError("invalid settings", problems) from None
