"""Failures turned into ProviderErrors a person can act on (never with a secret or a signed URL).

``permanent`` errors (auth, permission, not found, bad TLS) should not be retried by the caller;
429, 5xx, timeouts and connection errors are transient.
"""

from __future__ import annotations

import json

import requests
import urllib3

from ..base import ProviderError, PullAuth, UnknownReference
from ..retry import parse_retry_after
from .auth import auth_failed_text, parse_challenge

# OpenSSL's words when the other end answered the handshake with plain HTTP.
_PLAIN_HTTP = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST")


def tls_error(host: str, verify: bool | str, exc: BaseException | None = None) -> ProviderError:
    """The permanent error for a failed TLS handshake with ``host``: a plain-http server
    (``exc`` says so) or a failed certificate check."""
    # The exception text is only inspected, never shown (see network_error).
    if exc is not None and any(marker in str(exc) for marker in _PLAIN_HTTP):
        return ProviderError(
            f"{host} does not speak TLS (a plain-http registry?): use an http:// URL "
            "(scanimage: --insecure-registry)",
            permanent=True,
        )
    how = "the CA bundle given" if isinstance(verify, str) else "the system CAs"
    return ProviderError(
        f"TLS certificate verification failed for {host} against {how}: give "
        "the registry's CA bundle (or switch on 'insecure' for a lab registry)",
        permanent=True,
    )


def network_error(exc: BaseException, host: str, timeout: float, attempts: int) -> ProviderError:
    """The transient error for a timeout or connection failure that outlasted the retries."""
    # Never put the exception text in the message: a redirect URL in it may carry a
    # pre-signed storage signature.
    text = type(exc).__name__
    if isinstance(exc, requests.Timeout | TimeoutError) or "Timeout" in text:
        return ProviderError(f"timed out after {timeout:g} s waiting for {host}")
    return ProviderError(
        f"cannot connect to {host} ({text}) after {attempts} attempts: check the "
        "URL, the port and that the registry is running"
    )


def response_error(
    resp: requests.Response,
    what: str,
    *,
    host: str,
    auth: PullAuth,
    attempts: int,
    repository: str = "",
    reference: str = "",
) -> ProviderError:
    """Turn a failed response to a ``what`` request ("manifest", "blob", ...) into an error."""
    status = resp.status_code
    codes = _error_codes(resp)
    _, challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
    permission = f"pull permission on repository {repository}" if repository else ""
    if what == "catalog":
        permission = f"permission to list the catalog of {host}"
    if status == 401 and (challenge.get("error") == "insufficient_scope" or "DENIED" in codes):
        return ProviderError(
            f"401: the credentials lack {permission or 'access'}"
            + (" (or it does not exist)" if repository else ""),
            permanent=True,
        )
    if status == 401:
        return ProviderError(auth_failed_text(auth, host), permanent=True)
    if status == 403:
        return ProviderError(
            f"403: the credentials lack {permission or 'access to ' + host}", permanent=True
        )
    if status == 404:
        text = _not_found_text(what, codes, host, repository, reference)
        if what in ("manifest", "tags"):  # a missing blob is a broken image, not a wrong name
            return UnknownReference(text)
        return ProviderError(text, permanent=True)
    if status == 429:
        wait = parse_retry_after(resp.headers.get("Retry-After"))
        after = f"; retry after {wait:g} s" if wait else ""
        return ProviderError(f"{host} is rate limiting requests (429){after}")
    if status >= 500:
        text = f"{host} answered {status} {resp.reason or ''} after {attempts} attempts"
        return ProviderError(text.replace("  ", " "))
    return ProviderError(f"{host} answered {status} to the {what} request", permanent=True)


def _not_found_text(what: str, codes: set[str], host: str, repository: str, reference: str) -> str:
    if "NAME_UNKNOWN" in codes or what == "tags":
        return f"repository {repository} not found on {host}"
    if what == "blob":
        return f"blob {reference} not found in repository {repository} on {host}"
    if what == "manifest":
        return (
            f"manifest {repository}:{reference} not found on {host} "
            "(no such tag or digest, or no such repository)"
        )
    return f"{what} not found on {host}"


def _error_codes(resp: requests.Response) -> set[str]:
    """The ``errors[].code`` values of a Distribution error body (empty for HEAD or non-JSON)."""
    if resp.request is not None and resp.request.method == "HEAD":
        return set()
    try:
        errors = json.loads(resp.content or b"{}").get("errors") or []
        return {str(e.get("code", "")) for e in errors if isinstance(e, dict)}
    except (ValueError, AttributeError, requests.RequestException, urllib3.exceptions.HTTPError):
        return set()
