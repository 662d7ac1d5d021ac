"""The one OCI Distribution API client: auth, manifests, blobs (all registry pulls go here).

No Django imports: everything it needs comes in a :class:`~.base.PullAuth` and keyword arguments.

- Auth follows the ``WWW-Authenticate`` challenge: Basic, or Bearer through the token service
  (``realm``/``service``/``scope``; tokens cached per scope until shortly before they expire).
  After the first challenge credentials are sent up front; a 401 later (an expired or revoked
  token mid-scan) re-authenticates once and retries.
- Every request has a timeout and passes ``verify=`` explicitly, because ``REQUESTS_CA_BUNDLE``
  would otherwise override a per-registry CA bundle (psf/requests#3829).
- Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter,
  honouring ``Retry-After``; the ``sleep`` seam lets tests skip the waiting.
- Redirects are followed by hand so that ``Authorization`` is never sent to another host
  (storage back-ends such as S3 or Azure blob get pre-signed URLs) and so that every hop passes
  the outbound guard (:mod:`.netguard`).
- Blobs are streamed; their digest is checked while streaming and a broken connection resumes
  with a ``Range`` request.
- ``max_concurrency`` caps concurrent operations per client (re-entrant within one thread, so
  reading a blob while fetching something else in the same thread cannot deadlock).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import email.utils
import hashlib
import io
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from . import netguard
from .base import ProviderError, PullAuth

log = logging.getLogger(__name__)

__all__ = [
    "ACCEPT_MANIFESTS",
    "DigestMismatch",
    "Descriptor",
    "DistributionClient",
    "Manifest",
    "PlatformImage",
    "Resolved",
    "UnsupportedMediaType",
    "backoff_delay",
    "parse_challenge",
    "parse_retry_after",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
IMAGE_CONFIG_TYPES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)
ACCEPT_MANIFESTS = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 60.0  # longer waits are reported instead of slept through
_DIGEST = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]{64,128})$")
_HASHES = {"sha256": 64, "sha384": 96, "sha512": 128}
_REDIRECTS = (301, 302, 303, 307, 308)
# Worth a retry: the connection failed, stalled, or broke off while the body came in.
_SEND_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
_READ_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)


class UnsupportedMediaType(ProviderError):
    """A manifest this client can't scan (schema 1, an artifact, an unknown type); permanent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class DigestMismatch(ProviderError):
    """Content that does not hash to its digest; permanent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: str = ""  # "os/arch[/variant]"


@dataclass(frozen=True)
class Manifest:
    media_type: str
    digest: str
    raw: bytes
    data: dict


@dataclass(frozen=True)
class PlatformImage:
    digest: str
    media_type: str
    platform: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    index_digest: str = ""


@dataclass(frozen=True)
class Resolved:
    digest: str
    media_type: str
    images: tuple[PlatformImage, ...]
    skipped: tuple[tuple[str, str], ...]  # (platform or digest, reason)


# --- Pure helpers ------------------------------------------------------------------------------


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse ``WWW-Authenticate``: ``'Bearer realm="x",scope="a b"'`` -> ``("bearer", {...})``.

    Returns ``("", {})`` for an empty header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        key.lower(): quoted if quoted or not bare else bare
        for key, quoted, bare in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]*))', rest)
    }
    return scheme.lower(), params


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date), else None."""
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
        when = when.replace(tzinfo=UTC)
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


def _split_digest(digest: str) -> tuple[str, str]:
    match = _DIGEST.match(digest or "")
    if not match or len(match.group(2)) != _HASHES[match.group(1)]:
        raise ProviderError(f"{digest!r} is not a digest this client can verify", permanent=True)
    return match.group(1), match.group(2)


def _is_digest(reference: str) -> bool:
    return ":" in reference


def _media_type(content_type: str | None, data: dict) -> str:
    """The manifest's media type: the header unless generic, else the body, else its shape."""
    header = (content_type or "").split(";", 1)[0].strip()
    if header and header not in ("application/json", "application/octet-stream", "text/plain"):
        return header
    if isinstance(data.get("mediaType"), str):
        return data["mediaType"]
    if data.get("schemaVersion") == 1:
        return SCHEMA1[1]
    if "manifests" in data:
        return OCI_INDEX
    if "config" in data and "layers" in data:
        return OCI_MANIFEST
    return header or "unknown"


def _platform_text(platform: dict | None) -> str:
    if not isinstance(platform, dict):
        return ""
    parts = [str(platform.get("os", "")), str(platform.get("architecture", ""))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def platform_matches(wanted: str, have: str) -> bool:
    """``linux/arm64`` matches ``linux/arm64/v8``; a variant given must be equal."""
    w, h = wanted.split("/"), have.split("/")
    return w[:2] == h[:2] and (len(w) < 3 or (len(h) > 2 and w[2] == h[2]))


@dataclass
class _Token:
    value: str
    expires: float  # time.monotonic() deadline


# --- The client --------------------------------------------------------------------------------


class DistributionClient:
    """A client of one registry's Distribution API (see the module docstring).

    Errors are :class:`ProviderError` with a message a person can act on; ``permanent`` ones
    (auth, permission, not found, bad content) should not be retried by the caller."""

    def __init__(
        self,
        auth: PullAuth,
        *,
        timeout: float = 30.0,
        max_concurrency: int = 4,
        allowed_networks: tuple[str, ...] = (),
        retries: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.auth = auth
        base = auth.base_url.strip().rstrip("/")
        if "://" not in base:
            base = "https://" + base
        self._name_prefix = ""
        if auth.path_prefix.startswith("/"):
            base += auth.path_prefix.rstrip("/")  # a URL path in front of /v2/
        else:
            self._name_prefix = auth.path_prefix.strip("/")  # a repository-name prefix
        self._base = base
        parts = urlsplit(base)
        self.host = parts.netloc
        self._origin = (parts.scheme, parts.netloc)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.allowed_networks = tuple(allowed_networks)
        self._sleep = sleep
        self._session = session or requests.Session()
        self._session.mount(
            parts.scheme + "://",
            requests.adapters.HTTPAdapter(pool_maxsize=max(10, max_concurrency)),
        )
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self._held = threading.local()
        self._lock = threading.Lock()
        self._scheme = "bearer" if auth.bearer else ""
        self._challenge: dict[str, str] = {}
        self._tokens: dict[str, _Token] = {}
        self._token_locks: dict[str, threading.Lock] = {}
        self._guarded: set[tuple[str, int | None]] = set()
        self._configs: dict[str, dict] = {}
        self.stats: collections.Counter = collections.Counter()
        self.bytes_downloaded = 0

    # Public API -------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check the registry answers ``GET /v2/`` with these credentials; raise ProviderError."""
        with self._slot():
            resp = self._send("GET", self._url("/v2/"), kind="ping", scope="")
            resp.close()
        if resp.status_code == 404:
            raise ProviderError(
                f"no registry API at {self._base}/v2/ (404): check the registry URL",
                permanent=True,
            )
        if resp.status_code != 200:
            raise self._error(resp, "ping")

    def catalog(self, page_size: int = 100) -> Iterator[str]:
        """Yield every repository name from ``/v2/_catalog`` (following ``Link`` pages)."""
        url = self._url(f"/v2/_catalog?n={page_size}")
        for data in self._pages(url, kind="catalog", scope="registry:catalog:*"):
            for name in data.get("repositories") or []:
                yield self._strip_prefix(name)

    def list_tags(self, repository: str) -> Iterator[str]:
        """Yield every tag of ``repository`` (following ``Link`` pages)."""
        url = self._url(f"/v2/{self._name(repository)}/tags/list")
        for data in self._pages(url, kind="tags", scope=self._pull(repository), repo=repository):
            yield from data.get("tags") or []

    def head_manifest(self, repository: str, reference: str) -> Descriptor:
        """Digest, media type and size of a manifest from a HEAD (no pull counted).

        Falls back to a GET when the registry sends no ``Docker-Content-Digest``."""
        with self._slot():
            resp = self._send(
                "HEAD",
                self._manifest_url(repository, reference),
                kind="head",
                scope=self._pull(repository),
                headers={"Accept": ACCEPT_MANIFESTS},
            )
            resp.close()
        if resp.status_code == 405:  # a registry without HEAD on manifests: GET instead
            manifest = self.get_manifest(repository, reference)
            return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
        if resp.status_code != 200:
            raise self._error(resp, "manifest", repository, reference)
        digest = resp.headers.get("Docker-Content-Digest", "")
        if not digest:
            manifest = self.get_manifest(repository, reference)
            return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
        media_type = (resp.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        return Descriptor(media_type, digest, int(resp.headers.get("Content-Length") or 0))

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """Fetch and parse a manifest; its digest is checked when ``reference`` is a digest
        (and against ``Docker-Content-Digest``). Raises DigestMismatch, or ProviderError for
        malformed JSON."""
        for attempt in range(self.retries + 1):
            with self._slot():
                resp = self._send(
                    "GET",
                    self._manifest_url(repository, reference),
                    kind="manifest",
                    scope=self._pull(repository),
                    headers={"Accept": ACCEPT_MANIFESTS},
                    stream=True,
                )
                with contextlib.closing(resp):
                    if resp.status_code != 200:
                        raise self._error(resp, "manifest", repository, reference)
                    try:
                        raw = self._read_small(resp, MAX_MANIFEST_BYTES, f"manifest {repository}")
                        break
                    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                        if attempt >= self.retries:
                            raise self._network_error(exc) from None
                        why = f"{type(exc).__name__} reading the body"
            self._retry_wait("GET", resp.url, why, attempt, None)
        digest = self._check_manifest_digest(repository, reference, raw, resp)
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(
                f"manifest {repository}:{reference} is malformed (not a JSON object)",
                permanent=True,
            )
        return Manifest(_media_type(resp.headers.get("Content-Type"), data), digest, raw, data)

    def resolve(self, repository: str, reference: str, platform: str | None = None) -> Resolved:
        """Resolve a tag or digest to the platform images to scan.

        An index gives one image per platform; attestation manifests, ``unknown/unknown``
        entries, nested indexes, unsupported children and (with ``platform``) other platforms
        land in ``skipped`` with a reason. Raises UnsupportedMediaType for schema 1, artifacts
        and unknown types at the top, and ProviderError when ``platform`` matches nothing."""
        top = self.get_manifest(repository, reference)
        where = f"{repository}:{reference}"
        if top.media_type in INDEX_TYPES:
            images, skipped = self._resolve_index(repository, top, platform)
        else:
            self._check_image_type(top, where)
            image = self._platform_image(repository, top, "")
            images, skipped = [image], []
            if platform and not platform_matches(platform, image.platform):
                images, skipped = [], [(image.platform, f"not the requested platform {platform}")]
        if platform and not images:
            available = ", ".join(p for p, _ in skipped) or "none"
            raise ProviderError(
                f"{where} has no image for platform {platform} (available: {available})",
                permanent=True,
            )
        return Resolved(top.digest, top.media_type, tuple(images), tuple(skipped))

    def get_config(self, repository: str, digest: str) -> dict:
        """The image config blob, digest-verified and parsed (cached per digest)."""
        if digest in self._configs:
            return self._configs[digest]
        raw = bytearray()
        with self.open_blob(repository, digest) as blob:
            while len(raw) <= MAX_CONFIG_BYTES and (chunk := blob.read(1 << 16)):
                raw += chunk
        if len(raw) > MAX_CONFIG_BYTES:
            raise ProviderError(f"config {digest} in {repository} is too large", permanent=True)
        try:
            config = json.loads(raw)
        except ValueError:
            config = None
        if not isinstance(config, dict):
            raise ProviderError(
                f"image config {digest} in {repository} is malformed (not a JSON object)",
                permanent=True,
            )
        with self._lock:
            if len(self._configs) > 256:
                self._configs.clear()
            self._configs[digest] = config
        return config

    @contextlib.contextmanager
    def open_blob(self, repository: str, digest: str) -> Iterator[BinaryIO]:
        """Stream a blob. The sha256/sha512 is checked while reading: DigestMismatch at EOF.

        Leaving the ``with`` block normally reads any unread rest first, so the digest is
        always verified even when the consumer stops early (tar padding); leaving it by an
        exception just closes the connection."""
        _split_digest(digest)
        with self._slot():
            reader = _BlobReader(self, repository, digest)
            try:
                yield reader  # type: ignore[misc]
                reader.drain()
            finally:
                reader.close()

    # Requests ---------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._base + path

    def _name(self, repository: str) -> str:
        repository = repository.strip("/")
        return f"{self._name_prefix}/{repository}" if self._name_prefix else repository

    def _strip_prefix(self, name: str) -> str:
        prefix = self._name_prefix + "/" if self._name_prefix else ""
        return name[len(prefix) :] if prefix and name.startswith(prefix) else name

    def _pull(self, repository: str) -> str:
        return f"repository:{self._name(repository)}:pull"

    def _manifest_url(self, repository: str, reference: str) -> str:
        return self._url(f"/v2/{self._name(repository)}/manifests/{reference}")

    def _blob_url(self, repository: str, digest: str) -> str:
        return self._url(f"/v2/{self._name(repository)}/blobs/{digest}")

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
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

    def _count(self, kind: str) -> None:
        with self._lock:
            self.stats[kind] += 1

    def _send(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        scope: str,
        headers: dict | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send with auth, retries and redirects; return the final response (any status).

        Raises ProviderError for TLS failures, the outbound guard, and connection errors or
        timeouts that outlast the retries."""
        attempt, reauthed = 0, False
        while True:
            sent = {**(headers or {}), **self._auth_header(scope)}
            try:
                resp = self._follow(method, url, sent, kind=kind, stream=stream)
            except requests.exceptions.SSLError:
                raise self._tls_error() from None
            except _SEND_ERRORS as exc:
                if attempt >= self.retries:
                    raise self._network_error(exc) from None
                self._retry_wait(method, url, type(exc).__name__, attempt, None)
                attempt += 1
                continue
            except requests.RequestException as exc:
                raise ProviderError(
                    f"cannot send a request to {self.host} ({type(exc).__name__}): check the "
                    "registry URL",
                    permanent=True,
                ) from None
            if resp.status_code == 401 and not reauthed and self._reauthenticate(resp, scope):
                reauthed = True
                resp.close()
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                if attempt >= self.retries or (wait or 0) > MAX_RETRY_AFTER:
                    return resp
                resp.close()
                self._retry_wait(method, url, str(resp.status_code), attempt, wait)
                attempt += 1
                continue
            return resp

    def _retry_wait(
        self, method: str, url: str, why: str, attempt: int, retry_after: float | None
    ) -> None:
        delay = backoff_delay(attempt, self.backoff, retry_after)
        # The path only: a query string may hold a pre-signed storage signature.
        log.info(
            "%s %s%s: %s, retry %d/%d in %.1f s",
            method, self.host, urlsplit(url).path, why, attempt + 1, self.retries, delay,
        )  # fmt: skip
        self._sleep(delay)

    def _follow(
        self, method: str, url: str, headers: dict, *, kind: str, stream: bool
    ) -> requests.Response:
        """One request, following redirects by hand: ``Authorization`` stays on this host."""
        for _hop in range(MAX_REDIRECTS + 1):
            self._guard(url)
            self._count(kind)
            resp = self._session.request(
                method,
                url,
                headers=headers,
                stream=stream,
                timeout=self.timeout,
                verify=self.auth.verify,
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

    def _guard(self, url: str) -> None:
        parts = urlsplit(url)
        key = (parts.hostname or "", parts.port)
        if key in self._guarded:
            return
        netguard.check_url(url, self.allowed_networks)
        with self._lock:
            self._guarded.add(key)

    def _pages(self, url: str, *, kind: str, scope: str, repo: str = "") -> Iterator[dict]:
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            with self._slot():
                resp = self._send("GET", url, kind=kind, scope=scope)
            if resp.status_code != 200:
                raise self._error(resp, kind, repo)
            yield self._json(resp, f"{kind} of {repo or self.host}")
            next_url = resp.links.get("next", {}).get("url")
            url = urljoin(url, next_url) if next_url else ""

    def _json(self, resp: requests.Response, what: str) -> dict:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError(f"{self.host} sent a malformed {what} (not JSON)", permanent=True)
        return data

    @staticmethod
    def _read_small(resp: requests.Response, limit: int, what: str) -> bytes:
        """The whole body, refusing more than ``limit`` bytes; read errors propagate."""
        buf = bytearray()
        for chunk in resp.iter_content(65536):
            buf += chunk
            if len(buf) > limit:
                raise ProviderError(f"{what} is larger than {limit} bytes", permanent=True)
        return bytes(buf)

    def _check_manifest_digest(
        self, repository: str, reference: str, raw: bytes, resp: requests.Response
    ) -> str:
        algorithm = _split_digest(reference)[0] if _is_digest(reference) else "sha256"
        digest = f"{algorithm}:{hashlib.new(algorithm, raw).hexdigest()}"
        expected = reference if _is_digest(reference) else ""
        header = resp.headers.get("Docker-Content-Digest", "")
        if not expected and header.startswith(algorithm + ":"):
            expected = header
        if expected and digest != expected:
            raise DigestMismatch(
                f"manifest {repository}@{expected} does not match its digest (the registry "
                f"sent content hashing to {digest})"
            )
        return digest

    # Auth -------------------------------------------------------------------------------------

    def _auth_header(self, scope: str) -> dict[str, str]:
        if self.auth.bearer:
            return {"Authorization": "Bearer " + self.auth.bearer.reveal()}
        if self._scheme == "basic":
            pair = f"{self.auth.username}:{self.auth.password.reveal()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if self._scheme == "bearer":
            token = self._token(scope)
            return {"Authorization": "Bearer " + token} if token else {}
        return {}

    def _reauthenticate(self, resp: requests.Response, scope: str) -> bool:
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
                self._tokens.pop(scope, None)
            return self._token(scope, challenge_scope=params.get("scope", "")) is not None
        return False

    def _token(self, scope: str, challenge_scope: str = "") -> str | None:
        """A token for ``scope`` from the cache or the token service; None without a realm."""
        with self._lock:
            scope_lock = self._token_locks.setdefault(scope, threading.Lock())
        with scope_lock:  # threads needing the same scope wait for one token request
            with self._lock:
                cached = self._tokens.get(scope)
                params = dict(self._challenge)
            if cached and cached.expires > time.monotonic():
                return cached.value
            if not params.get("realm"):
                return None
            token = self._fetch_token(params, challenge_scope or scope)
            with self._lock:
                self._tokens[scope] = token
            return token.value

    def _fetch_token(self, params: dict[str, str], scope: str) -> _Token:
        query = {"service": params.get("service", "")} if params.get("service") else {}
        if scope:
            query["scope"] = scope
        headers = {}
        if self.auth.username:
            pair = f"{self.auth.username}:{self.auth.password.reveal()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        realm = params["realm"]
        self._guard(realm)
        for attempt in range(self.retries + 1):
            self._count("auth")
            try:
                resp = self._session.get(
                    realm, params=query, headers=headers, timeout=self.timeout,
                    verify=self.auth.verify,
                )  # fmt: skip
            except requests.exceptions.SSLError:
                raise self._tls_error(urlsplit(realm).netloc) from None
            except _SEND_ERRORS as exc:
                if attempt >= self.retries:
                    raise self._network_error(exc, urlsplit(realm).netloc) from None
                self._sleep(backoff_delay(attempt, self.backoff))
                continue
            if (resp.status_code == 429 or resp.status_code >= 500) and attempt < self.retries:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                self._sleep(backoff_delay(attempt, self.backoff, wait))
                continue
            return self._parse_token(resp)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse_token(self, resp: requests.Response) -> _Token:
        if resp.status_code in (401, 403):
            raise ProviderError(self._auth_failed_text(), permanent=True)
        if resp.status_code != 200:
            raise ProviderError(
                f"the token service of {self.host} answered {resp.status_code}",
                permanent=resp.status_code < 500 and resp.status_code != 429,
            )
        data = self._json(resp, "token answer")
        value = data.get("token") or data.get("access_token")
        if not isinstance(value, str) or not value:
            raise ProviderError(f"the token service of {self.host} sent no token", permanent=True)
        try:
            lifetime = float(data.get("expires_in") or 60)
        except (TypeError, ValueError):
            lifetime = 60.0
        lifetime = max(lifetime, 10.0)
        # Refresh a little early so a token does not expire between check and use.
        return _Token(value, time.monotonic() + lifetime - min(30.0, lifetime / 5))

    # Errors -----------------------------------------------------------------------------------

    def _auth_failed_text(self) -> str:
        if not self.auth.username and not self.auth.bearer:
            return f"{self.host} requires credentials: give a username and password/token"
        return f"authentication failed for {self.host}: check the username and password/token"

    def _tls_error(self, host: str = "") -> ProviderError:
        how = "the CA bundle given" if isinstance(self.auth.verify, str) else "the system CAs"
        return ProviderError(
            f"TLS certificate verification failed for {host or self.host} against {how}: give "
            "the registry's CA bundle (or switch on 'insecure' for a lab registry)",
            permanent=True,
        )

    def _network_error(self, exc: BaseException, host: str = "") -> ProviderError:
        # Never put the exception text in the message: a redirect URL in it may carry a
        # pre-signed storage signature.
        host = host or self.host
        text = type(exc).__name__
        if isinstance(exc, requests.Timeout | TimeoutError) or "Timeout" in text:
            return ProviderError(f"timed out after {self.timeout:g} s waiting for {host}")
        return ProviderError(
            f"cannot connect to {host} ({text}) after {self.retries + 1} attempts: check the "
            "URL, the port and that the registry is running"
        )

    def _error(
        self, resp: requests.Response, what: str, repository: str = "", reference: str = ""
    ) -> ProviderError:
        """Turn a failed response into a ProviderError a person can act on."""
        status = resp.status_code
        codes = self._error_codes(resp)
        _, challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        permission = f"pull permission on repository {repository}" if repository else ""
        if what == "catalog":
            permission = f"permission to list the catalog of {self.host}"
        if status == 401 and (challenge.get("error") == "insufficient_scope" or "DENIED" in codes):
            return ProviderError(
                f"401: the credentials lack {permission or 'access'}"
                + (" (or it does not exist)" if repository else ""),
                permanent=True,
            )
        if status == 401:
            return ProviderError(self._auth_failed_text(), permanent=True)
        if status == 403:
            return ProviderError(
                f"403: the credentials lack {permission or 'access to ' + self.host}",
                permanent=True,
            )
        if status == 404:
            return ProviderError(
                self._not_found_text(what, codes, repository, reference), permanent=True
            )
        if status == 429:
            wait = parse_retry_after(resp.headers.get("Retry-After"))
            after = f"; retry after {wait:g} s" if wait else ""
            return ProviderError(f"{self.host} is rate limiting requests (429){after}")
        if status >= 500:
            return ProviderError(
                f"{self.host} answered {status} {resp.reason or ''} after "
                f"{self.retries + 1} attempts".replace("  ", " ")
            )
        return ProviderError(f"{self.host} answered {status} to the {what} request", permanent=True)

    def _not_found_text(self, what: str, codes: set[str], repository: str, reference: str) -> str:
        if "NAME_UNKNOWN" in codes or what == "tags":
            return f"repository {repository} not found on {self.host}"
        if what == "blob":
            return f"blob {reference} not found in repository {repository} on {self.host}"
        if what == "manifest":
            return (
                f"manifest {repository}:{reference} not found on {self.host} "
                "(no such tag or digest, or no such repository)"
            )
        return f"{what} not found on {self.host}"

    @staticmethod
    def _error_codes(resp: requests.Response) -> set[str]:
        if resp.request is not None and resp.request.method == "HEAD":
            return set()
        try:
            errors = json.loads(resp.content or b"{}").get("errors") or []
            return {str(e.get("code", "")) for e in errors if isinstance(e, dict)}
        except (
            ValueError,
            AttributeError,
            requests.RequestException,
            urllib3.exceptions.HTTPError,
        ):
            return set()

    # Index resolution -------------------------------------------------------------------------

    def _check_image_type(self, manifest: Manifest, where: str) -> None:
        media_type = manifest.media_type
        if media_type in SCHEMA1:
            raise UnsupportedMediaType(
                f"{where} is a Docker schema 1 manifest ({media_type}), which is not "
                "supported: re-push it with a current Docker, buildah or skopeo"
            )
        if media_type not in IMAGE_TYPES:
            raise UnsupportedMediaType(f"{where} has unsupported manifest media type {media_type}")
        config = manifest.data.get("config")
        config_type = config.get("mediaType") if isinstance(config, dict) else None
        if config_type not in IMAGE_CONFIG_TYPES:
            raise UnsupportedMediaType(
                f"{where} is an artifact, not a container image (config media type {config_type})"
            )

    def _resolve_index(
        self, repository: str, index: Manifest, platform: str | None
    ) -> tuple[list[PlatformImage], list[tuple[str, str]]]:
        images, skipped = [], []
        entries = index.data.get("manifests")
        if not isinstance(entries, list):
            raise ProviderError(
                f"index {repository}@{index.digest} is malformed (no manifests list)",
                permanent=True,
            )
        for entry in entries:
            child = self._descriptor(entry, f"index {repository}@{index.digest}")
            reason = self._skip_reason(entry, child, platform)
            if reason:
                skipped.append((child.platform or child.digest, reason))
                continue
            manifest = self.get_manifest(repository, child.digest)
            try:
                self._check_image_type(manifest, f"{repository}@{child.digest}")
            except UnsupportedMediaType as exc:
                skipped.append((child.platform or child.digest, exc.message))
                continue
            images.append(self._platform_image(repository, manifest, child.platform, index.digest))
        return images, skipped

    @staticmethod
    def _skip_reason(entry: dict, child: Descriptor, platform: str | None) -> str:
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            return "attestation manifest, not an image"
        if child.platform.startswith("unknown/unknown"):
            return "platform unknown/unknown (not an image)"
        if child.media_type in INDEX_TYPES:
            return "nested index (not supported)"
        if platform and not platform_matches(platform, child.platform):
            return f"not the requested platform {platform}"
        return ""

    def _platform_image(
        self, repository: str, manifest: Manifest, platform: str, index_digest: str = ""
    ) -> PlatformImage:
        where = f"manifest {repository}@{manifest.digest}"
        config = self._descriptor(manifest.data.get("config"), where)
        layers = manifest.data.get("layers")
        if not isinstance(layers, list):
            raise ProviderError(f"{where} is malformed (no layers list)", permanent=True)
        if not platform:
            data = self.get_config(repository, config.digest)
            platform = _platform_text(
                {k: data.get(k) for k in ("os", "architecture", "variant") if data.get(k)}
            )
        return PlatformImage(
            digest=manifest.digest,
            media_type=manifest.media_type,
            platform=platform,
            config=config,
            layers=tuple(self._descriptor(layer, where) for layer in layers),
            index_digest=index_digest,
        )

    @staticmethod
    def _descriptor(value: object, where: str) -> Descriptor:
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("mediaType"), str)
            or not isinstance(value.get("digest"), str)
            or not isinstance(value.get("size"), int)
            or value["size"] < 0
        ):
            raise ProviderError(f"{where} is malformed (a bad descriptor)", permanent=True)
        try:
            _split_digest(value["digest"])
        except ProviderError:
            raise ProviderError(f"{where} is malformed (a bad digest)", permanent=True) from None
        return Descriptor(
            value["mediaType"],
            value["digest"],
            value["size"],
            _platform_text(value.get("platform")),
        )


class _BlobReader(io.RawIOBase):
    """A blob download that hashes as it reads and resumes with ``Range`` after a reset."""

    def __init__(self, client: DistributionClient, repository: str, digest: str) -> None:
        super().__init__()
        self._client = client
        self._repository = repository
        self._digest = digest
        algorithm, _ = _split_digest(digest)
        self._hash = hashlib.new(algorithm)
        self._algorithm = algorithm
        self._offset = 0
        self._length: int | None = None
        self._done = False
        self._resp = self._open()

    def readable(self) -> bool:
        return True

    def _open(self) -> requests.Response:
        headers = {"Range": f"bytes={self._offset}-"} if self._offset else None
        client = self._client
        resp = client._send(
            "GET",
            client._blob_url(self._repository, self._digest),
            kind="blob",
            scope=client._pull(self._repository),
            headers=headers,
            stream=True,
        )
        if resp.status_code not in (200, 206):
            error = client._error(resp, "blob", self._repository, self._digest)
            resp.close()
            raise error
        skip, start = self._offset, 0
        if resp.status_code == 206:
            if not resp.headers.get("Content-Range", "").startswith(f"bytes {self._offset}-"):
                resp.close()
                raise ProviderError(f"{client.host} answered a resumed download with another range")
            skip, start = 0, self._offset
        if resp.headers.get("Content-Length", "").isdigit():
            self._length = start + int(resp.headers["Content-Length"])
        while skip:  # the server ignored Range: read past what we already have
            chunk = resp.raw.read(min(skip, 1 << 20), decode_content=False)
            if not chunk:
                break
            self._downloaded(len(chunk))
            skip -= len(chunk)
        return resp

    def _downloaded(self, n: int) -> None:
        with self._client._lock:
            self._client.bytes_downloaded += n

    def readinto(self, buffer) -> int:
        if self._done:
            return 0
        attempt = 0
        while True:
            try:
                chunk = self._resp.raw.read(len(buffer), decode_content=False)
            except _READ_ERRORS as exc:
                attempt = self._resume(attempt, exc)
                continue
            if chunk:
                break
            if self._length is not None and self._offset < self._length:
                attempt = self._resume(attempt, ConnectionError("short read"))
                continue
            self._finish()
            return 0
        n = len(chunk)
        buffer[:n] = chunk
        self._hash.update(chunk)
        self._offset += n
        self._downloaded(n)
        return n

    def _resume(self, attempt: int, exc: BaseException) -> int:
        self._resp.close()
        if attempt >= self._client.retries:
            raise self._client._network_error(exc) from None
        delay = backoff_delay(attempt, self._client.backoff)
        log.info(
            "blob %s from %s broke off after %d bytes (%s); resuming in %.1f s",
            self._digest[:19], self._client.host, self._offset, type(exc).__name__, delay,
        )  # fmt: skip
        self._client._sleep(delay)
        self._resp = self._open()
        return attempt + 1

    def _finish(self) -> None:
        self._done = True
        got = f"{self._algorithm}:{self._hash.hexdigest()}"
        if got != self._digest:
            raise DigestMismatch(
                f"blob {self._digest} in {self._repository} does not match its digest (got "
                f"{got}): the download was corrupted or the registry served other content"
            )

    def drain(self) -> None:
        """Read the rest (verifying the digest)."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
        super().close()
