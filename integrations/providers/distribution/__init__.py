"""The one OCI Distribution API client: auth, manifests, blobs (all registry pulls go here).

No Django imports: everything it needs comes in a :class:`~..base.PullAuth` and keyword arguments.

- :mod:`.auth`: the ``WWW-Authenticate`` challenge, Basic, Bearer tokens cached per scope.
- :mod:`.transport`: timeouts, explicit ``verify=``, retries with backoff and ``Retry-After``,
  redirects without ``Authorization`` on other hosts, the outbound guard, the concurrency cap.
- :mod:`.manifests`: media types, the value types, parsing, index and platform resolution.
- :mod:`.blobs`: streamed blobs, digest-checked while read, resumed with ``Range``.
- :mod:`.errors`: failures turned into ProviderErrors a person can act on.
- :mod:`.client`: :class:`DistributionClient`, which wires them together.

Import from this package; the module split is an implementation detail.
"""

from __future__ import annotations

from ..retry import MAX_RETRY_AFTER, backoff_delay, parse_retry_after
from .auth import parse_challenge
from .client import MAX_CONFIG_BYTES, DistributionClient
from .manifests import (
    ACCEPT_MANIFESTS,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    IMAGE_CONFIG_TYPES,
    IMAGE_TYPES,
    INDEX_TYPES,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    SCHEMA1,
    Descriptor,
    DigestMismatch,
    Manifest,
    PlatformImage,
    Resolved,
    UnsupportedMediaType,
    platform_matches,
)
from .transport import MAX_REDIRECTS

__all__ = [
    "ACCEPT_MANIFESTS",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "IMAGE_CONFIG_TYPES",
    "IMAGE_TYPES",
    "INDEX_TYPES",
    "MAX_CONFIG_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_REDIRECTS",
    "MAX_RETRY_AFTER",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "SCHEMA1",
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
    "platform_matches",
]
