"""A small JSON-over-HTTPS client for the vendors' listing APIs (Docker Hub, Artifactory, ACR).

Registry pulls go through :mod:`integrations.providers.distribution`; this module only serves the
providers' own REST calls. It retries connection errors, timeouts, 429 and 5xx with exponential
backoff and jitter, honouring ``Retry-After`` (both timed by :mod:`.retry`, as in the Distribution
client); every other status is returned for the provider to describe (each provider knows which
permission a 403 means).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from .base import ProviderError
from .retry import MAX_RETRY_AFTER, backoff_delay, parse_retry_after

__all__ = ["RestApi", "retry_after_seconds", "verify_for"]

RETRY_STATUSES = {429, 500, 502, 503, 504}
# The older name of :func:`.retry.parse_retry_after`, kept for importers of this module.
retry_after_seconds = parse_retry_after


def verify_for(config: Any) -> bool | str:
    """``requests``-style TLS verification for a ProviderConfig: CA bundle path, True or False."""
    if config.insecure:
        return False
    return config.ca_bundle or True


class RestApi:
    """One ``requests.Session`` (the seam tests swap) plus retries and timeouts.

    ``service`` names the vendor API in messages ("Docker Hub API")."""

    def __init__(
        self,
        service: str,
        *,
        timeout: float,
        verify: bool | str,
        max_attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.service = service
        self.session = requests.Session()
        self.timeout = timeout
        self.verify = verify
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep: Callable[[float], None] = time.sleep
        self.last_response: requests.Response | None = None

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send a request; return the response of any status that is not worth retrying.

        Raises a transient ProviderError when retries run out (429, 5xx, timeouts, connection
        errors) or when a ``Retry-After`` asks for more than ``MAX_RETRY_AFTER`` seconds."""
        # verify= goes on every request: REQUESTS_CA_BUNDLE would override Session.verify.
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("verify", self.verify)
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.session.request(method, url, **kwargs)
            except requests.Timeout:
                problem, wait = f"{self.service} did not answer within {self.timeout:g} s", None
            except requests.ConnectionError as exc:
                problem, wait = f"cannot connect to {self.service}: {_reason(exc)}", None
            else:
                self.last_response = response
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"{self.service} answered HTTP {response.status_code}"
                wait = parse_retry_after(response.headers.get("Retry-After"))
                response.close()
                if wait is not None and wait > MAX_RETRY_AFTER:
                    raise ProviderError(
                        f"{problem} and asks to wait {wait:.0f} s (rate limit); will retry later."
                    )
            if attempt == self.max_attempts:
                break
            self.sleep(backoff_delay(attempt - 1, self.backoff, wait))
        raise ProviderError(f"{problem} (tried {self.max_attempts} times); will retry later.")


def _reason(exc: requests.ConnectionError) -> str:
    """A short cause for a connection error, without the URL's query string."""
    text = str(exc.args[0] if exc.args else exc)
    for marker in ("Connection refused", "Name or service not known", "certificate verify failed"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
