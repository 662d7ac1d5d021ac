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
   (:func:`scan_discovered_image`, queued as ``scans.k8s.scan_discovered_image``).

:func:`running_digests` and :func:`annotate_running` let findings say "running in cluster".
"""

from __future__ import annotations

from .discovery import DiscoveryResult, record_discovery, scan_discovered_image
from .imageref import ImageReference, parse_image_id, parse_image_reference
from .kubectl import (
    Extraction,
    InputError,
    SeenContainer,
    extract_containers,
    load_document,
    merge_containers,
)
from .running import (
    annotate_running,
    running_digests,
    running_digests_by_org,
    running_in_cluster_q,
)

__all__ = [
    "DiscoveryResult",
    "Extraction",
    "ImageReference",
    "InputError",
    "SeenContainer",
    "annotate_running",
    "extract_containers",
    "load_document",
    "merge_containers",
    "parse_image_id",
    "parse_image_reference",
    "record_discovery",
    "running_digests",
    "running_digests_by_org",
    "running_in_cluster_q",
    "scan_discovered_image",
]
