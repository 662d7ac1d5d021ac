"""Blob downloads: streamed, hashed while read (DigestMismatch at the end), resumed with
``Range`` after a broken connection."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable

import requests
import urllib3

from ..base import ProviderError
from ..retry import backoff_delay
from .manifests import DigestMismatch, split_digest
from .transport import Transport

log = logging.getLogger(__name__)

# Worth a resume: the connection broke off or stalled while the body came in.
_READ_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)


class BlobReader(io.RawIOBase):
    """A blob download that hashes as it reads and resumes with ``Range`` after a reset.

    ``fetch(headers)`` sends the GET (with the extra ``headers``, or None) and returns a
    streamed 200 or 206 response, raising ProviderError for any other status."""

    def __init__(
        self,
        transport: Transport,
        fetch: Callable[[dict | None], requests.Response],
        repository: str,
        digest: str,
    ) -> None:
        super().__init__()
        self._transport = transport
        self._fetch = fetch
        self._repository = repository
        self._digest = digest
        algorithm, _ = split_digest(digest)
        self._hash = hashlib.new(algorithm)
        self._algorithm = algorithm
        self._offset = 0
        self._length: int | None = None
        self._done = False
        self._resp = self._open()

    def readable(self) -> bool:
        return True

    def _open(self) -> requests.Response:
        resp = self._fetch({"Range": f"bytes={self._offset}-"} if self._offset else None)
        skip, start = self._offset, 0
        if resp.status_code == 206:
            if not resp.headers.get("Content-Range", "").startswith(f"bytes {self._offset}-"):
                resp.close()
                raise ProviderError(
                    f"{self._transport.host} answered a resumed download with another range"
                )
            skip, start = 0, self._offset
        if resp.headers.get("Content-Length", "").isdigit():
            self._length = start + int(resp.headers["Content-Length"])
        while skip:  # the server ignored Range: read past what we already have
            chunk = resp.raw.read(min(skip, 1 << 20), decode_content=False)
            if not chunk:
                break
            self._transport.downloaded(len(chunk))
            skip -= len(chunk)
        return resp

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
        self._transport.downloaded(n)
        return n

    def _resume(self, attempt: int, exc: BaseException) -> int:
        self._resp.close()
        transport = self._transport
        if attempt >= transport.retries:
            raise transport.network_error(exc) from None
        delay = backoff_delay(attempt, transport.backoff)
        log.info(
            "blob %s from %s broke off after %d bytes (%s); resuming in %.1f s",
            self._digest[:19], transport.host, self._offset, type(exc).__name__, delay,
        )  # fmt: skip
        transport.sleep(delay)
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
