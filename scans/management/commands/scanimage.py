"""``manage.py scanimage REF``: scan one image from any registry (DESIGN.md CLI contract).

Pulls the manifest (every platform of an index unless ``--platform``), streams the layers,
builds the SBOM and, once the vulnerability database is installed, its findings. The registry
is recorded as a Public/Manual occurrence unless an integration covers it.
Exit codes: 0 ok, 1 ``--fail-on`` met or a platform failed, 2 bad arguments or a reference that
does not exist there (repository, tag, digest, platform), 3 nothing could
be scanned (registry unreachable, auth refused, hostile image); the reason goes to stderr.
"""

from __future__ import annotations

import json
import re
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.services import org_for_command
from integrations.cli import refuse_password_argument
from integrations.providers.base import ProviderError, UnknownReference
from scans import services
from scans.sbom_export import SEVERITY_ORDER, to_cyclonedx, to_sarif

FORMATS = ("table", "json", "cyclonedx", "sarif")
FAIL_ON = ("low", "medium", "high", "critical")
PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")


def _bad(message: str) -> CommandError:
    return CommandError(message, returncode=2)


class Command(BaseCommand):
    help = "Scan one image (REF like nginx, ghcr.io/org/app:1.2 or host:5000/repo@sha256:...)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("ref", metavar="REF")
        parser.add_argument("--username", default="", metavar="U")
        parser.add_argument(
            "--password-stdin", action="store_true", help="Read the password/token from stdin"
        )
        refuse_password_argument(parser)
        parser.add_argument("--ca-bundle", default="", metavar="FILE", help="PEM CAs to trust")
        parser.add_argument(
            "--insecure-registry",
            action="store_true",
            help="Skip TLS verification; a host:port registry without TLS is reached over "
            "plain http (lab registries only)",
        )
        parser.add_argument("--platform", default=None, metavar="OS/ARCH")
        parser.add_argument("--format", choices=FORMATS, default="table")
        parser.add_argument("--json", action="store_true", help="Same as --format json")
        parser.add_argument(
            "--fail-on",
            choices=FAIL_ON,
            metavar="SEVERITY",
            help=", ".join(FAIL_ON) + " (a known-exploited vulnerability meets any threshold)",
        )
        parser.add_argument("--output", metavar="FILE", help="Write the report here, not stdout")
        parser.add_argument("--org", help="Organization (default: the only one)")

    def handle(self, *args: Any, **opts: Any) -> None:
        org = org_for_command(opts["org"])
        password = self._password(opts)
        _check_files(opts)
        try:
            results = services.scan_reference(
                org,
                opts["ref"],
                username=opts["username"],
                password=password,
                ca_bundle=opts["ca_bundle"],
                insecure=opts["insecure_registry"],
                platform=opts["platform"],
            )
        except ValueError as e:
            raise _bad(str(e)) from None
        except UnknownReference as e:  # no such repository, tag or platform: bad input
            raise _bad(f"Could not scan {opts['ref']}: {e}") from None
        except ProviderError as e:
            raise CommandError(f"Could not scan {opts['ref']}: {e}", returncode=3) from None
        reports = [_report(r) for r in results]
        self._emit(reports, "json" if opts["json"] else opts["format"], opts["output"])
        self._exit(results, reports, opts["fail_on"])

    def _password(self, opts: dict) -> str:
        if not opts["password_stdin"]:
            return ""
        if not opts["username"]:
            raise _bad("--password-stdin needs --username.")
        return sys.stdin.readline().rstrip("\r\n")

    def _emit(self, reports: list[dict], fmt: str, output: str | None) -> None:
        if fmt == "json":
            text = json.dumps(reports, indent=2)
        elif fmt == "cyclonedx":
            text = to_cyclonedx([r for r in reports if not r.get("error")])
        elif fmt == "sarif":
            text = to_sarif(reports)
        else:
            text = _table(reports)
        if output:
            Path(output).write_text(text + "\n")
            self.stderr.write(f"Report written to {output}.")
        else:
            self.stdout.write(text)

    def _exit(self, results: list, reports: list[dict], fail_on: str | None) -> None:
        failed = [r for r in results if r.error]
        for r in results:
            for where, why in r.skipped:
                self.stderr.write(f"Skipped {where}: {why}")
            if r.error:
                self.stderr.write(f"{r.reference.name} ({r.platform or r.digest}): {r.error}")
        for report in reports:
            for warning in report["warnings"]:
                self.stderr.write(f"{report['image']} ({report['platform']}): warning: {warning}")
        if services.vulnerability_data_as_of() is None:
            self.stderr.write(
                "No vulnerability data imported yet (run importvulns): packages only."
            )
        if results and len(failed) == len(results):
            raise CommandError("No image could be scanned (see above).", returncode=3)
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} platforms failed.", returncode=1)
        if fail_on and _worst(reports) >= SEVERITY_ORDER[fail_on]:
            raise CommandError(f"Findings at or above {fail_on} (--fail-on).", returncode=1)


def _check_files(opts: dict) -> None:
    """Refuse unusable --ca-bundle, --output and --platform before pulling anything."""
    if opts["ca_bundle"] and not Path(opts["ca_bundle"]).is_file():
        raise _bad(f"--ca-bundle {opts['ca_bundle']!r} is not a readable file.")
    if opts["output"] and not Path(opts["output"]).resolve().parent.is_dir():
        raise _bad(f"--output {opts['output']!r}: its directory does not exist.")
    if opts["platform"] and not PLATFORM.match(opts["platform"]):
        raise _bad(f"--platform {opts['platform']!r} is not like linux/amd64 or linux/arm64/v8.")


def _report(result: services.ImageResult) -> dict:
    """The CLI contract's per-platform object (plus ``error`` and ``warnings``)."""
    image = result.image
    sbom = image.sbom if image else None
    findings, coverage = services.findings_for(image, result.reference.name) if image else ([], [])
    report: dict = {
        "image": result.reference.name,
        "digest": result.digest,
        "platform": result.platform,
        "os": {"id": sbom.os_id, "version": sbom.os_version} if sbom else {"id": "", "version": ""},
        "packages": [_package(p) for p in sbom.packages.all()] if sbom else [],
        "findings": findings,
        "warnings": (list(sbom.warnings) if sbom else []) + coverage,
    }
    if result.error:
        report["error"] = result.error
    return report


def _package(p) -> dict:
    return {
        "name": p.name,
        "version": p.version,
        "ecosystem": p.ecosystem,
        "purl": p.purl,
        "source_name": p.source_name,
        "source_version": p.source_version,
        "layer": p.layer_digest,
    }


def _gate_level(finding: dict) -> int:
    """A finding's level for ``--fail-on``: its severity, except that a vulnerability known to
    be exploited (CISA KEV) meets every threshold, rated or not (Debian's DSA records, for one,
    carry no severity, and "known exploited" is exactly what a gate must stop)."""
    if finding.get("kev"):
        return SEVERITY_ORDER["critical"]
    return SEVERITY_ORDER.get(str(finding.get("severity") or "unknown").lower(), 0)


def _worst(reports: list[dict]) -> int:
    return max((_gate_level(f) for r in reports for f in r["findings"]), default=-1)


def _table(reports: list[dict]) -> str:
    lines = []
    for r in reports:
        os_text = f"{r['os']['id']} {r['os']['version']}".strip() or "unknown OS"
        lines.append(f"{r['image']} {r['platform']} {r['digest']} ({os_text})")
        if r.get("error"):
            lines.append(f"  FAILED: {r['error']}")
            continue
        width = max((len(p["name"]) for p in r["packages"]), default=4)
        lines.append(f"  {'NAME':<{width}}  {'VERSION':<30}  ECOSYSTEM")
        for p in r["packages"]:
            lines.append(f"  {p['name']:<{width}}  {p['version']:<30}  {p['ecosystem']}")
        lines.append(f"  {len(r['packages'])} packages, {len(r['findings'])} findings")
        for f in r["findings"]:
            lines.append(
                f"  {f.get('severity', ''):<9} {f['vulnerability']:<20} {f['package']} "
                f"{f['version']} -> {f.get('fixed_version') or 'no fix'}"
            )
    return "\n".join(lines)
