"""Sending requests to one registry: timeouts, retries, redirects, the outbound guard, slots.

- Every request has a timeout and passes ``verify=`` explicitly, because ``REQUESTS_CA_BUNDLE``
  would otherwise override a per-registry CA bundle (psf/requests#3829).
- Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter,
  honouring ``Retry-After`` (:mod:`..retry`); the ``sleep`` seam lets tests skip the waiting.
- Redirects are followed by hand so that ``Authorization`` is never sent to another host
  (storage back-ends such as S3 or Azure blob get pre-signed URLs) and so that every hop passes
  the outbound guard (:mod:`..netguard`).
- ``max_concurrency`` caps concurrent operations per client (re-entrant within one thread, so
  reading a blob while fetching something else in the same thread cannot deadlock).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import requests

from .. import netguard
from ..base import ProviderError
from ..retry import MAX_RETRY_AFTER, backoff_delay, parse_retry_after
from . import errors

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class Credentials(Protocol):
    """What :meth:`Transport.send` needs from the auth (:class:`.auth.TokenAuth`)."""

    def header(self, scope: str) -> dict[str, str]: ...

    def reauthenticate(self, resp: requests.Response, scope: str) -> bool: ...


class Transport:
    """The ``requests.Session`` of one registry (at ``base_url``) with its policies.

    ``stats`` counts requests by kind ("ping", "manifest", "blob", "auth", ...) and
    ``bytes_downloaded`` the blob bytes read."""

    # Worth a retry: the connection failed, stalled, or broke off while the body came in.
    SEND_ERRORS = (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    )

    def __init__(
        self,
        base_url: str,
        *,
        verify: bool | str,
        timeout: float,
        max_concurrency: int,
        allowed_networks: tuple[str, ...],
        retries: int,
        backoff: float,
        sleep: Callable[[float], None],
        session: requests.Session | None,
    ) -> None:
        parts = urlsplit(base_url)
        self.host = parts.netloc
        self._origin = (parts.scheme, parts.netloc)
        self.verify = verify
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.allowed_networks = tuple(allowed_networks)
        self.sleep = sleep
        self.session = session or requests.Session()
        self.session.mount(
            parts.scheme + "://",
            requests.adapters.HTTPAdapter(pool_maxsize=max(10, max_concurrency)),
        )
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self._held = threading.local()
        self._lock = threading.Lock()
        self._guarded: set[tuple[str, int | None]] = set()
        self.stats: collections.Counter = collections.Counter()
        self.bytes_downloaded = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """One of ``max_concurrency`` slots; nested use in one thread takes no second slot."""
        depth = getattr(self._held, "depth", 0)
        if depth == 0:
            self._slots.acquire()
        self._held.depth = depth + 1
        try:
            yield
        finally:
            self._held.depth = depth
            if depth == 0:
                self._slots.release()

    def count(self, kind: str) -> None:
        with self._lock:
            self.stats[kind] += 1

    def downloaded(self, n: int) -> None:
        with self._lock:
            self.bytes_downloaded += n

    def send(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        scope: str,
        auth: Credentials,
        headers: dict | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send with auth, retries and redirects; return the final response (any status).

        Raises ProviderError for TLS failures, the outbound guard, and connection errors or
        timeouts that outlast the retries."""
        attempt, reauthed = 0, False
        while True:
            sent = {**(headers or {}), **auth.header(scope)}
            try:
                resp = self._follow(method, url, sent, kind=kind, stream=stream)
            except requests.exceptions.SSLError as exc:
                raise self.tls_error(exc=exc) from None
            except self.SEND_ERRORS as exc:
                if attempt >= self.retries:
                    raise self.network_error(exc) from None
                self.retry_wait(method, url, type(exc).__name__, attempt, None)
                attempt += 1
                continue
            except requests.RequestException as exc:
                raise ProviderError(
                    f"cannot send a request to {self.host} ({type(exc).__name__}): check the "
                    "registry URL",
                    permanent=True,
                ) from None
            if resp.status_code == 401 and not reauthed and auth.reauthenticate(resp, scope):
                reauthed = True
                resp.close()
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                if attempt >= self.retries or (wait or 0) > MAX_RETRY_AFTER:
                    return resp
                resp.close()
                self.retry_wait(method, url, str(resp.status_code), attempt, wait)
                attempt += 1
                continue
            return resp

    def retry_wait(
        self, method: str, url: str, why: str, attempt: int, retry_after: float | None
    ) -> None:
        """Log the retry (the URL's path only) and sleep its backoff."""
        delay = backoff_delay(attempt, self.backoff, retry_after)
        # The path only: a query string may hold a pre-signed storage signature.
        log.info(
            "%s %s%s: %s, retry %d/%d in %.1f s",
            method, self.host, urlsplit(url).path, why, attempt + 1, self.retries, delay,
        )  # fmt: skip
        self.sleep(delay)

    def _follow(
        self, method: str, url: str, headers: dict, *, kind: str, stream: bool
    ) -> requests.Response:
        """One request, following redirects by hand: ``Authorization`` stays on this host."""
        for _hop in range(MAX_REDIRECTS + 1):
            self.guard(url)
            self.count(kind)
            resp = self.session.request(
                method,
                url,
                headers=headers,
                stream=stream,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
            )
            if resp.status_code not in _REDIRECTS or "Location" not in resp.headers:
                return resp
            resp.close()
            url = urljoin(url, resp.headers["Location"])
            if (urlsplit(url).scheme, urlsplit(url).netloc) != self._origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if resp.status_code == 303 and method != "HEAD":
                method = "GET"
        raise ProviderError(f"too many redirects from {self.host}", permanent=True)

    def guard(self, url: str) -> None:
        """Apply the outbound guard to ``url``'s host (once per host and port)."""
        parts = urlsplit(url)
        key = (parts.hostname or "", parts.port)
        if key in self._guarded:
            return
        netguard.check_url(url, self.allowed_networks)
        with self._lock:
            self._guarded.add(key)

    def json(self, resp: requests.Response, what: str) -> dict:
        """The response's JSON object; raises a permanent ProviderError when it is not one."""
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(f"{self.host} sent a malformed {what} (not JSON)", permanent=True)
        return data

    def tls_error(self, host: str = "", exc: BaseException | None = None) -> ProviderError:
        return errors.tls_error(host or self.host, self.verify, exc)

    def network_error(self, exc: BaseException, host: str = "") -> ProviderError:
        return errors.network_error(exc, host or self.host, self.timeout, self.retries + 1)
