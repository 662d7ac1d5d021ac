"""Which digests run in a cluster now: for findings ("running in cluster") and priority."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Organization
from scans.models.k8s import RunningImage

__all__ = ["annotate_running", "running_digests", "running_digests_by_org", "running_in_cluster_q"]


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
