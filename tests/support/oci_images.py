"""Pure builders for OCI / Docker image parts: layer tarballs, configs, manifests, indexes.

Nothing here touches the network or the disk; :mod:`tests.support.registry` pushes what these
build. Everything is deterministic (mtime 0, uid/gid 0, sorted JSON keys), so the same input
always gives the same digests.

``make_layer`` entries, keyed by path inside the image (no leading slash):

- ``b"..."``: a regular file, mode 0o644
- ``("file", data, mode)``: a regular file with a mode
- ``("dir",)`` or ``("dir", mode)``: a directory (a key ending in ``/`` is a directory too)
- ``("symlink", target)`` / ``("hardlink", target)``
- ``("whiteout",)``: removes the path from lower layers (written as ``<dir>/.wh.<name>``)
- ``("opaque",)``: the key is a directory whose lower-layer content is hidden
  (written as ``<dir>/.wh..wh..opq``)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime

import zstandard

__all__ = [
    "BuiltImage",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "DOCKER_LAYER_TAR",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_TAR",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "build_image",
    "canonical_json",
    "compress",
    "descriptor",
    "digest_of",
    "make_attestation",
    "make_config",
    "make_index",
    "make_layer",
    "make_manifest",
    "parse_platform",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
IN_TOTO = "application/vnd.in-toto+json"

_LAYER_TYPES = {
    ("oci", "gzip"): OCI_LAYER_GZIP,
    ("oci", "zstd"): OCI_LAYER_ZSTD,
    ("oci", "none"): OCI_LAYER_TAR,
    ("docker", "gzip"): DOCKER_LAYER_GZIP,
    ("docker", "none"): DOCKER_LAYER_TAR,
}


def digest_of(data: bytes) -> str:
    """Return ``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: object) -> bytes:
    """Serialize ``obj`` compactly with sorted keys (stable digests)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def parse_platform(platform: str) -> dict:
    """``"linux/arm64/v8"`` -> ``{"os": "linux", "architecture": "arm64", "variant": "v8"}``."""
    parts = platform.split("/")
    out = {"os": parts[0], "architecture": parts[1] if len(parts) > 1 else ""}
    if len(parts) > 2 and parts[2]:
        out["variant"] = parts[2]
    return out


def _tarinfo(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _add_entry(tar: tarfile.TarFile, path: str, spec: bytes | tuple) -> None:
    path = path.lstrip("/")
    if isinstance(spec, bytes | bytearray):
        spec = ("file", bytes(spec), 0o644)
    kind = spec[0]
    if path.endswith("/") and kind != "opaque":
        spec, kind = ("dir", *spec[1:]) if kind == "dir" else ("dir",), "dir"
    path = path.rstrip("/")
    if kind == "file":
        data = spec[1]
        info = _tarinfo(path, tarfile.REGTYPE, spec[2] if len(spec) > 2 else 0o644)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    elif kind == "dir":
        tar.addfile(_tarinfo(path, tarfile.DIRTYPE, spec[1] if len(spec) > 1 else 0o755))
    elif kind in ("symlink", "hardlink"):
        info = _tarinfo(path, tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE, 0o777)
        info.linkname = spec[1]
        tar.addfile(info)
    elif kind == "whiteout":
        parent, base = posixpath.split(path)
        tar.addfile(_tarinfo(posixpath.join(parent, ".wh." + base), tarfile.REGTYPE, 0o644))
    elif kind == "opaque":
        tar.addfile(_tarinfo(posixpath.join(path, ".wh..wh..opq"), tarfile.REGTYPE, 0o644))
    else:
        raise ValueError(f"unknown layer entry kind {kind!r} for {path!r}")


def make_layer(files: dict[str, bytes | tuple], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """Return uncompressed tar bytes holding ``files`` (see the module docstring), in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for path, spec in files.items():
            _add_entry(tar, path, spec)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    """Compress with ``gzip`` (mtime 0), ``zstd`` or ``none``."""
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


def descriptor(
    media_type: str,
    data: bytes,
    *,
    platform: str | None = None,
    annotations: dict | None = None,
) -> dict:
    """Return an OCI descriptor for ``data``."""
    out: dict = {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}
    if platform:
        out["platform"] = parse_platform(platform)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def make_config(
    layers: list[bytes],
    *,
    platform: str = "linux/amd64",
    created: datetime | None = None,
    extra: dict | None = None,
) -> dict:
    """Return an image config for uncompressed ``layers``; ``extra`` keys override."""
    config: dict = {
        **parse_platform(platform),
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [digest_of(layer) for layer in layers]},
        "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }
    if created is not None:
        config["created"] = _rfc3339(created)
    config.update(extra or {})
    return config


def _rfc3339(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_manifest(
    config: dict, layers: list[dict], *, media: str = "oci", annotations: dict | None = None
) -> dict:
    """Return an image manifest (``media`` ``oci`` or ``docker``) from descriptors."""
    doc: dict = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if media == "oci" else DOCKER_MANIFEST,
        "config": config,
        "layers": layers,
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return doc


def make_index(manifests: list[dict], *, media: str = "oci") -> dict:
    """Return an OCI image index or a Docker manifest list of ``manifests`` descriptors."""
    return {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX if media == "oci" else DOCKER_LIST,
        "manifests": manifests,
    }


@dataclass
class BuiltImage:
    """One image manifest and everything it refers to, ready to push."""

    manifest: bytes
    media_type: str
    config: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)  # digest -> bytes (config + layers)
    layer_digests: list[str] = field(default_factory=list)
    platform: str = ""

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)


def build_image(
    layers: list[bytes],
    *,
    config: dict | None = None,
    platform: str = "linux/amd64",
    media: str = "oci",
    compression: str = "gzip",
    created: datetime | None = None,
    annotations: dict | None = None,
) -> BuiltImage:
    """Build an image from uncompressed tar ``layers``.

    ``config`` replaces the generated config (``rootfs`` and platform keys are filled in when
    missing). Raises ValueError for a combination Docker v2 can't express (Docker + zstd).
    """
    try:
        layer_type = _LAYER_TYPES[(media, compression)]
    except KeyError:
        raise ValueError(f"no layer media type for media={media!r} compression={compression!r}")
    cfg = make_config(layers, platform=platform, created=created)
    if config is not None:
        cfg = {**{k: v for k, v in cfg.items() if k in ("rootfs", "os", "architecture")}, **config}
    config_raw = canonical_json(cfg)
    blobs = {digest_of(config_raw): config_raw}
    layer_descs = []
    for layer in layers:
        blob = compress(layer, compression)
        blobs[digest_of(blob)] = blob
        layer_descs.append(descriptor(layer_type, blob))
    config_type = OCI_CONFIG if media == "oci" else DOCKER_CONFIG
    doc = make_manifest(
        descriptor(config_type, config_raw), layer_descs, media=media, annotations=annotations
    )
    return BuiltImage(
        manifest=canonical_json(doc),
        media_type=doc["mediaType"],
        config=config_raw,
        blobs=blobs,
        layer_digests=[d["digest"] for d in layer_descs],
        platform=platform,
    )


def make_attestation(subject_digest: str) -> BuiltImage:
    """Build a BuildKit-style attestation manifest for ``subject_digest``.

    BuildKit puts it in the index with platform ``unknown/unknown`` and the annotations
    ``vnd.docker.reference.type: attestation-manifest`` and ``vnd.docker.reference.digest``.
    """
    statement = canonical_json(
        {"_type": "https://in-toto.io/Statement/v0.1", "subject": [{"digest": subject_digest}]}
    )
    config_raw = canonical_json({"architecture": "unknown", "os": "unknown", "rootfs": {}})
    layer = descriptor(
        IN_TOTO,
        statement,
        annotations={"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
    )
    doc = make_manifest(descriptor(OCI_CONFIG, config_raw), [layer])
    return BuiltImage(
        manifest=canonical_json(doc),
        media_type=OCI_MANIFEST,
        config=config_raw,
        blobs={digest_of(config_raw): config_raw, digest_of(statement): statement},
        layer_digests=[layer["digest"]],
        platform="unknown/unknown",
    )
