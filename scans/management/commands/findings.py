"""List findings, for scripts and people.

    python manage.py findings --registry hub --severity high --format csv

Filters: ``--registry NAME``, ``--image REF`` (``[registry/]repo[:tag]`` or a digest),
``--severity S`` (that severity or worse), ``--status open|resolved|all`` (default open),
``--org ORG`` (default: every organization). Output: one JSON document (a list of finding
objects, DESIGN.md keys) or CSV with the same columns, on stdout.
Exit codes: 0 listed (also when empty); 2 bad arguments (unknown organization or registry).
"""

from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Prefetch, Q, QuerySet

from accounts.models import Organization
from integrations.models import Registry
from integrations.occurrences import registry_host
from scans.models import Tag
from scans.vulndb.models import Finding

SEVERITIES = ["critical", "high", "medium", "low", "unknown"]
COLUMNS = [
    "image",
    "digest",
    "package",
    "version",
    "ecosystem",
    "purl",
    "source_name",
    "vulnerability",
    "aliases",
    "severity",
    "cvss_score",
    "fixed_version",
    "status",
    "kev",
    "kev_due",
    "epss",
    "priority",
    "first_seen",
    "resolved_at",
    "registry",
    "organization",
]


class Command(BaseCommand):
    help = "List vulnerability findings (JSON or CSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--registry", help="registry (integration) name")
        parser.add_argument("--image", help="[registry/]repository[:tag] or sha256:digest")
        parser.add_argument(
            "--severity", type=str.lower, choices=SEVERITIES, help="this severity or worse"
        )
        parser.add_argument("--status", choices=["open", "resolved", "all"], default="open")
        parser.add_argument("--org", help="organization name (default: all)")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--json", dest="as_json", action="store_true", help="JSON output")

    def handle(self, *args: Any, **opts: Any) -> None:
        rows = [_record(f) for f in _query(opts)]
        if opts["format"] == "csv" and not opts["as_json"]:
            writer = csv.DictWriter(self.stdout, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "aliases": " ".join(row["aliases"])})
        else:
            self.stdout.write(json.dumps(rows, indent=2))
        self.stderr.write(f"{len(rows)} findings")


def _query(opts: dict[str, Any]) -> QuerySet[Finding]:
    qs = Finding.objects.all()
    if opts.get("org"):
        org = Organization.objects.filter(name=opts["org"]).first()
        if org is None:
            raise CommandError(f"no organization named {opts['org']!r}", returncode=2)
        qs = qs.filter(image__registry__organization=org)
    if opts.get("registry"):
        registries = Registry.objects.filter(name=opts["registry"])
        if opts.get("org"):
            registries = registries.filter(organization__name=opts["org"])
        if not registries.exists():
            raise CommandError(f"no registry named {opts['registry']!r}", returncode=2)
        qs = qs.filter(image__registry__in=registries)
    if opts.get("image"):
        ids = Finding.objects.filter(_image_filter(opts["image"])).values("pk")
        qs = qs.filter(pk__in=ids)  # a subquery: several matching tags never duplicate rows
    if opts.get("severity"):
        # "unknown" selects exactly the unrated findings; the others select that rating or worse.
        worse = SEVERITIES[: SEVERITIES.index(opts["severity"]) + 1]
        qs = qs.filter(severity__in=["unknown"] if opts["severity"] == "unknown" else worse)
    if opts["status"] != "all":
        qs = qs.filter(status=opts["status"])
    tags = Prefetch("image__tags", queryset=Tag.objects.select_related("repository"))
    return (
        qs.select_related("vulnerability", "image__registry__organization")
        .prefetch_related(tags)
        .order_by("-priority", "package_name", "vulnerability__osv_id", "pk")
    )


def _image_filter(ref: str) -> Q:
    """``sha256:...`` (or ``...@sha256:...``) matches the digest; else ``repo[:tag]`` with an
    optional leading registry host or name."""
    if "sha256:" in ref:
        return Q(image__digest="sha256:" + ref.split("sha256:", 1)[1])
    path, tag = ref, ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = ref.rsplit(":", 1)
    cond = Q(image__tags__repository__name=path)
    if "/" in path:
        host, _, repo = path.partition("/")
        cond |= Q(image__tags__repository__name=repo) & (
            Q(image__registry__name=host) | Q(image__registry__url__icontains=host)
        )
    if tag:
        cond &= Q(image__tags__name=tag)
    return cond


def _host(registry: Registry) -> str:
    """The registry's canonical host (``registry_host``), else its name."""
    try:
        return registry_host(registry.url) if registry.url else registry.name
    except ValueError:
        return registry.name


def _image_ref(finding: Finding) -> str:
    image = finding.image
    tags = sorted(image.tags.all(), key=lambda t: (t.name != "latest", t.repository.name, t.name))
    if not tags:
        return f"{_host(image.registry)}@{image.digest}"
    return f"{_host(image.registry)}/{tags[0].repository.name}:{tags[0].name}"


def _record(finding: Finding) -> dict[str, Any]:
    return {
        "image": _image_ref(finding),
        "digest": finding.image.digest,
        "package": finding.package_name,
        "version": finding.package_version,
        "ecosystem": finding.ecosystem,
        "purl": finding.purl,
        "source_name": finding.source_name,
        "vulnerability": finding.vulnerability.osv_id,
        "aliases": list(finding.aliases),
        "severity": finding.severity,
        "cvss_score": finding.cvss_score,
        "fixed_version": finding.fixed_version,
        "status": finding.status,
        "kev": finding.kev,
        "kev_due": finding.kev_due.isoformat() if finding.kev_due else None,
        "epss": finding.epss,
        "priority": finding.priority,
        "first_seen": finding.first_seen.isoformat(),
        "resolved_at": finding.resolved_at.isoformat() if finding.resolved_at else None,
        "registry": finding.image.registry.name,
        "organization": finding.image.registry.organization.name,
    }
