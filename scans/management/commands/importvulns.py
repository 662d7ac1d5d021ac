"""Import vulnerability data, then re-match stored SBOMs (no image is pulled).

    python manage.py importvulns all.zip debian.osv.jsonl https://.../cisa_kev.json --json

Sources: OSV ``.json``/``.jsonl`` files, directories, ``.zip`` archives, ``http(s)://`` URLs of
those, the CISA KEV JSON and the FIRST EPSS CSV (gzip or plain); the format is detected.
Exit codes (DESIGN.md CLI contract): 0 imported; 1 some sources imported, others could not be
read; 2 a source is not a supported format (it is named); 3 nothing could be read.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scans.vulndb.api import import_sources


class Command(BaseCommand):
    help = "Import OSV records, the CISA KEV catalog or FIRST EPSS scores; re-match SBOMs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sources", nargs="+", metavar="SOURCE", help="path or URL")
        parser.add_argument("--json", dest="as_json", action="store_true", help="JSON output")
        parser.add_argument("--format", choices=["table", "json"], default="table")
        parser.add_argument(
            "--no-rematch", action="store_true", help="import only; do not re-match SBOMs"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        report = import_sources(opts["sources"], rematch=not opts["no_rematch"])
        summary = report.as_dict()
        if opts["as_json"] or opts["format"] == "json":
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self._print(summary)
        for error in summary["errors"]:
            self.stderr.write(f"not imported: {error}")
        if report.format_errors:
            raise CommandError("some sources are not in a supported format", returncode=2)
        if report.unavailable:
            code = 3 if not report.sources else 1
            raise CommandError("some sources could not be read", returncode=code)

    def _print(self, summary: dict[str, Any]) -> None:
        for s in summary["sources"]:
            self.stderr.write(
                f"{s['source']}: {s['kind']} {s['records']} records, {s['created']} new, "
                f"{s['updated']} updated, {s['skipped']} unchanged"
            )
            for path in s.get("ignored", []):
                self.stderr.write(f"{path}: skipped (not an OSV record, KEV catalog or EPSS CSV)")
        rematch = summary["rematch"]
        if rematch:
            self.stderr.write(
                f"re-matched {rematch['sboms']} SBOMs of {rematch['images']} images: "
                f"{rematch['opened']} findings opened, {rematch['resolved']} resolved"
            )
        self.stderr.write(f"vulnerability data as of {summary['data_as_of']}")
