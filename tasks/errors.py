"""Typed errors. Every failure carries a stable ``reason`` code (PRODUCT.md §11).

The tree tells the caller what to do next: a ``transient`` error is retried with backoff,
anything else is recorded on the source's health and not hammered.
"""

from __future__ import annotations

REASONS = frozenset(
    {
        "timeout",
        "connect",
        "http_status",
        "too_large",
        "decompression_limit",
        "too_many_redirects",
        "blocked_address",
        "bad_scheme",
        "robots_disallowed",
        "rate_limited",
        "not_html",
        "encoding",
        "too_deep",
        "empty_body",
        "no_links",
        "no_content",
        "config",
        # Not a property of the page or the server: a crash in newswire itself (a bug), or work
        # dead-lettered after repeated crashes. Always logged with a traceback.
        "internal",
    }
)


class NewswireError(Exception):
    """Base of all expected failures: a message, a reason code, and where it happened."""

    transient: bool = False

    def __init__(
        self,
        message: str,
        reason: str,
        source_id: str | None = None,
        url: str | None = None,
    ) -> None:
        # All arguments go to super().__init__ so the error survives pickling (Celery, billiard).
        super().__init__(message, reason, source_id, url)
        self.message = message
        self.reason = reason
        self.source_id = source_id
        self.url = url

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                f"source={self.source_id}" if self.source_id else "",
                f"url={self.url}" if self.url else "",
            )
            if part
        )
        return f"[{self.reason}] {self.message}" + (f" ({where})" if where else "")

    def to_dict(self) -> dict[str, str | None]:
        return {
            "reason": self.reason,
            "message": self.message,
            "source_id": self.source_id,
            "url": self.url,
        }


class FetchError(NewswireError):
    """A request failed. ``status`` is the HTTP status where there was one."""

    def __init__(
        self,
        message: str,
        reason: str,
        source_id: str | None = None,
        url: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, reason, source_id, url)
        self.args = (message, reason, source_id, url, status, retry_after)
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:  # type: ignore[override]
        if self.reason in {"timeout", "connect", "rate_limited"}:
            return True
        return (
            self.reason == "http_status"
            and self.status is not None
            and (self.status >= 500 or self.status in (408, 429))
        )


class ParseError(NewswireError):
    """A page was fetched but yields nothing usable (no_content, no_links, empty_body, ...)."""


class ConfigError(NewswireError):
    """Configuration is invalid. ``problems`` lists every one of them, each a full sentence."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message, "config")
        self.args = (message, problems)
        self.problems = problems or []

    def __str__(self) -> str:
        return "\n".join([self.message, *(f"  - {p}" for p in self.problems)])
