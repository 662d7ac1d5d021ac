"""When to retry: ``Retry-After`` parsing and exponential backoff with jitter.

Shared by the OCI Distribution client (:mod:`.distribution`) and the vendors' REST helper
(:mod:`._rest`) so both read ``Retry-After`` the same way and back off alike.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["MAX_RETRY_AFTER", "backoff_delay", "parse_retry_after"]

MAX_RETRY_AFTER = 60.0  # seconds: longer waits are reported (as transient) instead of slept


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date), else None.

    A date in the past gives 0.0; an absent or unreadable value (including the non-RFC 9110
    forms "1.5" or "-3") gives None, so the caller falls back to its backoff."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # RFC 9110: an HTTP date is always GMT
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(
    attempt: int,
    base: float,
    retry_after: float | None = None,
    *,
    cap: float = 30.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    ``Retry-After`` wins when given; otherwise ``min(cap, base * 2**attempt)`` with "equal
    jitter": a random value between half of it and all of it, so clients spread out."""
    if retry_after is not None:
        return max(0.0, retry_after)
    ceiling = min(cap, base * (2**attempt))
    return ceiling / 2 + rand() * ceiling / 2
