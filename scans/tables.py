"""Tables of the findings, images (tags), packages and scan activity pages (django-tables2).

Every table's queryset is built by a ``*_rows`` function next to it with the select_related,
prefetch and annotations its cells read, so rendering never queries per row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import django_tables2 as tables
from django.db.models import Count, Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from scans.columns import LocalTimeColumn, SeverityColumn, SeverityCountsColumn
from scans.models import Tag
from scans.models.triage import annotate_accepted
from scans.templatetags.scan_extras import SEVERITIES, short_digest

__all__ = [
    "EXPORT_FIELDS",
    "FindingTable",
    "ImageScanTable",
    "ImageFindingTable",
    "PackageTable",
    "TagTable",
    "csv_lines",
    "finding_record",
    "finding_rows",
    "image_reference",
    "json_array",
    "tag_rows",
]


# Where a push date came from when the registry has none (plain OCI registries): DESIGN.md
# asks the UI to say so.
PUSH_SOURCES = {
    "config": (
        "image created",
        "The registry keeps no push date: this is the image's creation time.",
    ),
    "first_seen": (
        "first seen",
        "The registry keeps no push date: this is when regscan first saw it.",
    ),
}


HEAVY_VULNERABILITY_FIELDS = ("details", "references", "database_specific", "related", "upstream")


def finding_rows(qs: QuerySet, now: datetime, org: Any = None) -> QuerySet:
    """Findings with what their cells read: vulnerability, image and registry (joined), the
    image's tags with repositories (one prefetch), and ``is_accepted`` (one EXISTS)."""
    tags = Prefetch("image__tags", queryset=Tag.objects.select_related("repository"))
    qs = qs.select_related("vulnerability", "image", "image__registry").prefetch_related(tags)
    # Rows never show the advisory's long text: keep it out of the sort of every open finding.
    qs = qs.defer(*(f"vulnerability__{name}" for name in HEAVY_VULNERABILITY_FIELDS))
    return annotate_accepted(qs, now, org)


def image_reference(image: Any) -> str:
    """``registry/repository:tag`` of an image (its first tag), else the short digest.

    Reads the prefetched ``image.tags`` (no query when prefetched)."""
    tags = sorted(image.tags.all(), key=lambda t: (t.name != "latest", t.repository.name, t.name))
    if not tags:
        return f"{image.registry.name}@{short_digest(image.digest)}"
    return f"{image.registry.name}/{tags[0].repository.name}:{tags[0].name}"


class FindingTable(tables.Table):
    priority = tables.Column(verbose_name="Priority", attrs={"td": {"class": "num"}})
    severity = SeverityColumn(verbose_name="Severity")
    vulnerability = tables.Column(
        verbose_name="Vulnerability",
        accessor="vulnerability__osv_id",
        order_by=("vulnerability__osv_id",),
    )
    package = tables.Column(
        verbose_name="Package",
        accessor="package_name",
        order_by=("package_name", "package_version"),
    )
    fixed_version = tables.Column(verbose_name="Fix", empty_values=())
    kev = tables.Column(verbose_name="KEV", attrs={"td": {"class": "center"}})
    epss = tables.Column(verbose_name="EPSS", attrs={"td": {"class": "num"}}, empty_values=())
    images_affected = tables.Column(verbose_name="Images", attrs={"td": {"class": "num"}})
    image = tables.Column(
        verbose_name="Image",
        accessor="image__digest",
        order_by=("image__registry__name", "image__digest"),
    )
    first_seen = LocalTimeColumn(verbose_name="First seen", date_only=True)
    status = tables.Column(verbose_name="Status", empty_values=())

    class Meta:
        attrs = {"class": "table findings-table", "id": "findings-table"}
        row_attrs = {"data-finding": lambda record: record.pk}
        empty_text = "No findings match these filters."
        order_by = ("-priority",)

    def render_priority(self, record: Any) -> SafeString:
        comps = record.priority_components or {}
        title = ", ".join(f"{k}: {v}" for k, v in comps.items()) if isinstance(comps, dict) else ""
        return format_html(
            '<span class="prio" title="{}">{}</span>', title, f"{record.priority:.1f}"
        )

    def render_severity(self, record: Any) -> SafeString:
        score = f"{record.cvss_score:.1f}" if record.cvss_score is not None else ""
        return format_html(
            '{} <span class="cvss">{}</span>', SeverityColumn().render(record.severity), score
        )

    def render_vulnerability(self, record: Any) -> SafeString:
        vuln = record.vulnerability
        cves = [
            a
            for a in (record.aliases or vuln.aliases or [])
            if a.startswith("CVE-") and a != vuln.osv_id
        ]
        return format_html(
            '<a href="{}" class="vuln-id">{}</a>{}<span class="summary">{}</span>',
            reverse("scans:finding_detail", args=[record.pk]),
            vuln.osv_id,
            format_html(' <span class="muted small">{}</span>', ", ".join(cves[:2]))
            if cves
            else "",
            (vuln.summary or "")[:90],
        )

    def render_package(self, record: Any) -> SafeString:
        return format_html(
            '<span class="pkg">{}</span> <code class="ver">{}</code>',
            record.package_name,
            record.package_version,
        )

    def render_fixed_version(self, record: Any) -> SafeString:
        if record.fixed_version:
            return format_html(
                '<span class="fix yes" title="Fixed in {0}">→ <code>{0}</code></span>',
                record.fixed_version,
            )
        return format_html('<span class="fix no">{}</span>', "no fix")

    def render_kev(self, value: bool) -> SafeString:
        return (
            format_html('<span class="kev">{}</span>', "KEV")
            if value
            else format_html('<span class="muted">{}</span>', "–")
        )

    def render_epss(self, record: Any) -> str:
        return f"{record.epss * 100:.1f}%" if record.epss is not None else "–"

    def render_image(self, record: Any) -> SafeString:
        return format_html(
            '<a href="{}" class="imgref">{}</a>',
            reverse("scans:image_detail", args=[record.image_id]),
            image_reference(record.image),
        )

    def render_status(self, record: Any) -> SafeString:
        if getattr(record, "is_accepted", False):
            return format_html('<span class="status status-accepted">{}</span>', "Accepted")
        return format_html(
            '<span class="status status-{}">{}</span>', record.status, record.get_status_display()
        )


class ImageFindingTable(FindingTable):
    """Findings of one image: the image column is implied by the page."""

    class Meta(FindingTable.Meta):
        exclude = ("image", "images_affected")


def tag_rows(qs: QuerySet) -> QuerySet:
    """Tags with repository and registry joined, their images prefetched (one query), and
    open findings per severity counted over the tag's images."""
    open_q = Q(images__findings__status="open")
    counts = {
        f"open_{sev}": Count(
            "images__findings", filter=open_q & Q(images__findings__severity=sev), distinct=True
        )
        for sev in SEVERITIES
    }
    return (
        qs.select_related("repository", "repository__registry")
        .prefetch_related("images")
        .annotate(**counts)
    )


class TagTable(tables.Table):
    registry = tables.Column(accessor="repository__registry__name", verbose_name="Registry")
    repository = tables.Column(accessor="repository__name", verbose_name="Repository")
    name = tables.Column(verbose_name="Tag")
    digest = tables.Column(verbose_name="Digest / platforms", empty_values=(), orderable=False)
    pushed_at = LocalTimeColumn(verbose_name="Pushed")
    last_scanned = LocalTimeColumn(verbose_name="Last scanned")
    findings = SeverityCountsColumn()

    class Meta:
        attrs = {"class": "table images-table", "id": "images-table"}
        empty_text = "No images scanned yet."
        order_by = ("repository", "-pushed_at")

    def render_pushed_at(self, record: Any, table: tables.Table) -> SafeString:
        when = LocalTimeColumn().render(record.pushed_at, table)
        note = PUSH_SOURCES.get(record.pushed_at_source)
        if not note:
            return when
        return format_html(
            '{} <span class="muted small" title="{}">({})</span>', when, note[1], note[0]
        )

    def render_name(self, record: Any) -> SafeString:
        images = list(record.images.all())
        target = reverse("scans:image_detail", args=[images[0].pk]) if images else ""
        if not target:
            return format_html("<code>{}</code>", record.name)
        return format_html('<a href="{}"><code>{}</code></a>', target, record.name)

    def render_digest(self, record: Any) -> SafeString:
        images = sorted(record.images.all(), key=lambda i: i.platform)
        if not images:
            return format_html('<code class="muted">{}</code>', short_digest(record.digest))
        return format_html_join(
            "",
            '<a class="platform" href="{}" title="{}"><code>{}</code> <span class="muted">{}</span></a>',
            (
                (
                    reverse("scans:image_detail", args=[i.pk]),
                    i.digest,
                    short_digest(i.digest),
                    i.platform,
                )
                for i in images
            ),
        )


class PackageTable(tables.Table):
    name = tables.Column(verbose_name="Package")
    version = tables.Column(verbose_name="Version")
    ecosystem = tables.Column(verbose_name="Type")
    source_name = tables.Column(verbose_name="Source package", empty_values=())
    layer_digest = tables.Column(verbose_name="Layer", empty_values=())
    purl = tables.Column(verbose_name="purl")

    class Meta:
        attrs = {"class": "table compact packages-table", "id": "packages-table"}
        empty_text = "No packages found in this image."
        order_by = ("name",)

    def __init__(
        self, *args: Any, layer_numbers: dict[str, int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.layer_numbers = layer_numbers or {}

    def render_source_name(self, record: Any) -> str:
        if not record.source_name:
            return "–"
        return f"{record.source_name} {record.source_version}".strip()

    def render_layer_digest(self, record: Any) -> SafeString:
        if not record.layer_digest:
            return format_html('<span class="muted">{}</span>', "–")
        number = self.layer_numbers.get(record.layer_digest)
        label = f"#{number} " if number else ""
        return format_html(
            '<span title="{}">{}<code>{}</code></span>',
            record.layer_digest,
            label,
            short_digest(record.layer_digest),
        )

    def render_purl(self, value: str) -> SafeString:
        return format_html('<code class="purl">{}</code>', value)


class ImageScanTable(tables.Table):
    """The ledger of one run: every selected or skipped tag in scan order, and what happened."""

    order = tables.Column(verbose_name="#", attrs={"td": {"class": "num"}})
    repository = tables.Column()
    tag = tables.Column()
    digest = tables.Column(verbose_name="Digest", empty_values=())
    platform = tables.Column(empty_values=())
    status = tables.Column()
    reason = tables.Column(verbose_name="Reason / error", empty_values=(), orderable=False)
    finished_at = LocalTimeColumn(verbose_name="Finished")

    class Meta:
        attrs = {"class": "table compact ledger-table", "id": "ledger-table"}
        row_attrs = {"data-status": lambda record: record.status}
        empty_text = "This run selected no tags."
        order_by = ("order",)

    def render_tag(self, record: Any) -> SafeString:
        if record.image_id:
            url = reverse("scans:image_detail", args=[record.image_id])
            return format_html('<a href="{}"><code>{}</code></a>', url, record.tag)
        return format_html("<code>{}</code>", record.tag)

    def render_digest(self, record: Any) -> SafeString:
        return format_html('<code title="{}">{}</code>', record.digest, short_digest(record.digest))

    def render_status(self, record: Any) -> SafeString:
        css = {"scanned": "ok", "reused": "ok", "failed": "bad", "skipped": "none"}.get(
            record.status, "running"
        )
        return format_html(
            '<span class="status status-{}">{}</span>', css, record.get_status_display()
        )

    def render_reason(self, record: Any) -> SafeString:
        if record.error:
            return format_html('<span class="reason">{}</span>', record.error)
        return format_html('<span class="muted">{}</span>', record.reason or "")


# --- Exports (the CLI's finding objects, DESIGN.md) ---

EXPORT_FIELDS = [
    "image", "digest", "registry", "package", "version", "ecosystem", "purl", "vulnerability",
    "aliases", "severity", "cvss_score", "fixed_version", "status", "kev", "epss", "priority",
    "first_seen", "resolved_at", "accepted",
]  # fmt: skip


def finding_record(finding: Any) -> dict[str, Any]:
    """A finding as the CLI's finding object (DESIGN.md) plus priority and acceptance."""
    return {
        "image": image_reference(finding.image),
        "digest": finding.image.digest,
        "registry": finding.image.registry.name,
        "package": finding.package_name,
        "version": finding.package_version,
        "ecosystem": finding.ecosystem,
        "purl": finding.purl,
        "vulnerability": finding.vulnerability.osv_id,
        "aliases": list(finding.aliases or finding.vulnerability.aliases or []),
        "severity": finding.severity,
        "cvss_score": finding.cvss_score,
        "fixed_version": finding.fixed_version,
        "status": finding.status,
        "kev": finding.kev,
        "epss": finding.epss,
        "priority": round(finding.priority, 3),
        "first_seen": finding.first_seen.isoformat() if finding.first_seen else None,
        "resolved_at": finding.resolved_at.isoformat() if finding.resolved_at else None,
        "accepted": bool(getattr(finding, "is_accepted", False)),
    }


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    """Neutralize text a spreadsheet would run as a formula (package names come from images)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    for row in rows:
        row["aliases"] = " ".join(row["aliases"])
        yield writer.writerow([_cell(row[f]) for f in EXPORT_FIELDS])


def json_array(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """A JSON array written item by item, so a large export never sits in memory whole."""
    yield "["
    for i, row in enumerate(rows):
        yield ("," if i else "") + "\n" + json.dumps(row)
    yield "\n]\n"
