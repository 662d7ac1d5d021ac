"""Risk acceptance: a person accepts a finding, or a vulnerability in a repository or a whole
integration, with a justification, an owner and an expiry.

Accepted findings are hidden from the default findings view and counted separately; once an
acceptance expires (or is revoked) its findings come back on their own, because acceptance is
decided at query time (:func:`annotate_accepted`), never copied onto the findings.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone


class AcceptanceScope(models.TextChoices):
    FINDING = "finding", "This finding only"
    REPOSITORY = "repository", "This vulnerability in the repository"
    REGISTRY = "registry", "This vulnerability in the whole integration"


class RiskAcceptance(models.Model):
    org_lookup = "registry__organization"

    registry = models.ForeignKey(
        "integrations.Registry", on_delete=models.CASCADE, related_name="risk_acceptances"
    )
    scope = models.CharField(max_length=20, choices=AcceptanceScope.choices)
    finding = models.ForeignKey(
        "vulndb.Finding",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="acceptances",
        help_text="Set for scope 'finding'.",
    )
    vulnerability = models.ForeignKey(
        "vulndb.Vulnerability",
        on_delete=models.CASCADE,
        related_name="acceptances",
        help_text="The accepted vulnerability (for every scope).",
    )
    repository = models.ForeignKey(
        "scans.Repository",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="risk_acceptances",
        help_text="Set for scope 'repository'.",
    )
    justification = models.TextField(help_text="Why the risk is acceptable.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who answers for this acceptance.",
    )
    expires_at = models.DateTimeField(help_text="The findings come back after this time.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["vulnerability", "registry"])]

    def __str__(self) -> str:
        return f"{self.vulnerability_id} accepted ({self.scope}) until {self.expires_at:%Y-%m-%d}"

    def clean(self) -> None:
        if self.scope == AcceptanceScope.FINDING and not self.finding_id:
            raise ValidationError("A finding acceptance needs its finding.")
        if self.scope == AcceptanceScope.REPOSITORY and not self.repository_id:
            raise ValidationError("A repository acceptance needs its repository.")

    def is_active(self, now: datetime) -> bool:
        """True when not revoked and not expired at ``now``."""
        return self.revoked_at is None and self.expires_at > now


def active_acceptances(now: datetime) -> QuerySet[RiskAcceptance]:
    """Acceptances in force at ``now`` (not revoked, not expired)."""
    return RiskAcceptance.objects.filter(revoked_at__isnull=True, expires_at__gt=now)


def covering_acceptances(now: datetime) -> QuerySet[RiskAcceptance]:
    """Active acceptances that cover the finding ``OuterRef`` points at (for ``Exists``).

    A finding is covered by an acceptance of itself, of its vulnerability in its whole
    integration, or of its vulnerability in a repository one of its image's tags belongs to.
    """
    same_vuln = Q(
        vulnerability=OuterRef("vulnerability_id"), registry=OuterRef("image__registry_id")
    )
    return active_acceptances(now).filter(
        Q(scope=AcceptanceScope.FINDING, finding=OuterRef("pk"))
        | (same_vuln & Q(scope=AcceptanceScope.REGISTRY))
        | (
            same_vuln
            & Q(scope=AcceptanceScope.REPOSITORY, repository__tags__images=OuterRef("image_id"))
        )
    )


def accepted_findings_q(now: datetime, org: Any = None) -> Q:
    """A condition on findings: covered by an acceptance in force at ``now`` (of ``org``).

    Three uncorrelated ``IN (SELECT ...)`` sets, one per scope, which the database builds once
    per query; a correlated EXISTS per finding costs a probe per row and made the findings
    page grow with the number of open findings.
    """
    from scans.vulndb.models import Finding

    active = active_acceptances(now)
    if org is not None:
        active = active.filter(registry__organization=org)
    live = {
        "vulnerability__acceptances__revoked_at__isnull": True,
        "vulnerability__acceptances__expires_at__gt": now,
        "vulnerability__acceptances__registry": F("image__registry"),
    }
    if org is not None:
        live["vulnerability__acceptances__registry__organization"] = org
    whole = Finding.objects.filter(
        vulnerability__acceptances__scope=AcceptanceScope.REGISTRY, **live
    )
    in_repo = Finding.objects.filter(
        vulnerability__acceptances__scope=AcceptanceScope.REPOSITORY,
        vulnerability__acceptances__repository__tags__images=F("image"),
        **live,
    )
    return (
        Q(pk__in=active.filter(scope=AcceptanceScope.FINDING).values("finding_id"))
        | Q(pk__in=whole.values("pk"))
        | Q(pk__in=in_repo.values("pk"))
    )


def annotate_accepted(findings: QuerySet[Any], now: datetime, org: Any = None) -> QuerySet[Any]:
    """``findings`` annotated with ``is_accepted`` (no per-row query).

    When ``org`` is given and has no acceptance in force, every finding is simply not accepted
    (one cheap query instead of the subqueries)."""
    if org is not None and not active_acceptances(now).filter(registry__organization=org).exists():
        return findings.annotate(is_accepted=Value(False, output_field=BooleanField()))
    condition = ExpressionWrapper(accepted_findings_q(now, org), output_field=BooleanField())
    return findings.annotate(is_accepted=condition)


def accept_risk(
    finding: Any,
    *,
    actor: Any,
    scope: str,
    justification: str,
    owner: Any,
    expires_at: date | datetime,
    repository: Any = None,
) -> RiskAcceptance:
    """Record an acceptance of ``finding`` (scope ``finding``), or of its vulnerability in
    ``repository`` or in the finding's whole integration. A date expiry means the end of
    that day in the current time zone. Raises ValidationError on an incomplete scope."""
    if not isinstance(expires_at, datetime):
        end = datetime.combine(expires_at, time(23, 59, 59))
        expires_at = timezone.make_aware(end, timezone.get_current_timezone())
    acceptance = RiskAcceptance(
        registry_id=finding.image.registry_id,
        scope=scope,
        finding=finding if scope == AcceptanceScope.FINDING else None,
        vulnerability_id=finding.vulnerability_id,
        repository=repository if scope == AcceptanceScope.REPOSITORY else None,
        justification=justification,
        owner=owner,
        expires_at=expires_at,
        created_by=actor,
    )
    acceptance.clean()
    acceptance.save()
    return acceptance


# OpenVEX v0.2.0 (https://github.com/openvex/spec/blob/main/OPENVEX-SPEC.md): a document has
# @context, @id, author, timestamp, version and statements; an "affected" statement requires an
# action_statement; products are identified by purl ("@id") with optional subcomponents.
OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"


def _oci_purl(image: Any, repository: str) -> str:
    """``pkg:oci/<name>@<digest>?repository_url=<host>/<repository>`` (purl spec, type oci)."""
    name = repository.rsplit("/", 1)[-1]
    digest = image.digest.replace(":", "%3A")
    host = (image.registry.url or image.registry.name).split("://")[-1].rstrip("/")
    return f"pkg:oci/{name}@{digest}?repository_url={host}/{repository}"


def openvex_document(org: Any, *, author: str, now: datetime) -> dict[str, Any]:
    """The organization's acceptances in force as an OpenVEX v0.2.0 document.

    A risk acceptance does not claim the image is unaffected, so each statement says
    ``affected`` with an ``action_statement`` recording the acceptance (owner, expiry,
    justification); products are the images whose open findings it covers, with the
    vulnerable packages as subcomponents.
    """
    from scans.vulndb.models import Finding

    statements = []
    acceptances = (
        active_acceptances(now)
        .filter(registry__organization=org)
        .select_related("vulnerability", "owner", "repository")
    )
    for acc in acceptances:
        covered = (
            Finding.objects.filter(status="open", vulnerability_id=acc.vulnerability_id)
            .filter(Exists(covering_acceptances(now).filter(pk=acc.pk)))
            .select_related("image__registry")
            .prefetch_related("image__tags__repository")
        )
        products: dict[str, set[str]] = {}
        for finding in covered:
            tags = list(finding.image.tags.all())
            repo = tags[0].repository.name if tags else finding.image.registry.name
            products.setdefault(_oci_purl(finding.image, repo), set()).add(finding.purl)
        if not products:
            continue  # every finding it covered is fixed: nothing left to state
        statements.append(
            {
                "vulnerability": {
                    "name": acc.vulnerability.osv_id,
                    "aliases": list(acc.vulnerability.aliases or []),
                },
                "timestamp": acc.created_at.isoformat(),
                "products": [
                    {"@id": p, "subcomponents": [{"@id": s} for s in sorted(subs) if s]}
                    for p, subs in sorted(products.items())
                ],
                "status": "affected",
                "action_statement": (
                    f"Risk accepted ({acc.get_scope_display().lower()}) by {acc.owner} until "
                    f"{acc.expires_at:%Y-%m-%d}: {acc.justification}"
                ),
            }
        )
    return {
        "@context": OPENVEX_CONTEXT,
        "@id": f"urn:regscan:openvex:{org.pk}:{int(now.timestamp())}",
        "author": author,
        "timestamp": now.isoformat(),
        "version": 1,
        "tooling": "regscan",
        "statements": statements,
    }
