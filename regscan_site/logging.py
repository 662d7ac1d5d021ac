"""Log formatting that never prints secrets.

``RedactSecretsFilter`` masks values registered with :func:`register_secret` (decrypted
credentials register themselves) and anything shaped like a credential in a URL, header or
``key=value`` pair, so a secret that slips into a message or exception text is still masked.
"""

from __future__ import annotations

import json
import logging
import re
import threading

__all__ = ["JsonLinesFormatter", "RedactSecretsFilter", "redact", "register_secret"]

_known: set[str] = set()
_lock = threading.Lock()
_PATTERNS = [
    # user:password@ in URLs
    (re.compile(r"(?P<pre>://[^/\s:@]+:)[^@\s/]+(?P<post>@)"), r"\g<pre>***\g<post>"),
    # Authorization headers and bearer tokens
    (
        re.compile(r"(?i)(?P<pre>authorization['\"]?\s*[:=]\s*['\"]?(basic|bearer)\s+)[^\s'\",}]+"),
        r"\g<pre>***",
    ),
    (re.compile(r"(?i)(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\g<pre>***"),
    # password=..., secret: ..., token=..., api_key=...
    (
        re.compile(
            r"(?i)(?P<pre>\b(password|passwd|secret|token|api[_-]?key|access[_-]?key)"
            r"['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"
        ),
        r"\g<pre>***",
    ),
]


def register_secret(value: str | None) -> None:
    """Remember a secret value (at least 4 characters) so that logs mask it wherever it shows."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """Return ``text`` with known secrets and credential-shaped substrings replaced by ``***``."""
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            doc["exception"] = record.exc_text
        elif record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)
