"""Scan data, one module per area: images.py (repositories, tags, images), sbom.py (layers,
SBOMs, packages), runs.py (scan runs and the per-image ledger)."""

from .images import Image, Repository, Tag
from .k8s import ContainerType, DiscoveredScanStatus, RunningImage  # noqa: F401  (Kubernetes discovery)
from .runs import ImageScan, ImageScanStatus, ScanRun, ScanRunStatus, ScanTrigger
from .sbom import Layer, Package, Sbom
from .triage import AcceptanceScope, RiskAcceptance  # noqa: F401  (web pages: risk acceptance)

__all__ = [
    "Image",
    "ImageScan",
    "ImageScanStatus",
    "Layer",
    "Package",
    "Repository",
    "Sbom",
    "ScanRun",
    "ScanRunStatus",
    "ScanTrigger",
    "Tag",
]
