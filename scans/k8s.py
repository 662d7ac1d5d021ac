"""Kubernetes discovery: which images run in a cluster, recorded and queued for scanning.

Three stages, used by ``manage.py k8sdiscover``:

1. :func:`parse_image_reference` normalises a reference the way docker/containerd do
   (``nginx`` -> ``docker.io/library/nginx:latest``), following the grammar of
   distribution's ``reference`` package.
2. :func:`extract_containers` walks ``kubectl get ... -o json`` documents (a Pod, a typed list
   such as ``PodList``/``DeploymentList``, or kubectl's generic ``List``) and yields one
   :class:`SeenContainer` per container, init container and ephemeral container.
3. :func:`record_discovery` stores them as :class:`~scans.models.k8s.RunningImage` rows of one
   cluster, records System-managed registries, marks what no longer runs and queues scans
   (:func:`scan_discovered_image`).

:func:`running_digests` and :func:`annotate_running` let findings say "running in cluster".
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Organization
from integrations.models import Registry, RegistryAccess
from integrations.occurrences import record_registry_occurrence, registry_host

from .models.k8s import ContainerType, DiscoveredScanStatus, RunningImage

__all__ = [
    "DiscoveryResult",
    "ImageReference",
    "InputError",
    "SeenContainer",
    "annotate_running",
    "extract_containers",
    "load_document",
    "parse_image_reference",
    "record_discovery",
    "running_digests",
    "running_digests_by_org",
    "running_in_cluster_q",
    "scan_discovered_image",
]

logger = logging.getLogger(__name__)

# --- Image references (github.com/distribution/reference, regexp.go and normalize.go) ---
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(
    rf"^(?P<domain>{_DOMAIN})/(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
_IMAGE_ID_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-f0-9]{32,}$")
_NAME_MAX = 255
DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class ImageReference:
    """A normalised image reference. ``domain`` keeps the case written (as docker does);
    :attr:`host` is the canonical registry host used to find integrations."""

    domain: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.repository}"

    @property
    def host(self) -> str:
        return registry_host(self.domain)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_reference(text: str) -> ImageReference:
    """Normalise ``text`` like ``docker pull`` does; raise ``ValueError`` naming the problem.

    ``nginx`` -> ``docker.io/library/nginx:latest``; ``user/app`` -> ``docker.io/user/app:latest``;
    the first path component is a registry when it contains ``.`` or ``:``, is ``localhost``, or
    has upper-case letters. ``latest`` is added only when neither tag nor digest is given; a
    ``sha256`` digest must be 64 lower-case hex digits; repository names must be lower case.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty image reference")
    if text != text.strip():
        raise ValueError(f"image reference {text!r} has surrounding whitespace")
    if _IDENTIFIER_RE.match(text):
        raise ValueError(f"{text!r} is an image id (64 hex digits), not a reference")
    domain, remainder = _split_domain(text)
    remote = remainder.split("@", 1)[0]
    if ":" in remote:
        remote = remote.rsplit(":", 1)[0]
    if remote.lower() != remote:
        raise ValueError(f"repository name {remote!r} must be lower case")
    match = _REFERENCE_RE.match(f"{domain}/{remainder}")
    if not match:
        raise ValueError(f"invalid image reference {text!r}")
    ref = ImageReference(
        domain=match["domain"],
        repository=match["path"],
        tag=match["tag"] or "",
        digest=match["digest"] or "",
    )
    _validate_parts(text, ref)
    if not ref.tag and not ref.digest:
        ref = ImageReference(ref.domain, ref.repository, tag="latest")
    return ref


def _split_domain(text: str) -> tuple[str, str]:
    first, slash, rest = text.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DOCKER_HUB, text
    else:
        domain, remainder = first, rest
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


def _validate_parts(text: str, ref: ImageReference) -> None:
    if len(ref.name) > _NAME_MAX:
        raise ValueError(f"repository name of {text!r} is longer than {_NAME_MAX} characters")
    algorithm, _, hexdigits = ref.digest.partition(":")
    if algorithm == "sha256" and not re.fullmatch(r"[a-f0-9]{64}", hexdigits):
        raise ValueError(f"digest of {text!r} is not 64 lower-case hex digits")
    if ref.digest and algorithm not in ("sha256", "sha384", "sha512"):
        raise ValueError(f"unsupported digest algorithm {algorithm!r} in {text!r}")


def parse_image_id(image_id: str) -> tuple[str, str]:
    """Split a container status ``imageID`` into ``(repo_digest, runtime_image_id)``.

    ``docker-pullable://nginx@sha256:X`` and containerd's ``docker.io/library/nginx@sha256:X``
    give the manifest digest ``sha256:X``; a bare ``sha256:Y`` (or ``docker://sha256:Y``) is the
    runtime's image id (the config digest), which cannot be pulled. Unusable values give
    ``("", "")``.
    """
    value = (image_id or "").strip()
    for prefix in ("docker-pullable://", "docker://"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if not value:
        return "", ""
    if _IMAGE_ID_RE.match(value):
        return "", value
    try:
        ref = parse_image_reference(value)
    except ValueError:
        return "", ""
    return ref.digest, ""


# --- kubectl JSON ---
class InputError(ValueError):
    """The document is not Kubernetes JSON we can read (``k8sdiscover`` exits 2)."""


# kind -> path from the object to its pod spec.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
SUPPORTED_KINDS = tuple(_POD_SPEC_PATHS)
_CONTAINER_LISTS = (
    ("containers", "containerStatuses", ContainerType.CONTAINER),
    ("initContainers", "initContainerStatuses", ContainerType.INIT),
    ("ephemeralContainers", "ephemeralContainerStatuses", ContainerType.EPHEMERAL),
)


@dataclass(frozen=True)
class SeenContainer:
    """One container of one workload as found in the document."""

    namespace: str
    workload_kind: str
    workload_name: str
    container_name: str
    container_type: str
    image: ImageReference
    digest: str  # manifest digest: from the reference, else from the pod status
    image_id: str = ""  # runtime image id (config digest) when that is all the status gives


@dataclass
class Extraction:
    containers: list[SeenContainer] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # kind -> count of skipped objects


def load_document(text: str) -> dict[str, Any]:
    """Parse ``text`` as one Kubernetes JSON object with a supported ``kind``.

    Raises :class:`InputError` naming the problem: not JSON (with line and column), not an
    object, no ``kind``, a kind without pods, or a list whose ``items`` is not a list.
    """
    import json

    if not text.strip():
        raise InputError("the input is empty; expected the JSON of `kubectl get pods -A -o json`")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"the input is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "expected the output of `kubectl get pods -A -o json`"
        ) from None
    if not isinstance(doc, dict):
        raise InputError(
            f"expected a Kubernetes object at the top level, got a JSON {type(doc).__name__}"
        )
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InputError("the JSON object has no `kind`; is this the output of `kubectl -o json`?")
    if not (
        kind == "List" or kind in _POD_SPEC_PATHS or kind.removesuffix("List") in _POD_SPEC_PATHS
    ):
        raise InputError(
            f"unsupported kind {kind!r}: expected a Pod, Deployment, DaemonSet, StatefulSet, "
            "ReplicaSet, Job or CronJob, a list of them, or a `List`"
        )
    if kind.endswith("List") and not isinstance(doc.get("items"), list):
        raise InputError(f"the {kind} has no `items` list")
    return doc


def extract_containers(doc: dict[str, Any]) -> Extraction:
    """Return every container image of ``doc`` (as loaded by :func:`load_document`).

    Malformed objects and image references are reported in ``errors`` and skipped; objects of
    kinds without pods (Services, ConfigMaps...) inside a ``List`` are counted in ``ignored``.
    """
    out = Extraction()
    for kind, obj in _objects(doc):
        if not isinstance(obj, dict):
            out.errors.append({"object": "", "error": "list item is not a JSON object, skipped"})
            continue
        if kind not in _POD_SPEC_PATHS:
            out.ignored[kind or "(no kind)"] = out.ignored.get(kind or "(no kind)", 0) + 1
            continue
        _extract_object(kind, obj, out)
    return out


def _objects(doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    kind = doc["kind"]
    if not kind.endswith("List"):
        yield kind, doc
        return
    item_kind = "" if kind == "List" else kind.removesuffix("List")
    for item in doc["items"]:
        # Typed lists (PodList) from the API server leave out each item's kind.
        yield (item.get("kind") or item_kind) if isinstance(item, dict) else "", item


def _extract_object(kind: str, obj: Any, out: Extraction) -> None:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        out.errors.append({"object": kind, "error": "object without metadata, skipped"})
        return
    namespace = str(meta.get("namespace") or "default")
    name = str(meta.get("name") or "")
    spec: Any = obj
    for key in _POD_SPEC_PATHS[kind]:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        where = f"{kind}/{name}"
        out.errors.append({"namespace": namespace, "object": where, "error": "no pod spec"})
        return
    workload_kind, workload_name = _workload(kind, meta)
    status = obj.get("status") if kind == "Pod" and isinstance(obj.get("status"), dict) else {}
    for list_key, status_key, ctype in _CONTAINER_LISTS:
        digests = _status_digests(status.get(status_key))
        for container in spec.get(list_key) or []:
            seen = _container(container, ctype, digests, out, f"{kind}/{name}", namespace)
            if seen is not None:
                out.containers.append(SeenContainer(namespace, workload_kind, workload_name, *seen))


def _container(container, ctype, digests, out, where, namespace):
    """Return (name, type, image, digest, image_id) or None after recording an error."""
    cname = str(container.get("name") or "") if isinstance(container, dict) else ""
    image = container.get("image") if isinstance(container, dict) else None
    try:
        ref = parse_image_reference(image if isinstance(image, str) else "")
        ref.host  # noqa: B018  (a registry host regscan cannot use is reported here too)
    except ValueError as exc:
        out.errors.append(
            {
                "namespace": namespace,
                "object": where,
                "container": cname,
                "image": image if isinstance(image, str) else "",
                "error": str(exc),
            }
        )
        return None
    repo_digest, image_id = digests.get(cname, ("", ""))
    return cname, ctype, ref, ref.digest or repo_digest, image_id


def _status_digests(statuses: Any) -> dict[str, tuple[str, str]]:
    result: dict[str, tuple[str, str]] = {}
    for status in statuses if isinstance(statuses, list) else []:
        if isinstance(status, dict) and status.get("name"):
            result[str(status["name"])] = parse_image_id(str(status.get("imageID") or ""))
    return result


def _workload(kind: str, meta: dict[str, Any]) -> tuple[str, str]:
    """The workload a pod or controller belongs to.

    A pod's controller owner reference names it; a ReplicaSet that a Deployment owns is shown
    as the Deployment (pods carry the ``pod-template-hash`` that the ReplicaSet name ends
    with; controllers carry the Deployment owner reference). A Job owned by a CronJob is
    shown as the CronJob. A pod without an owner is its own workload.
    """
    name = str(meta.get("name") or "")
    owner = _controller(meta)
    if owner is None:
        return kind, name
    owner_kind, owner_name = owner
    pod_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if owner_kind == "ReplicaSet" and pod_hash and owner_name.endswith(f"-{pod_hash}"):
        return "Deployment", owner_name.removesuffix(f"-{pod_hash}")
    return owner_kind, owner_name


def _controller(meta: dict[str, Any]) -> tuple[str, str] | None:
    owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, dict)]
    for owner in sorted(owners, key=lambda o: not o.get("controller")):
        if owner.get("kind") and owner.get("name"):
            return str(owner["kind"]), str(owner["name"])
    return None


def merge_containers(containers: list[SeenContainer]) -> list[SeenContainer]:
    """Drop duplicates (replicas) and digest-less copies of containers whose digest is known
    (a Deployment template next to its running pods); order of first appearance is kept."""
    with_digest = {_key(c) for c in containers if c.digest}
    seen: dict[tuple, SeenContainer] = {}
    for c in containers:
        if not c.digest and _key(c) in with_digest:
            continue
        seen.setdefault((*_key(c), c.digest), c)
    return list(seen.values())


def _key(c: SeenContainer) -> tuple:
    return (
        c.namespace,
        c.workload_kind,
        c.workload_name,
        c.container_type,
        c.container_name,
        str(c.image),
    )


# --- Recording ---
@dataclass
class DiscoveryResult:
    images: list[tuple[RunningImage, bool]] = field(default_factory=list)  # (row, created)
    registries: list[Registry] = field(default_factory=list)
    gone: list[RunningImage] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)


def record_discovery(
    org: Organization,
    cluster: str,
    containers: list[SeenContainer],
    *,
    queue_scans: bool = True,
) -> DiscoveryResult:
    """Store ``containers`` as what runs now in ``cluster`` and return what changed.

    Registries without an integration are recorded as System-managed; rows of ``cluster`` not
    in ``containers`` get ``still_running=False``. With ``queue_scans``, each image whose digest
    has not been scanned yet is queued (one task per registry+digest; tag-only rows once, when
    first seen) with django-q2's ``async_task``.
    """
    now = timezone.now()
    result = DiscoveryResult()
    registries: dict[str, Registry] = {}
    for seen in merge_containers(containers):
        host = seen.image.host
        if host not in registries:
            registries[host] = record_registry_occurrence(
                org, host, RegistryAccess.SYSTEM_MANAGED, f"k8sdiscover --cluster {cluster}"
            )
        result.images.append(_upsert(org, cluster, registries[host], seen, now))
    result.registries = list(registries.values())
    seen_ids = [row.pk for row, _ in result.images]
    gone = RunningImage.objects.filter(organization=org, cluster=cluster, still_running=True)
    result.gone = list(gone.exclude(pk__in=seen_ids))
    gone.exclude(pk__in=seen_ids).update(still_running=False)
    if queue_scans:
        result.queued = _queue_scans(result.images)
    if result.gone or any(created for _, created in result.images):
        _recompute_priority(org)
    return result


def _recompute_priority(org: Organization) -> None:
    """What runs changed: findings' priorities ("running in cluster") are recomputed."""
    from scans.vulndb.services import recompute_priority

    recompute_priority(org_id=org.pk)


def _upsert(org, cluster, registry, seen: SeenContainer, now) -> tuple[RunningImage, bool]:
    key = {
        "organization": org,
        "cluster": cluster,
        "namespace": seen.namespace,
        "workload_kind": seen.workload_kind,
        "workload_name": seen.workload_name,
        "container_type": seen.container_type,
        "container_name": seen.container_name,
        "reference": str(seen.image),
        "digest": seen.digest,
    }
    values = {
        "registry": registry,
        "repository": seen.image.repository,
        "tag": seen.image.tag,
        "image_id": seen.image_id,
        "last_seen": now,
        "still_running": True,
    }
    try:
        with transaction.atomic():
            row, created = RunningImage.objects.get_or_create(**key, defaults=values)
    except IntegrityError:  # a concurrent discovery of the same cluster created it
        row, created = RunningImage.objects.get(**key), False
    if not created:
        for name, value in values.items():
            setattr(row, name, value)
        row.save(update_fields=[*values])
    return row, created


def _queue_scans(images: list[tuple[RunningImage, bool]]) -> list[int]:
    from django_q.tasks import async_task

    queued: list[int] = []
    for row, created in images:
        row.refresh_from_db(fields=["scan_status"])  # a sibling may have been queued just now
        if not _needs_scan(row, created):
            continue
        _siblings(row).exclude(scan_status=DiscoveredScanStatus.SCANNED).update(
            scan_status=DiscoveredScanStatus.QUEUED, scan_error=""
        )
        queued.append(row.pk)
        async_task("scans.k8s.scan_discovered_image", row.pk, task_name=f"k8s-scan-{row.pk}")
    return queued


def _siblings(row: RunningImage) -> QuerySet[RunningImage]:
    """Rows that one scan of ``row`` settles: same registry and digest (any cluster), or the
    row alone when it has no digest."""
    if not row.digest:
        return RunningImage.objects.filter(pk=row.pk)
    return RunningImage.objects.filter(registry=row.registry_id, digest=row.digest)


def _needs_scan(row: RunningImage, created: bool) -> bool:
    """Digest rows: unless that digest is scanned or queued already (for any row of the
    registry, or by a registry scan). Tag-only rows: once, when first seen (what the tag
    serves may change; scans of the registry's integration cover tags). A failed scan is
    tried again by the next discovery."""
    if not row.digest:
        return created
    if row.scan_status in (DiscoveredScanStatus.SCANNED, DiscoveredScanStatus.QUEUED):
        return False
    known = (
        _siblings(row)
        .filter(scan_status__in=[DiscoveredScanStatus.SCANNED, DiscoveredScanStatus.QUEUED])
        .values_list("scan_status", flat=True)
        .first()
    )
    if known is None and _already_scanned(row):
        known = DiscoveredScanStatus.SCANNED
    if known is not None:
        RunningImage.objects.filter(pk=row.pk).update(scan_status=known)
        return False
    return True


def _already_scanned(row: RunningImage) -> bool:
    """True when a registry scan already built the SBOM of this digest (as a platform
    manifest or as the index it was listed in)."""
    from .models import Image

    return (
        Image.objects.filter(registry=row.registry_id, sbom__isnull=False)
        .filter(Q(digest=row.digest) | Q(index_digest=row.digest))
        .exists()
    )


# --- The scan task ---
def scan_discovered_image(running_image_id: int) -> str:
    """django-q2 task: scan the image of one RunningImage; return its final ``scan_status``.

    Pulls ``repository@digest`` (or the tag when no digest is known). A Private integration
    covering the host pulls through its provider (its credentials, endpoint, CA bundle; ECR and
    ACR tokens included) and the images are recorded under it; otherwise the image is pulled
    anonymously with ``scans.services.scan_reference`` (plain http allowed for loopback hosts,
    as docker and containerd do). The outcome (``scanned``, or ``failed`` with the error) is
    written to every row of the same registry and digest, so a digest running in many places
    is scanned once. Never raises for scan errors.
    """
    row = RunningImage.objects.select_related("registry", "organization").get(pk=running_image_id)
    try:
        errors = _scan_row(row)
        status = DiscoveredScanStatus.SCANNED
    except Exception as exc:  # any failure is recorded on the rows, never raised into the queue
        errors = [str(exc) or type(exc).__name__]
        status = DiscoveredScanStatus.FAILED
        logger.warning("k8s scan of %s failed: %s", row.pull_reference, errors[0])
    _siblings(row).update(
        scan_status=status,
        scan_error="; ".join(errors)[:2000],
        scanned_at=timezone.now() if status == DiscoveredScanStatus.SCANNED else None,
    )
    return status


def _scan_row(row: RunningImage) -> list[str]:
    """Scan ``row``'s image; return the errors of platforms that failed ([] = all scanned).

    Raises on errors that stop the whole scan (bad reference, registry unusable)."""
    from scans import services

    if row.registry.access == RegistryAccess.PRIVATE:
        from integrations.services import provider_for

        client = provider_for(row.registry).distribution()
        images = services.scan_registry_reference(
            client,
            row.registry,
            row.repository,
            row.digest or row.tag,
            limits=services.default_limits(),
        )
        for image in images:
            services.sync_findings(image)
        return []
    results = services.scan_reference(
        row.organization,
        row.pull_reference,
        insecure=_is_loopback(row.registry.url),
        access=RegistryAccess.SYSTEM_MANAGED,
        discovered_via=f"k8sdiscover --cluster {row.cluster}",
    )
    errors = [f"{r.platform or r.digest}: {r.error}" for r in results if r.error]
    if results and len(errors) == len(results):
        raise RuntimeError("; ".join(errors))
    return errors


def _is_loopback(host: str) -> bool:
    """Docker and containerd pull from loopback registries over plain http too."""
    name = host[1 : host.find("]")] if host.startswith("[") else host.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# --- Running in cluster, for findings and priority ---
def running_digests(org: Organization) -> set[str]:
    """The manifest/index digests that run in any cluster of ``org`` now (still_running)."""
    return set(
        RunningImage.objects.filter(organization=org, still_running=True)
        .exclude(digest="")
        .values_list("digest", flat=True)
    )


def running_digests_by_org(org_id: int | None = None) -> dict[int, set[str]]:
    """Like :func:`running_digests`, for one organization id or all: ``{org_id: digests}``."""
    rows = RunningImage.objects.filter(still_running=True).exclude(digest="")
    if org_id is not None:
        rows = rows.filter(organization_id=org_id)
    result: dict[int, set[str]] = {}
    for org, digest in rows.values_list("organization_id", "digest").distinct():
        result.setdefault(org, set()).add(digest)
    return result


def running_in_cluster_q(digest_path: str, index_digest_path: str | None, org_path: str) -> Exists:
    """An ``Exists`` that is true when the digest at ``digest_path`` (or the index digest at
    ``index_digest_path``) runs in a cluster of the organization at ``org_path``."""
    match = Q(digest=OuterRef(digest_path))
    if index_digest_path:
        match |= Q(digest=OuterRef(index_digest_path))
    return Exists(
        RunningImage.objects.filter(
            match, organization=OuterRef(org_path), still_running=True
        ).exclude(digest="")
    )


def annotate_running(qs: QuerySet, image_path: str = "image") -> QuerySet:
    """Annotate ``running_in_cluster`` (bool) on a queryset of rows that reach an Image via
    ``image_path`` (``""`` for Image itself): true when the image's digest or the index it was
    listed in runs in a cluster of the image's organization."""
    prefix = f"{image_path}__" if image_path else ""
    return qs.annotate(
        running_in_cluster=running_in_cluster_q(
            f"{prefix}digest", f"{prefix}index_digest", f"{prefix}registry__organization"
        )
    )
