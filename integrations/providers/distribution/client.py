"""DistributionClient: the public calls, wiring auth, transport, manifests and blobs together."""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import BinaryIO
from urllib.parse import urljoin

import requests
import urllib3

from ..base import ProviderError, PullAuth
from . import errors, manifests
from .auth import TokenAuth
from .blobs import BlobReader
from .manifests import (
    ACCEPT_MANIFESTS,
    MAX_MANIFEST_BYTES,
    Descriptor,
    Manifest,
    Resolved,
    check_manifest_digest,
    json_object,
    media_type_of,
    split_digest,
)
from .transport import Transport

MAX_CONFIG_BYTES = 8 * 1024 * 1024


class DistributionClient:
    """A client of one registry's Distribution API (see the package docstring).

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
        self.transport = Transport(
            base, verify=auth.verify, timeout=timeout, max_concurrency=max_concurrency,
            allowed_networks=allowed_networks, retries=retries, backoff=backoff, sleep=sleep,
            session=session,
        )  # fmt: skip
        self.host = self.transport.host
        self._credentials = TokenAuth(auth, self.transport)
        self._tokens = self._credentials.tokens  # the same dict: a test revokes a token in it
        self._lock = threading.Lock()
        self._configs: dict[str, dict] = {}

    @property
    def stats(self) -> collections.Counter:
        """Requests sent, by kind ("ping", "catalog", "manifest", "blob", "auth", ...)."""
        return self.transport.stats

    @property
    def bytes_downloaded(self) -> int:
        """Blob bytes read so far."""
        return self.transport.bytes_downloaded

    # Public API -------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check the registry answers ``GET /v2/`` with these credentials; raise ProviderError."""
        with self.transport.slot():
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
        with self.transport.slot():
            resp = self._send_manifest("HEAD", repository, reference, kind="head")
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
        raw, resp = self._manifest_body(repository, reference)
        header = resp.headers.get("Docker-Content-Digest", "")
        digest = check_manifest_digest(repository, reference, raw, header)
        data = json_object(raw, f"manifest {repository}:{reference}")
        return Manifest(media_type_of(resp.headers.get("Content-Type"), data), digest, raw, data)

    def resolve(self, repository: str, reference: str, platform: str | None = None) -> Resolved:
        """Resolve a tag or digest to the platform images to scan.

        An index gives one image per platform; attestation manifests, ``unknown/unknown``
        entries, nested indexes, unsupported children and (with ``platform``) other platforms
        land in ``skipped`` with a reason. Raises UnsupportedMediaType for schema 1, artifacts
        and unknown types at the top, and ProviderError when ``platform`` matches nothing."""
        return manifests.resolve(self, repository, reference, platform)

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
        config = json_object(raw, f"image config {digest} in {repository}")
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
        split_digest(digest)
        with self.transport.slot():
            fetch = partial(self._get_blob, repository, digest)
            reader = BlobReader(self.transport, fetch, repository, digest)
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

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        """:meth:`Transport.send` with this client's credentials."""
        return self.transport.send(method, url, auth=self._credentials, **kwargs)

    def _send_manifest(
        self, method: str, repository: str, reference: str, **kwargs
    ) -> requests.Response:
        """A manifest request accepting all four manifest media types (see ACCEPT_MANIFESTS)."""
        url = self._url(f"/v2/{self._name(repository)}/manifests/{reference}")
        headers = {"Accept": ACCEPT_MANIFESTS}
        return self._send(method, url, scope=self._pull(repository), headers=headers, **kwargs)

    def _error(
        self, resp: requests.Response, what: str, repository: str = "", reference: str = ""
    ) -> ProviderError:
        return errors.response_error(
            resp, what, host=self.host, auth=self.auth, attempts=self.transport.retries + 1,
            repository=repository, reference=reference,
        )  # fmt: skip

    def _manifest_body(self, repository: str, reference: str) -> tuple[bytes, requests.Response]:
        """The manifest's bytes and the (closed) response; a body that breaks off is retried."""
        transport = self.transport
        for attempt in range(transport.retries + 1):
            with transport.slot():
                resp = self._send_manifest(
                    "GET", repository, reference, kind="manifest", stream=True
                )
                with contextlib.closing(resp):
                    if resp.status_code != 200:
                        raise self._error(resp, "manifest", repository, reference)
                    try:
                        raw = _read_small(resp, MAX_MANIFEST_BYTES, f"manifest {repository}")
                        return raw, resp
                    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                        if attempt >= transport.retries:
                            raise transport.network_error(exc) from None
                        why = f"{type(exc).__name__} reading the body"
            transport.retry_wait("GET", resp.url, why, attempt, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_blob(self, repository: str, digest: str, headers: dict | None) -> requests.Response:
        """A streamed GET of a blob (200 or 206); raises ProviderError for any other status."""
        resp = self._send(
            "GET",
            self._url(f"/v2/{self._name(repository)}/blobs/{digest}"),
            kind="blob",
            scope=self._pull(repository),
            headers=headers,
            stream=True,
        )
        if resp.status_code not in (200, 206):
            error = self._error(resp, "blob", repository, digest)
            resp.close()
            raise error
        return resp

    def _pages(self, url: str, *, kind: str, scope: str, repo: str = "") -> Iterator[dict]:
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            with self.transport.slot():
                resp = self._send("GET", url, kind=kind, scope=scope)
            if resp.status_code != 200:
                raise self._error(resp, kind, repo)
            yield self.transport.json(resp, f"{kind} of {repo or self.host}")
            next_url = resp.links.get("next", {}).get("url")
            url = urljoin(url, next_url) if next_url else ""


def _read_small(resp: requests.Response, limit: int, what: str) -> bytes:
    """The whole body, refusing more than ``limit`` bytes; read errors propagate."""
    buf = bytearray()
    for chunk in resp.iter_content(65536):
        buf += chunk
        if len(buf) > limit:
            raise ProviderError(f"{what} is larger than {limit} bytes", permanent=True)
    return bytes(buf)
