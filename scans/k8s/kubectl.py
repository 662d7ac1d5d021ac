"""Reading ``kubectl get ... -o json``: a Pod, a workload, a typed list (``PodList``,
``DeploymentList``...) or kubectl's generic ``List``; one :class:`SeenContainer` per container,
init container and ephemeral container."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from scans.models.k8s import ContainerType

from .imageref import ImageReference, parse_image_id, parse_image_reference

__all__ = [
    "SUPPORTED_KINDS",
    "Extraction",
    "InputError",
    "SeenContainer",
    "extract_containers",
    "load_document",
    "merge_containers",
]


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
    Raises :class:`InputError` for an item of a ``List`` without a ``kind`` (kubectl always
    writes one): ignoring it would record its workloads as no longer running.
    """
    out = Extraction()
    for number, (kind, obj) in enumerate(_objects(doc), 1):
        if not isinstance(obj, dict):
            out.errors.append({"object": "", "error": "list item is not a JSON object, skipped"})
            continue
        if not kind:
            raise InputError(
                f"item {number} of the List has no `kind` (kubectl always writes one, e.g. "
                '"kind": "Pod"); is this the output of `kubectl get pods -A -o json`?'
            )
        if kind not in _POD_SPEC_PATHS:
            out.ignored[kind] = out.ignored.get(kind, 0) + 1
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
        containers = spec.get(list_key) or []
        if not isinstance(containers, list):
            where = f"{kind}/{name}"
            out.errors.append(
                {"namespace": namespace, "object": where, "error": f"`{list_key}` is not a list"}
            )
            continue
        for container in containers:
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
