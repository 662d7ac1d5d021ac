"""Manifests: media types, the value types, parsing and checks, and index/platform resolution.

Everything here is pure except :func:`resolve`, which fetches child manifests and configs
through the client it is given.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..base import ProviderError, UnknownReference

if TYPE_CHECKING:
    from .client import DistributionClient

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
_DIGEST = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]{64,128})$")
_HASHES = {"sha256": 64, "sha384": 96, "sha512": 128}


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


# --- Digests and parsing -----------------------------------------------------------------------


def split_digest(digest: str) -> tuple[str, str]:
    """``"sha256:ab.."`` -> ``("sha256", "ab..")``; raises a permanent ProviderError otherwise."""
    match = _DIGEST.match(digest or "")
    if not match or len(match.group(2)) != _HASHES[match.group(1)]:
        raise ProviderError(f"{digest!r} is not a digest this client can verify", permanent=True)
    return match.group(1), match.group(2)


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_manifest_digest(repository: str, reference: str, raw: bytes, header: str) -> str:
    """The digest of ``raw``; raises DigestMismatch when it differs from ``reference`` (when a
    digest) or else from the ``Docker-Content-Digest`` ``header`` (when it uses that hash)."""
    algorithm = split_digest(reference)[0] if is_digest(reference) else "sha256"
    digest = f"{algorithm}:{hashlib.new(algorithm, raw).hexdigest()}"
    expected = reference if is_digest(reference) else ""
    if not expected and header.startswith(algorithm + ":"):
        expected = header
    if expected and digest != expected:
        raise DigestMismatch(
            f"manifest {repository}@{expected} does not match its digest (the registry "
            f"sent content hashing to {digest})"
        )
    return digest


def json_object(raw: bytes | bytearray, what: str) -> dict:
    """``raw`` parsed as a JSON object; raises a permanent ProviderError "<what> is malformed"."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"{what} is malformed (not a JSON object)", permanent=True)
    return data


def media_type_of(content_type: str | None, data: dict) -> str:
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


def platform_text(platform: dict | None) -> str:
    """``{"os": "linux", "architecture": "arm64", "variant": "v8"}`` -> ``"linux/arm64/v8"``."""
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


def parse_descriptor(value: object, where: str) -> Descriptor:
    """A Descriptor from a manifest's JSON; raises a permanent ProviderError when malformed."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("mediaType"), str)
        or not isinstance(value.get("digest"), str)
        or not isinstance(value.get("size"), int)
        or value["size"] < 0
    ):
        raise ProviderError(f"{where} is malformed (a bad descriptor)", permanent=True)
    try:
        split_digest(value["digest"])
    except ProviderError:
        raise ProviderError(f"{where} is malformed (a bad digest)", permanent=True) from None
    return Descriptor(
        value["mediaType"], value["digest"], value["size"], platform_text(value.get("platform"))
    )


def check_image_type(manifest: Manifest, where: str) -> None:
    """Raise UnsupportedMediaType unless ``manifest`` is a container image this client scans."""
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


def skip_reason(entry: dict, child: Descriptor, platform: str | None) -> str:
    """Why an index entry is not scanned ("" when it is)."""
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


# --- Resolution --------------------------------------------------------------------------------


def resolve(
    client: DistributionClient, repository: str, reference: str, platform: str | None = None
) -> Resolved:
    """See :meth:`DistributionClient.resolve`."""
    top = client.get_manifest(repository, reference)
    where = f"{repository}:{reference}"
    if top.media_type in INDEX_TYPES:
        images, skipped = _resolve_index(client, repository, top, platform)
    else:
        check_image_type(top, where)
        image = _platform_image(client, repository, top, "")
        images, skipped = [image], []
        if platform and not platform_matches(platform, image.platform):
            images, skipped = [], [(image.platform, f"not the requested platform {platform}")]
    if platform and not images:
        available = ", ".join(p for p, _ in skipped) or "none"
        raise UnknownReference(
            f"{where} has no image for platform {platform} (available: {available})"
        )
    return Resolved(top.digest, top.media_type, tuple(images), tuple(skipped))


def _resolve_index(
    client: DistributionClient, repository: str, index: Manifest, platform: str | None
) -> tuple[list[PlatformImage], list[tuple[str, str]]]:
    images, skipped = [], []
    entries = index.data.get("manifests")
    if not isinstance(entries, list):
        raise ProviderError(
            f"index {repository}@{index.digest} is malformed (no manifests list)",
            permanent=True,
        )
    for entry in entries:
        child = parse_descriptor(entry, f"index {repository}@{index.digest}")
        reason = skip_reason(entry, child, platform)
        if reason:
            skipped.append((child.platform or child.digest, reason))
            continue
        manifest = client.get_manifest(repository, child.digest)
        try:
            check_image_type(manifest, f"{repository}@{child.digest}")
        except UnsupportedMediaType as exc:
            skipped.append((child.platform or child.digest, exc.message))
            continue
        images.append(_platform_image(client, repository, manifest, child.platform, index.digest))
    return images, skipped


def _platform_image(
    client: DistributionClient,
    repository: str,
    manifest: Manifest,
    platform: str,
    index_digest: str = "",
) -> PlatformImage:
    where = f"manifest {repository}@{manifest.digest}"
    config = parse_descriptor(manifest.data.get("config"), where)
    layers = manifest.data.get("layers")
    if not isinstance(layers, list):
        raise ProviderError(f"{where} is malformed (no layers list)", permanent=True)
    if not platform:
        data = client.get_config(repository, config.digest)
        platform = platform_text(
            {k: data.get(k) for k in ("os", "architecture", "variant") if data.get(k)}
        )
    return PlatformImage(
        digest=manifest.digest,
        media_type=manifest.media_type,
        platform=platform,
        config=config,
        layers=tuple(parse_descriptor(layer, where) for layer in layers),
        index_digest=index_digest,
    )
