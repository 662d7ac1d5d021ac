"""Plain factories for SBOMs, images and tags (STYLE.md section 9), and the vulndata path.

Test SBOMs are modelled on real packages: Debian 11 (bullseye) with libssl1.1 built from
openssl 1.1.1n-0+deb11u3, libc6 from glibc, zlib1g from zlib; Alpine 3.11 with libcrypto1.1
from origin openssl; PyPI django; npm lodash.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from integrations.models import Registry
from scans.models import Image, Package, Repository, Sbom, Tag

VULNDATA = Path("/work/shared/vulndata")
_seq = itertools.count(1)


def vulndata(name: str) -> str:
    return str(VULNDATA / name)


def records(name: str) -> dict[str, dict]:
    """The records of one vulndata file, by id (for tests that derive a changed record)."""
    with open(VULNDATA / name) as fh:
        return {r["id"]: r for r in map(json.loads, fh)}


def make_registry(org, name: str = "hub", url: str = "registry.example.com") -> Registry:
    return Registry.objects.create(organization=org, name=name, provider="oci", url=url)


def pkg(
    name: str,
    version: str,
    ecosystem: str,
    source_name: str = "",
    source_version: str = "",
    purl: str = "",
) -> dict:
    if not purl:
        kind = {"deb": "deb/debian", "apk": "apk/alpine"}.get(ecosystem, ecosystem)
        purl = f"pkg:{kind}/{name}@{version}"
    return {
        "name": name,
        "version": version,
        "ecosystem": ecosystem,
        "purl": purl,
        "source_name": source_name,
        "source_version": source_version,
    }


def make_sbom(os_id: str = "", os_version: str = "", packages=(), codename: str = "") -> Sbom:
    sbom = Sbom.objects.create(
        digest=f"sha256:{next(_seq):064x}", os_id=os_id, os_version=os_version, os_codename=codename
    )
    Package.objects.bulk_create(Package(sbom=sbom, **p) for p in packages)
    return sbom


def make_image(registry: Registry, sbom: Sbom, repo: str = "app", tags=("1.0",)) -> Image:
    image = Image.objects.create(registry=registry, digest=sbom.digest, sbom=sbom)
    repository, _ = Repository.objects.get_or_create(registry=registry, name=repo)
    for name in tags:
        tag, _ = Tag.objects.get_or_create(repository=repository, name=name)
        tag.digest = sbom.digest
        tag.save()
        tag.images.add(image)
    return image


# --- Real-package SBOMs ---


def debian11_packages(openssl: str = "1.1.1n-0+deb11u3") -> list[dict]:
    return [
        pkg("libssl1.1", openssl, "deb", "openssl", openssl),
        pkg("openssl", openssl, "deb", "openssl", openssl),
        pkg("libc6", "2.31-13+deb11u5", "deb", "glibc", "2.31-13+deb11u5"),
        pkg("zlib1g", "1:1.2.11.dfsg-2+deb11u2", "deb", "zlib", "1:1.2.11.dfsg-2+deb11u2"),
    ]


def alpine311_packages() -> list[dict]:
    return [
        pkg("libcrypto1.1", "1.1.1d-r2", "apk", "openssl"),
        pkg("libssl1.1", "1.1.1d-r2", "apk", "openssl"),
        pkg("zlib", "1.2.11-r3", "apk", "zlib"),
        pkg("musl", "1.1.24-r0", "apk", "musl"),
    ]
