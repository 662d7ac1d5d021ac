"""Record the images running in a Kubernetes cluster and queue scans of their digests.

    kubectl get pods -A -o json | python manage.py k8sdiscover - --cluster prod

Exit codes (DESIGN.md CLI contract): 0 done; 1 done, but some image references were malformed
and skipped; 2 bad arguments or input (not Kubernetes JSON, unknown organization).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Organization
from accounts.services import org_for_command
from scans.k8s import (
    DiscoveryResult,
    Extraction,
    InputError,
    extract_containers,
    load_document,
    record_discovery,
)
from scans.models import RunningImage


class Command(BaseCommand):
    help = (
        "Read `kubectl get pods -A -o json` (or Deployments, DaemonSets, StatefulSets, Jobs, "
        "CronJobs, or a List) and record what runs in the cluster."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE|-", help="kubectl JSON file, or - for stdin")
        parser.add_argument(
            "--cluster", default="default", help="cluster name (what runs is tracked per cluster)"
        )
        parser.add_argument("--org", help="organization (optional when there is only one)")
        parser.add_argument(
            "--no-scan", action="store_true", help="record only; queue no image scans"
        )
        parser.add_argument("--json", dest="as_json", action="store_true", help="JSON output")
        parser.add_argument(
            "--format", choices=["table", "json"], default="table", help="output format"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        as_json = opts["as_json"] or opts["format"] == "json"
        cluster = opts["cluster"].strip()
        if not cluster:
            raise CommandError("--cluster must not be empty", returncode=2)
        org = org_for_command(opts.get("org"))
        text = _read(opts["file"], opts.get("stdin"))
        try:
            extraction = extract_containers(load_document(text))
        except InputError as exc:
            raise CommandError(f"{_label(opts['file'])}: {exc}", returncode=2) from None
        result = record_discovery(
            org, cluster, extraction.containers, queue_scans=not opts["no_scan"]
        )
        report = _report(org, cluster, extraction, result)
        for error in extraction.errors:
            self.stderr.write(f"skipped: {_describe(error)}")
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._print_table(report)
        problems = []
        if extraction.errors:
            problems.append(
                f"{len(extraction.errors)} container image(s) could not be read and were "
                "skipped; the rest was recorded"
            )
        failed = report["counts"]["scans_failed"]
        if failed:
            problems.append(f"{failed} image scan(s) failed (see scan_error)")
        if problems:
            raise CommandError("; ".join(problems), returncode=1)

    def _print_table(self, report: dict[str, Any]) -> None:
        for image in report["images"]:
            self.stdout.write(
                f"{image['namespace']:<20} {image['workload']:<40} {image['container']:<20} "
                f"{image['reference']} {image['digest'] or '-'} [{image['scan'] or '-'}]"
            )
        counts = report["counts"]
        self.stderr.write(
            f"cluster {report['cluster']}: {counts['images']} running image(s) "
            f"({counts['new']} new), {counts['no_longer_running']} no longer running, "
            f"{counts['registries']} registr(y/ies), {counts['queued']} scan(s) queued"
        )


def _read(path: str, stdin: Any) -> str:
    if path == "-":
        return (stdin or sys.stdin).read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}", returncode=2) from None


def _label(path: str) -> str:
    return "stdin" if path == "-" else path


def _describe(error: dict[str, str]) -> str:
    where = "/".join(p for p in (error.get("namespace"), error.get("object")) if p)
    container = f" container {error['container']!r}" if error.get("container") else ""
    image = f" image {error['image']!r}" if "image" in error else ""
    return f"{where}{container}{image}: {error['error']}"


def _report(
    org: Organization, cluster: str, extraction: Extraction, result: DiscoveryResult
) -> dict[str, Any]:
    # Read the scan states after queueing: with a synchronous queue the scans have finished.
    states = {
        pk: (status, error)
        for pk, status, error in RunningImage.objects.filter(
            pk__in=[row.pk for row, _ in result.images]
        ).values_list("pk", "scan_status", "scan_error")
    }
    images = [
        {
            "reference": row.reference,
            "registry": row.registry.name,
            "registry_host": row.registry.url,
            "registry_access": row.registry.access,
            "repository": row.repository,
            "tag": row.tag,
            "digest": row.digest,
            "image_id": row.image_id,
            "namespace": row.namespace,
            "workload": row.workload,
            "workload_kind": row.workload_kind,
            "workload_name": row.workload_name,
            "container": row.container_name,
            "container_type": row.container_type,
            "new": created,
            "scan": states[row.pk][0],
            "scan_error": states[row.pk][1],
        }
        for row, created in result.images
    ]
    gone = [
        {
            "reference": row.reference,
            "digest": row.digest,
            "namespace": row.namespace,
            "workload": row.workload,
            "container": row.container_name,
        }
        for row in result.gone
    ]
    registries = [
        {"name": r.name, "host": r.url, "access": r.access, "discovered_via": r.discovered_via}
        for r in result.registries
    ]
    return {
        "organization": org.name,
        "cluster": cluster,
        "images": images,
        "no_longer_running": gone,
        "registries": registries,
        "errors": extraction.errors,
        "ignored": extraction.ignored,
        "counts": {
            "images": len(images),
            "new": sum(1 for i in images if i["new"]),
            "no_longer_running": len(gone),
            "registries": len(registries),
            "queued": len(result.queued),
            # Scans queued by this run that already failed (a synchronous queue runs them inline).
            "scans_failed": sum(1 for pk in result.queued if states[pk][0] == "failed"),
            "errors": len(extraction.errors),
        },
    }
