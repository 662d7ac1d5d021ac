"""Dashboard, findings (list, export, detail, risk acceptance), vulnerabilities and images.

Every query goes through :mod:`accounts.scoping`; objects of another organization are 404.
Writes (accepting and revoking risk) need the organization's admins group (403 otherwise).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_tables2 import RequestConfig

from accounts.scoping import for_org, get_for_org_or_404
from integrations.models import Registry
from scans.filters import FindingFilter, ImageFilter
from scans.models import Image, ImageScan, Package, Repository, ScanRun, Tag
from scans.models.triage import AcceptanceScope, RiskAcceptance, accept_risk, openvex_document
from scans.tables import (
    FindingTable,
    ImageFindingTable,
    ImageScanTable,
    PackageTable,
    TagTable,
    csv_lines,
    finding_record,
    finding_rows,
    image_reference,
    json_array,
    tag_rows,
)
from scans.templatetags.scan_extras import SEVERITIES, request_time_zone
from scans.vulndb.models import Finding, Vulnerability


def _data_as_of() -> Any:
    from scans.vulndb.api import data_as_of

    return data_as_of()


TREND_DAYS = 30


def _open_unaccepted(org: Any, now: datetime) -> QuerySet[Finding]:
    return finding_rows(for_org(Finding, org), now, org).filter(status="open", is_accepted=False)


def _severity_counts(qs: QuerySet[Finding]) -> list[tuple[str, int]]:
    found = dict(qs.values_list("severity").annotate(n=Count("pk")).order_by())
    return [(sev, found.get(sev, 0)) for sev in SEVERITIES]


def _per_registry(qs: QuerySet[Finding]) -> list[tuple[str, list[tuple[str, int]]]]:
    rows: dict[str, dict[str, int]] = {}
    for name, sev, n in (
        qs.values_list("image__registry__name", "severity").annotate(n=Count("pk")).order_by()
    ):
        rows.setdefault(name, {})[sev] = n
    ordered = sorted(rows.items(), key=lambda kv: [-kv[1].get(s, 0) for s in SEVERITIES])
    return [(name, [(s, c.get(s, 0)) for s in SEVERITIES]) for name, c in ordered[:12]]


def _trend(org: Any, now: datetime) -> list[tuple[Any, int, int]]:
    """Per day of the last 30: findings open at the day's end and findings fixed that day.

    One aggregate query of plain comparisons (no per-row date functions, which SQLite runs in
    Python): findings first seen, and findings resolved, before each day boundary. Open at a
    day's end = first seen before it minus resolved before it (a finding is resolved after it
    was first seen); fixed that day = the difference of two resolved counts.
    """
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    bounds = [midnight - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS + 1)]
    aggs = {}
    for i, bound in enumerate(bounds):
        aggs[f"s{i}"] = Count("pk", filter=Q(first_seen__lt=bound))
        aggs[f"r{i}"] = Count("pk", filter=Q(resolved_at__lt=bound))
    got = for_org(Finding, org).aggregate(**aggs)
    return [
        (bounds[i].date(), got[f"s{i + 1}"] - got[f"r{i + 1}"], got[f"r{i + 1}"] - got[f"r{i}"])
        for i in range(TREND_DAYS)
    ]


def _riskiest_images(qs: QuerySet[Finding]) -> list[dict[str, Any]]:
    by_sev = {sev: Count("pk", filter=Q(severity=sev)) for sev in SEVERITIES[:3]}
    top = list(
        qs.values("image")
        .annotate(**by_sev, score=Sum("priority"))
        .order_by("-critical", "-high", "-score")[:10]
    )
    images = (
        Image.objects.select_related("registry")
        .prefetch_related("tags__repository")
        .in_bulk([r["image"] for r in top])
    )
    return [
        {**r, "image": images[r["image"]], "ref": image_reference(images[r["image"]])}
        for r in top
        if r["image"] in images
    ]


def _riskiest_repositories(qs: QuerySet[Finding]) -> list[dict[str, Any]]:
    by_sev = {
        sev: Count("vulnerability", filter=Q(severity=sev), distinct=True) for sev in SEVERITIES[:3]
    }
    keys = ("image__tags__repository__registry__name", "image__tags__repository__name")
    rows = (
        qs.exclude(image__tags__repository__isnull=True)
        .values(*keys)
        .annotate(**by_sev, images=Count("image", distinct=True))
    )
    return [
        {
            "registry": r[keys[0]],
            "repository": r[keys[1]],
            **{k: r[k] for k in ("critical", "high", "medium", "images")},
        }
        for r in rows.order_by("-critical", "-high", "-medium")[:10]
    ]


def _coverage(org: Any, now: datetime) -> dict[str, Any]:
    """What recent runs (7 days) did not scan, grouped by reason, and the latest failures."""
    recent = for_org(ImageScan, org).filter(run__created_at__gte=now - timedelta(days=7))
    not_scanned = recent.filter(status__in=["skipped", "failed"])
    grouped = (
        not_scanned.values("run__registry__name", "status", "reason")
        .annotate(n=Count("pk"))
        .order_by("run__registry__name", "-n")
    )
    failures = (
        recent.filter(status="failed")
        .select_related("run__registry")
        .order_by("-finished_at", "-pk")[:15]
    )
    totals = dict(recent.values_list("status").annotate(n=Count("pk")).order_by())
    return {"grouped": list(grouped[:40]), "failures": list(failures), "totals": totals}


def dashboard_context(org: Any, now: datetime) -> dict[str, Any]:
    """Everything the dashboard shows for ``org``; a fixed number of queries."""
    open_qs = _open_unaccepted(org, now)
    runs = for_org(ScanRun, org).select_related("registry", "actor")
    accepted = (
        finding_rows(for_org(Finding, org), now, org)
        .filter(status="open", is_accepted=True)
        .count()
    )
    return {
        "severity_counts": _severity_counts(open_qs),
        "per_registry": _per_registry(open_qs),
        "trend": _trend(org, now),
        "riskiest_images": _riskiest_images(open_qs),
        "riskiest_repositories": _riskiest_repositories(open_qs),
        "runs": list(runs[:10]),
        "failed_runs": runs.filter(
            status="failed", created_at__gte=now - timedelta(days=7)
        ).count(),
        "registries": for_org(Registry, org).count(),
        "coverage": _coverage(org, now),
        "accepted_count": accepted,
        "data_as_of": _data_as_of(),
    }


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request, "scans/dashboard.html", dashboard_context(request.organization, timezone.now())
    )


def _filtered_findings(request: HttpRequest) -> tuple[FindingFilter, QuerySet[Finding]]:
    org = request.organization
    base = finding_rows(for_org(Finding, org), timezone.now(), org)
    flt = FindingFilter(request.GET, queryset=base, org=request.organization)
    return flt, flt.qs


@require_GET
def finding_list(request: HttpRequest) -> HttpResponse:
    flt, qs = _filtered_findings(request)
    table = FindingTable(qs)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    accepted = finding_rows(
        for_org(Finding, request.organization), timezone.now(), request.organization
    )
    accepted_count = accepted.filter(status="open", is_accepted=True).count()
    return render(
        request,
        "scans/finding_list.html",
        {
            "filter": flt,
            "table": table,
            "accepted_count": accepted_count,
            "data_as_of": _data_as_of(),
        },
    )


@require_GET
def finding_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The filtered findings (all pages, priority order) as CSV (streamed) or JSON."""
    _, qs = _filtered_findings(request)
    rows = (finding_record(f) for f in qs.order_by("-priority", "pk").iterator(chunk_size=1000))
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="findings-{stamp}.csv"'
        return response
    response = StreamingHttpResponse(json_array(rows), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="findings-{stamp}.json"'
    return response


class AcceptanceForm(forms.Form):
    scope = forms.ChoiceField(
        choices=AcceptanceScope.choices, widget=forms.RadioSelect, initial="finding"
    )
    repository = forms.ModelChoiceField(queryset=Repository.objects.none(), required=False)
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), min_length=10)
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    expires_at = forms.DateField(
        label="Expires on", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The finding comes back after this day.",
    )  # fmt: skip

    def __init__(self, *args: Any, finding: Finding, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["repository"].queryset = Repository.objects.filter(
            tags__images=finding.image_id
        ).distinct()
        self.fields["owner"].queryset = (
            get_user_model()
            .objects.filter(org_groups__organization=org, profile__is_service_user=False)
            .distinct()
            .order_by("username")
        )

    def clean_expires_at(self) -> Any:
        day = self.cleaned_data["expires_at"]
        if day <= timezone.localdate():
            raise forms.ValidationError("Choose a day in the future.")
        if day > timezone.localdate() + timedelta(days=366):
            raise forms.ValidationError("Accept a risk for a year at most; renew it then.")
        return day

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("scope") == AcceptanceScope.REPOSITORY and not data.get("repository"):
            self.add_error("repository", "Choose the repository.")
        return data


def _vulnerability_context(request: HttpRequest, vuln: Vulnerability) -> dict[str, Any]:
    """Affected images and tags of the organization, and the upgrade advice."""
    affected = finding_rows(
        for_org(Finding, request.organization).filter(vulnerability=vuln),
        timezone.now(),
        request.organization,
    )
    affected = list(affected.order_by("status", "-priority")[:200])
    fixes = sorted(
        {(f.source_name or f.package_name, f.fixed_version) for f in affected if f.fixed_version}
    )
    return {"vuln": vuln, "affected": affected, "fixes": fixes, "data_as_of": _data_as_of()}


@require_GET
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_for_org_or_404(
        finding_rows(Finding.objects.all(), timezone.now(), request.organization), request, pk=pk
    )
    form = AcceptanceForm(
        finding=finding, org=request.organization,
        initial={"owner": request.user.pk, "expires_at": timezone.localdate() + timedelta(days=90)},
    )  # fmt: skip
    acceptances = (
        for_org(RiskAcceptance, request.organization)
        .filter(vulnerability=finding.vulnerability_id)
        .select_related("owner", "repository")
    )
    # The row's vulnerability has its long texts deferred (finding_rows); this page shows them.
    vuln = Vulnerability.objects.get(pk=finding.vulnerability_id)
    ctx = _vulnerability_context(request, vuln)
    return render(
        request,
        "scans/finding_detail.html",
        {**ctx, "finding": finding, "form": form, "acceptances": acceptances},
    )


@require_POST
def finding_accept(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_for_org_or_404(
        Finding.objects.select_related("image", "vulnerability"), request, pk=pk
    )
    if not request.is_org_admin:
        raise PermissionDenied("Only the organization's admins can accept risk.")
    form = AcceptanceForm(request.POST, finding=finding, org=request.organization)
    if not form.is_valid():
        messages.error(
            request,
            "The risk was not accepted: "
            + "; ".join(e for errs in form.errors.values() for e in errs),
        )
        return redirect("scans:finding_detail", pk=pk)
    data = dict(form.cleaned_data)
    # "Expires on <day>" means the end of that day where the person accepting it lives.
    end = datetime.combine(data.pop("expires_at"), datetime.max.time())
    expires = timezone.make_aware(end, request_time_zone(request))
    acceptance = accept_risk(finding, actor=request.user, expires_at=expires, **data)
    messages.success(
        request,
        f"Accepted {finding.vulnerability.osv_id} ({acceptance.get_scope_display().lower()}) until {acceptance.expires_at:%Y-%m-%d}.",
    )
    return redirect("scans:finding_list")


@require_GET
def vulnerability_detail(request: HttpRequest, osv_id: str) -> HttpResponse:
    vuln = Vulnerability.objects.filter(osv_id=osv_id).first()
    # Vulnerability records are shared data, but the page lists the organization's images:
    # without a finding in this organization there is nothing to show (and nothing to learn).
    if (
        vuln is None
        or not for_org(Finding, request.organization).filter(vulnerability=vuln).exists()
    ):
        raise Http404("No finding of this vulnerability in this organization.")
    return render(request, "scans/vulnerability_detail.html", _vulnerability_context(request, vuln))


@require_GET
def acceptance_list(request: HttpRequest) -> HttpResponse:
    rows = for_org(RiskAcceptance, request.organization).select_related(
        "registry", "vulnerability", "repository", "owner", "finding", "finding__image"
    )
    return render(
        request, "scans/acceptance_list.html", {"acceptances": rows[:500], "now": timezone.now()}
    )


@require_POST
def acceptance_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    acceptance = get_for_org_or_404(RiskAcceptance, request, pk=pk)
    if not request.is_org_admin:
        raise PermissionDenied("Only the organization's admins can revoke acceptances.")
    if acceptance.revoked_at is None:
        acceptance.revoked_at, acceptance.revoked_by = timezone.now(), request.user
        acceptance.save(update_fields=["revoked_at", "revoked_by"])
        messages.success(
            request,
            f"Revoked the acceptance of {acceptance.vulnerability.osv_id}; its findings are open again.",
        )
    return redirect("scans:acceptance_list")


@require_GET
def acceptance_openvex(request: HttpRequest) -> HttpResponse:
    doc = openvex_document(
        request.organization, author=request.user.get_username(), now=timezone.now()
    )
    response = HttpResponse(json.dumps(doc, indent=2), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="regscan-openvex.json"'
    return response


@require_GET
def image_list(request: HttpRequest) -> HttpResponse:
    flt = ImageFilter(
        request.GET, queryset=tag_rows(for_org(Tag, request.organization)), org=request.organization
    )
    table = TagTable(flt.qs)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    return render(request, "scans/image_list.html", {"filter": flt, "table": table})


@require_GET
def image_detail(request: HttpRequest, pk: int) -> HttpResponse:
    image = get_for_org_or_404(Image.objects.select_related("registry", "sbom"), request, pk=pk)
    tags = image.tags.select_related("repository").order_by("repository__name", "name")
    packages = image.sbom.packages.all() if image.sbom_id else Package.objects.none()
    layers = list(image.sbom.layer_digests) if image.sbom_id else []
    package_table = PackageTable(
        packages, layer_numbers={d: i + 1 for i, d in enumerate(layers)}, prefix="p-"
    )
    RequestConfig(request, paginate={"per_page": 50}).configure(package_table)
    findings = finding_rows(
        for_org(Finding, request.organization).filter(image=image, status="open"),
        timezone.now(),
        request.organization,
    )
    finding_table = ImageFindingTable(findings, prefix="f-")
    RequestConfig(request, paginate={"per_page": 50}).configure(finding_table)
    found = dict(findings.values_list("severity").annotate(n=Count("pk")).order_by())
    counts = [(sev, found[sev]) for sev in SEVERITIES if found.get(sev)]
    return render(
        request,
        "scans/image_detail.html",
        {
            "image": image,
            "tags": tags,
            "layers": layers,
            "packages": package_table,
            "findings": finding_table,
            "counts": counts,
        },
    )


def _image_report(image: Image) -> dict[str, Any]:
    """The image as a report of the CLI contract (``scanimage --format json``), packages only."""
    tags = list(image.tags.select_related("repository"))
    packages = image.sbom.packages.all()
    return {
        "image": image_reference(image) if tags else image.registry.name,
        "digest": image.digest,
        "platform": image.platform,
        "os": {"id": image.sbom.os_id, "version": image.sbom.os_version},
        "packages": [
            {
                "name": p.name,
                "version": p.version,
                "ecosystem": p.ecosystem,
                "purl": p.purl,
                "source_name": p.source_name,
                "source_version": p.source_version,
                "layer": p.layer_digest,
            }  # fmt: skip
            for p in packages
        ],
        "findings": [],
    }


@require_GET
def image_sbom(request: HttpRequest, pk: int) -> HttpResponse:
    """The image's SBOM as a CycloneDX JSON download (404 before the image has an SBOM)."""
    image = get_for_org_or_404(Image.objects.select_related("registry", "sbom"), request, pk=pk)
    if not image.sbom_id:
        raise Http404("This image has no SBOM yet.")
    from scans.sbom_export import to_cyclonedx

    response = HttpResponse(
        to_cyclonedx([_image_report(image)]), content_type="application/vnd.cyclonedx+json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{image.digest.replace(":", "-")}.cdx.json"'
    )
    return response


@require_GET
def scan_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One scan run: its counts, error and the per-image ledger (scanned, skipped, failed)."""
    run = get_for_org_or_404(ScanRun.objects.select_related("registry", "actor"), request, pk=pk)
    ledger = ImageScanTable(run.image_scans.all())
    RequestConfig(request, paginate={"per_page": 50}).configure(ledger)
    duration = (
        (run.finished_at - run.started_at).total_seconds()
        if run.finished_at and run.started_at
        else None
    )
    return render(
        request, "scans/scan_run_detail.html", {"run": run, "ledger": ledger, "duration": duration}
    )
