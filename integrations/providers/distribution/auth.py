"""Registry auth: the ``WWW-Authenticate`` challenge, Basic, and Bearer tokens from the token
service (``realm``/``service``/``scope``), cached per scope until shortly before they expire.

After the first challenge credentials are sent up front; a 401 later (an expired or revoked
token mid-scan) re-authenticates once and the request is retried (see :mod:`.transport`).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from ..base import ProviderError, PullAuth
from ..retry import backoff_delay, parse_retry_after

if TYPE_CHECKING:
    from .transport import Transport


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse ``WWW-Authenticate``: ``'Bearer realm="x",scope="a b"'`` -> ``("bearer", {...})``.

    Returns ``("", {})`` for an empty header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        key.lower(): quoted if quoted or not bare else bare
        for key, quoted, bare in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]*))', rest)
    }
    return scheme.lower(), params


def auth_failed_text(auth: PullAuth, host: str) -> str:
    """What to tell a person whose credentials ``host`` refused (or who gave none)."""
    if not auth.username and not auth.bearer:
        return f"{host} requires credentials: give a username and password/token"
    return f"authentication failed for {host}: check the username and password/token"


@dataclass
class _Token:
    value: str
    expires: float  # time.monotonic() deadline


class TokenAuth:
    """The ``Authorization`` header for each request of one client, learnt from challenges.

    A PullAuth with a ``bearer`` token sends it as is and never re-authenticates."""

    def __init__(self, auth: PullAuth, transport: Transport) -> None:
        self.auth = auth
        self._transport = transport
        self._lock = threading.Lock()
        self._scheme = "bearer" if auth.bearer else ""
        self._challenge: dict[str, str] = {}
        self.tokens: dict[str, _Token] = {}  # the cache, by scope; never rebound
        self._token_locks: dict[str, threading.Lock] = {}

    def header(self, scope: str) -> dict[str, str]:
        """The headers that authenticate a request needing ``scope`` (``{}`` before a challenge).

        May fetch a token; raises ProviderError when the token service fails."""
        if self.auth.bearer:
            return {"Authorization": "Bearer " + self.auth.bearer.reveal()}
        if self._scheme == "basic":
            return {"Authorization": self._basic()}
        if self._scheme == "bearer":
            token = self._token(scope)
            return {"Authorization": "Bearer " + token} if token else {}
        return {}

    def reauthenticate(self, resp: requests.Response, scope: str) -> bool:
        """Learn from a 401 challenge; True when a retry with new credentials makes sense."""
        if self.auth.bearer:
            return False
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.auth.username or self._scheme == "basic":
                return False
            self._scheme = "basic"
            return True
        if scheme == "bearer" and params.get("realm"):
            with self._lock:
                self._scheme, self._challenge = "bearer", params
                self.tokens.pop(scope, None)
            return self._token(scope, challenge_scope=params.get("scope", "")) is not None
        return False

    def _basic(self) -> str:
        pair = f"{self.auth.username}:{self.auth.password.reveal()}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _token(self, scope: str, challenge_scope: str = "") -> str | None:
        """A token for ``scope`` from the cache or the token service; None without a realm."""
        with self._lock:
            scope_lock = self._token_locks.setdefault(scope, threading.Lock())
        with scope_lock:  # threads needing the same scope wait for one token request
            with self._lock:
                cached = self.tokens.get(scope)
                params = dict(self._challenge)
            if cached and cached.expires > time.monotonic():
                return cached.value
            if not params.get("realm"):
                return None
            token = self._fetch_token(params, challenge_scope or scope)
            with self._lock:
                self.tokens[scope] = token
            return token.value

    def _fetch_token(self, params: dict[str, str], scope: str) -> _Token:
        """Ask the token service, retrying connection errors, 429 and 5xx like any request."""
        query = {"service": params.get("service", "")} if params.get("service") else {}
        if scope:
            query["scope"] = scope
        headers = {"Authorization": self._basic()} if self.auth.username else {}
        realm = params["realm"]
        transport = self._transport
        transport.guard(realm)
        for attempt in range(transport.retries + 1):
            transport.count("auth")
            try:
                resp = transport.session.get(
                    realm, params=query, headers=headers, timeout=transport.timeout,
                    verify=self.auth.verify,
                )  # fmt: skip
            except requests.exceptions.SSLError as exc:
                raise transport.tls_error(urlsplit(realm).netloc, exc) from None
            except transport.SEND_ERRORS as exc:
                if attempt >= transport.retries:
                    raise transport.network_error(exc, urlsplit(realm).netloc) from None
                transport.sleep(backoff_delay(attempt, transport.backoff))
                continue
            if (resp.status_code == 429 or resp.status_code >= 500) and attempt < transport.retries:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                transport.sleep(backoff_delay(attempt, transport.backoff, wait))
                continue
            return self._parse_token(resp)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse_token(self, resp: requests.Response) -> _Token:
        host = self._transport.host
        if resp.status_code in (401, 403):
            raise ProviderError(auth_failed_text(self.auth, host), permanent=True)
        if resp.status_code != 200:
            raise ProviderError(
                f"the token service of {host} answered {resp.status_code}",
                permanent=resp.status_code < 500 and resp.status_code != 429,
            )
        data = self._transport.json(resp, "token answer")
        value = data.get("token") or data.get("access_token")
        if not isinstance(value, str) or not value:
            raise ProviderError(f"the token service of {host} sent no token", permanent=True)
        try:
            lifetime = float(data.get("expires_in") or 60)
        except (TypeError, ValueError):
            lifetime = 60.0
        lifetime = max(lifetime, 10.0)
        # Refresh a little early so a token does not expire between check and use.
        return _Token(value, time.monotonic() + lifetime - min(30.0, lifetime / 5))
