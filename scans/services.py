"""ORM <-> scan engine glue: pull layers through a DistributionClient, analyze each layer digest
once (cached in ``Layer``), keep one ``Sbom`` per manifest digest, and record images.

Idempotent and safe for concurrent workers: layers and SBOMs are keyed by digest under unique
constraints, so two workers scanning images that share a layer (or the same image) at once
both finish with the same single row. A layer that is not cached yet is claimed first (see
``_claim``): the other worker waits for the claimer's result instead of downloading it again,
and takes the claim over if the claimer fails or dies.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from typing import BinaryIO

import requests
import urllib3
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Organization
from integrations.crypto import Secret
from integrations.models import Registry, RegistryAccess
from integrations.providers import netguard
from integrations.providers.base import ProviderError, PullAuth
from integrations.providers.distribution import Descriptor, DistributionClient, PlatformImage

from .engine.analyzers import analyzer_versions
from .engine.pipeline import analyze_layer, build_inventory
from .engine.types import Inventory, LayerResult, Limits, ScanError
from .engine.unpack import Budget
from .models import Image, Layer, Package, Repository, Sbom, Tag
from .references import Reference, parse_reference

__all__ = [
    "ImageResult",
    "ScanError",
    "client_for_reference",
    "default_limits",
    "limits",
    "parse_reference",
    "scan_image",
    "scan_reference",
    "scan_registry_reference",
]

log = logging.getLogger(__name__)

# Layers that registries may not serve (Windows base layers): skipped, with a warning.
_FOREIGN_MARKERS = ("foreign", "nondistributable")


def default_limits() -> Limits:
    """The engine's caps from settings (REGSCAN_MAX_*)."""
    mb = 1 << 20
    return Limits(
        max_layer_bytes=settings.REGSCAN_MAX_LAYER_MB * mb,
        max_image_bytes=settings.REGSCAN_MAX_IMAGE_MB * mb,
        max_file_bytes=settings.REGSCAN_MAX_FILE_MB * mb,
        max_entries=settings.REGSCAN_MAX_TAR_ENTRIES,
    )


limits = default_limits  # the name the orchestration calls


# --- One platform image ------------------------------------------------------------------------


def scan_image(
    client: DistributionClient, repository: str, platform_image: PlatformImage, *, limits: Limits
) -> Sbom:
    """Return the Sbom of ``platform_image``, building it if needed.

    An Sbom made by the current analyzer versions is reused without any pull. Otherwise each
    layer is taken from the Layer cache or streamed once through the engine. Raises ScanError
    (hostile or broken image) or ProviderError (registry trouble); nothing is stored then."""
    versions = analyzer_versions()
    existing = Sbom.objects.filter(digest=platform_image.digest).first()
    if existing is not None and existing.analyzer_versions == versions:
        return existing
    budget = Budget(limits.max_image_bytes)
    results, warnings = [], []
    for layer in platform_image.layers:
        if any(marker in layer.media_type for marker in _FOREIGN_MARKERS):
            warnings.append(f"Layer {layer.digest} is a foreign layer and was not scanned.")
            continue
        results.append(_layer_result(client, repository, layer, limits, budget, versions))
    inventory = build_inventory(results)
    inventory.warnings[:0] = warnings
    return _save_sbom(platform_image, inventory, versions)


def _layer_result(
    client: DistributionClient,
    repository: str,
    layer: Descriptor,
    limits: Limits,
    budget: Budget,
    versions: dict[str, int],
) -> LayerResult:
    """The analysis of one layer: from the cache when its analyzer versions match, else streamed.

    Only the worker holding the layer's claim streams it; another one polls (autocommit reads,
    no transaction held) until the result is stored, or takes the claim over once it is
    released (the claimer failed) or stale (the claimer died)."""
    owner = _claim_owner()
    while True:
        row = Layer.objects.filter(digest=layer.digest).first()
        if _is_result(row, versions):
            return LayerResult.from_dict(layer.digest, row.result)
        if _claim(layer, row, owner):
            break
        if row is not None:  # someone else's fresh claim: wait for its result
            _pause()
    try:
        row = Layer.objects.filter(digest=layer.digest).first()
        if _is_result(row, versions):  # stored between our read and our claim
            _release(layer.digest, owner)
            return LayerResult.from_dict(layer.digest, row.result)
        result = _stream_layer(client, repository, layer, limits, budget, owner)
    except BaseException:
        _release(layer.digest, owner)
        raise
    Layer.objects.update_or_create(
        digest=layer.digest,
        defaults={
            "size": layer.size,
            "media_type": layer.media_type,
            "analyzer_versions": versions,
            "result": result.to_dict(),
            "claimed_by": "",
            "claimed_at": None,
        },
    )
    return result


def _stream_layer(
    client: DistributionClient,
    repository: str,
    layer: Descriptor,
    limits: Limits,
    budget: Budget,
    owner: str,
) -> LayerResult:
    """Stream and analyze one layer, refreshing our claim as the blob is read."""
    try:
        with client.open_blob(repository, layer.digest) as stream:
            beating = _Heartbeat(stream, layer.digest, owner, claim_seconds() / 4)
            return analyze_layer(layer.digest, beating, limits=limits, budget=budget)
    except ScanError as e:
        raise ScanError(f"Layer {layer.digest}: {e}") from None


# Layer claims: "being analyzed by X since T", so two workers never download one layer twice.

_CLAIM_POLL_SECONDS = 0.25


def claim_seconds() -> float:
    """After how long without a sign of life a layer claim is stale and may be taken over:
    REGSCAN_LAYER_CLAIM_SECONDS, by default three request timeouts (a claimer refreshes its
    claim at least every quarter of this while it reads, and each read is bounded by the
    request timeout)."""
    configured = getattr(settings, "REGSCAN_LAYER_CLAIM_SECONDS", None)
    return float(configured or 3 * settings.REGSCAN_REQUEST_TIMEOUT)


def _claim_owner() -> str:
    """Who claims: host, process and thread, plus a nonce so a reused thread id never matches."""
    ident = f"{socket.gethostname()[:120]}:{os.getpid()}:{threading.get_ident()}"
    return f"{ident}:{uuid.uuid4().hex[:8]}"


def _is_result(row: Layer | None, versions: dict[str, int]) -> bool:
    """Whether ``row`` holds a finished analysis by the current analyzers (a bare claim row has
    no analyzer versions, so it never counts)."""
    return row is not None and bool(row.analyzer_versions) and row.analyzer_versions == versions


def _claim(layer: Descriptor, row: Layer | None, owner: str) -> bool:
    """Claim ``layer`` for ``owner``; False when another worker holds a fresh claim.

    Race-free: a new row is created under the unique digest (IntegrityError: someone else won),
    an existing one is taken by a conditional UPDATE only when unclaimed or stale."""
    now = timezone.now()
    if row is None:
        try:
            with transaction.atomic():
                Layer.objects.create(
                    digest=layer.digest,
                    size=layer.size,
                    media_type=layer.media_type,
                    claimed_by=owner,
                    claimed_at=now,
                )
        except IntegrityError:
            return False
        return True
    stale = now - timedelta(seconds=claim_seconds())
    free = Q(claimed_by="") | Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale)
    taken = Layer.objects.filter(Q(pk=row.pk) & free).update(claimed_by=owner, claimed_at=now)
    if taken and row.claimed_by:
        log.warning("Took over the stale claim on layer %s from %s", layer.digest, row.claimed_by)
    return bool(taken)


def _release(digest: str, owner: str) -> None:
    """Drop ``owner``'s claim on ``digest`` (a waiting worker then analyzes the layer itself)."""
    Layer.objects.filter(digest=digest, claimed_by=owner).update(claimed_by="", claimed_at=None)


def _pause() -> None:
    """Wait a moment before polling a claimed layer again."""
    time.sleep(_CLAIM_POLL_SECONDS)


class _Heartbeat:
    """A blob stream that refreshes its reader's layer claim every ``interval`` seconds of
    reading, so a slow but live download is never taken for a dead one."""

    def __init__(self, stream: BinaryIO, digest: str, owner: str, interval: float) -> None:
        self._stream = stream
        self._digest = digest
        self._owner = owner
        self._interval = interval
        self._last = time.monotonic()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if time.monotonic() - self._last >= self._interval:
            self._last = time.monotonic()
            Layer.objects.filter(digest=self._digest, claimed_by=self._owner).update(
                claimed_at=timezone.now()
            )
        return data


def _save_sbom(platform_image: PlatformImage, inventory: Inventory, versions: dict) -> Sbom:
    """Store the inventory as the Sbom of the manifest digest (replacing a stale one)."""
    os = inventory.os
    fields = {
        "os_id": os.id[:50] if os else "",
        "os_version": os.version_id[:50] if os else "",
        "os_codename": os.codename[:50] if os else "",
        "os_name": (os.pretty_name or os.name)[:200] if os else "",
        "layer_digests": [layer.digest for layer in platform_image.layers],
        "analyzer_versions": versions,
        "warnings": inventory.warnings,
    }
    with transaction.atomic():
        sbom, created = Sbom.objects.get_or_create(digest=platform_image.digest, defaults=fields)
        if not created:
            sbom = Sbom.objects.select_for_update().get(pk=sbom.pk)
            if sbom.analyzer_versions == versions:
                return sbom  # another worker stored it meanwhile
            Sbom.objects.filter(pk=sbom.pk).update(**fields)
            sbom.refresh_from_db()
            sbom.packages.all().delete()
        Package.objects.bulk_create(
            [_package_row(sbom, p) for p in inventory.packages], batch_size=500
        )
    return sbom


def _package_row(sbom: Sbom, package) -> Package:
    return Package(
        sbom=sbom,
        name=package.name[:300],
        version=package.version[:200],
        ecosystem=package.ecosystem,
        purl=package.purl[:1000],
        source_name=package.source_name[:300],
        source_version=package.source_version[:200],
        arch=package.arch[:50],
        layer_digest=package.layer_digest,
        path=package.path[:1000],
    )


# --- Images of a registry ------------------------------------------------------------------------


def record_image(
    client: DistributionClient,
    registry: Registry,
    repository: str,
    platform_image: PlatformImage,
    sbom: Sbom,
) -> Image:
    """Create or update the Image row of ``platform_image`` in ``registry`` and link its Sbom."""
    image, _ = Image.objects.get_or_create(
        registry=registry,
        digest=platform_image.digest,
        defaults={"media_type": platform_image.media_type, "platform": platform_image.platform},
    )
    image.index_digest = platform_image.index_digest or image.index_digest
    image.media_type = platform_image.media_type
    image.platform = platform_image.platform
    image.sbom = sbom
    image.last_scanned = timezone.now()
    image.config_created = image.config_created or _config_created(
        client, repository, platform_image
    )
    image.save()
    return image


def _config_created(client: DistributionClient, repository: str, image: PlatformImage):
    try:
        created = client.get_config(repository, image.config.digest).get("created")
    except ProviderError as e:
        log.warning("No config for %s: %s", image.digest, e)
        return None
    return parse_datetime(created) if isinstance(created, str) else None


def scan_registry_reference(
    client: DistributionClient,
    registry: Registry,
    repository: str,
    reference: str,
    *,
    limits: Limits,
    platform: str | None = None,
) -> list[Image]:
    """Scan every platform image of ``repository:reference`` (a tag or digest) in ``registry``.

    Returns the Image rows (SBOMs linked); tags are the caller's business. Raises ProviderError
    or ScanError on the first platform that fails."""
    resolved = client.resolve(repository, reference, platform)
    images = []
    for platform_image in resolved.images:
        sbom = scan_image(client, repository, platform_image, limits=limits)
        images.append(record_image(client, registry, repository, platform_image, sbom))
    return images


# --- Single references (scanimage, Kubernetes discovery) -----------------------------------------


@dataclass
class ImageResult:
    """The outcome of one platform of a scanned reference: ``image`` is None when it failed."""

    reference: Reference
    digest: str
    platform: str
    image: Image | None = None
    error: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)


def scan_reference(
    org: Organization,
    reference: str,
    *,
    username: str = "",
    password: str | Secret | None = None,
    ca_bundle: str = "",
    insecure: bool = False,
    platform: str | None = None,
    access: str = RegistryAccess.PUBLIC_MANUAL,
    discovered_via: str = "scanimage",
    limits: Limits | None = None,
) -> list[ImageResult]:
    """Scan one image reference for ``org``: every platform of an index unless ``platform``.

    When ``org`` has a Private integration covering the registry and no ``username`` is
    given, pulls with the integration's credentials and records the images under it; else
    records the registry occurrence (``access``). Then the Repository, Tag and Image rows, the
    SBOMs, and the findings.
    A platform that fails gets an ImageResult with ``error`` (the others still run). Raises
    ValueError for a bad reference, ProviderError when the registry can't be used at all."""
    from integrations.occurrences import find_integration, record_registry_occurrence

    ref = parse_reference(reference)
    integration = None if username else find_integration(org, ref.registry)
    if integration is not None:
        # The org connected this registry: pull with the integration's own credentials.
        from integrations.services import provider_for

        client = provider_for(integration).distribution()
    else:
        client = client_for_reference(
            ref, username=username, password=password, ca_bundle=ca_bundle, insecure=insecure
        )
    resolved = client.resolve(ref.repository, ref.ref, platform)
    registry = integration or record_registry_occurrence(org, ref.registry, access, discovered_via)
    repository, _ = Repository.objects.get_or_create(registry=registry, name=ref.repository)
    Repository.objects.filter(pk=repository.pk).update(last_seen=timezone.now())
    results = [
        _scan_platform(client, registry, ref, pi, limits or default_limits())
        for pi in resolved.images
    ]
    if ref.tag:
        _record_tag(repository, ref.tag, resolved.digest, [r.image for r in results if r.image])
    if results:
        results[0].skipped = list(resolved.skipped)
    return results


def _scan_platform(
    client: DistributionClient,
    registry: Registry,
    ref: Reference,
    platform_image: PlatformImage,
    scan_limits: Limits,
) -> ImageResult:
    result = ImageResult(ref, platform_image.digest, platform_image.platform)
    try:
        sbom = scan_image(client, ref.repository, platform_image, limits=scan_limits)
    except (ScanError, ProviderError) as e:
        result.error = str(e)
        return result
    result.image = record_image(client, registry, ref.repository, platform_image, sbom)
    sync_findings(result.image)
    return result


def _record_tag(repository: Repository, name: str, digest: str, images: list[Image]) -> None:
    tag, _ = Tag.objects.get_or_create(repository=repository, name=name)
    now = timezone.now()
    Tag.objects.filter(pk=tag.pk).update(digest=digest, scanned_digest=digest, last_scanned=now)
    if images:
        tag.images.add(*images)


# --- Vulnerability database ---------------------------------------------------------------------


def sync_findings(image: Image) -> None:
    """Create/resolve ``image``'s Finding rows from its SBOM (scans.vulndb)."""
    from scans.vulndb import api

    api.sync_findings(image)


def findings_for(image: Image, image_ref: str) -> tuple[list[dict], list[str]]:
    """The finding objects (DESIGN.md CLI keys) of ``image`` named ``image_ref``, and the
    coverage warnings (data sets with no data, so "no findings" means "unknown")."""
    if image.sbom is None:
        return [], []
    from scans.vulndb import api

    matches = api.match_sbom(image.sbom)
    return [m.as_dict(image_ref, image.digest) for m in matches], list(matches.coverage_warnings)


def vulnerability_data_as_of():
    """When vulnerability data was last imported (None: never, so findings are unknown)."""
    from scans.vulndb import api

    return api.data_as_of()


# --- Clients ------------------------------------------------------------------------------------


def client_for_reference(
    ref: Reference,
    *,
    username: str = "",
    password: str | Secret | None = None,
    ca_bundle: str = "",
    insecure: bool = False,
) -> DistributionClient:
    """A DistributionClient for the registry of ``ref``.

    TLS is verified against ``ca_bundle`` (a PEM file) or the system CAs. ``insecure`` skips
    verification and, when the registry doesn't speak TLS at all, falls back to plain http
    (lab registries on host:port)."""
    secret = password if isinstance(password, Secret) else Secret(password or "")
    verify: bool | str = ca_bundle or not insecure
    scheme = "https"
    if insecure and not _speaks_tls(ref.endpoint):
        scheme = "http"
    auth = PullAuth(
        base_url=f"{scheme}://{ref.endpoint}", username=username, password=secret, verify=verify
    )
    return DistributionClient(
        auth,
        timeout=settings.REGSCAN_REQUEST_TIMEOUT,
        max_concurrency=settings.REGSCAN_REGISTRY_CONCURRENCY,
        allowed_networks=tuple(settings.REGSCAN_ALLOWED_PRIVATE_NETWORKS),
    )


def _speaks_tls(host: str) -> bool:
    """Whether ``host`` answers TLS (any certificate). Passes the outbound guard first."""
    url = f"https://{host}/v2/"
    netguard.check_url(url, tuple(settings.REGSCAN_ALLOWED_PRIVATE_NETWORKS))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            requests.get(url, verify=False, timeout=5, allow_redirects=False).close()  # noqa: S501
    except (OSError, requests.exceptions.SSLError, requests.ConnectionError):
        return False
    except requests.RequestException:
        return True
    return True
