"""``manage.py runscan [--registry NAME ...] [--all] [--wait] [--json]``: same as Scan Now.

Without ``--wait`` the runs go to the django-q2 cluster. With ``--wait`` each run is executed to
the end in this process (the task functions called inline, images one after another).
A registry already being scanned: without ``--wait`` nothing starts (exit 1); with ``--wait``
this process joins that run (takes it over when still queued, scans pending images alongside the
workers) and reports it.
Exit codes: 0 all runs succeeded (or were queued), 1 an image failed, a registry was already
being scanned (without ``--wait``) or the wait ran out, or some registries could not be listed
while others were, 2 bad arguments, 3 no registry could be listed (unreachable, auth refused).
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.services import ensure_service_user, org_for_command
from integrations.models import Registry
from scans import orchestration
from scans.models import ScanRun, ScanRunStatus, ScanTrigger


class Command(BaseCommand):
    help = "Scan registries now (the same as Scan Now)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--registry", action="extend", nargs="+", default=[], metavar="NAME")
        parser.add_argument("--all", action="store_true", help="Every enabled integration")
        parser.add_argument("--org", help="Organization (default: the only one)")
        parser.add_argument("--wait", action="store_true", help="Run to the end in this process")
        parser.add_argument("--json", action="store_true", help="One JSON document on stdout")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def _registries(self, opts: dict) -> list[Registry]:
        qs = Registry.objects.select_related("organization")
        if opts["org"]:
            qs = qs.filter(organization=org_for_command(opts["org"]))
        if opts["all"]:
            return list(qs.filter(enabled=True).order_by("organization__name", "name"))
        if not opts["registry"]:
            raise CommandError("Give --registry NAME ... or --all.", returncode=2)
        found = []
        for name in opts["registry"]:
            matches = list(qs.filter(name=name))
            if len(matches) != 1:
                if matches:
                    why = f"More than one integration is named {name!r}: give --org."
                else:
                    why = f"No integration named {name!r}."
                raise CommandError(why, returncode=2)
            found.append(matches[0])
        return found

    def handle(self, *args: Any, **opts: Any) -> None:
        docs, codes = [], [0]
        for registry in self._registries(opts):
            doc, code = self._scan(registry, wait=opts["wait"])
            docs.append(doc)
            codes.append(code)
        if opts["json"] or opts["format"] == "json":
            self.stdout.write(json.dumps(docs, indent=2))
        code = max(codes)
        if code == 3 and {0, 1} & set(codes[1:]):
            code = 1  # some registries were scanned: the work ran, something failed
        if code:
            raise CommandError("Some scans did not succeed (see above).", returncode=code)

    def _scan(self, registry: Registry, *, wait: bool) -> tuple[dict, int]:
        actor = ensure_service_user(registry.organization)
        run, message = orchestration.request_scan(
            registry, trigger=ScanTrigger.CLI, actor=actor, enqueue=not wait
        )
        self.stderr.write(message)
        if run is None and wait:
            # Already queued or running (e.g. the initial scan): help it along and report it.
            run = ScanRun.objects.filter(registry=registry, status__in=orchestration.ACTIVE).first()
            if run is not None:
                self.stderr.write(f"Waiting for that scan of {registry.name} to finish.")
                return self._report(registry, orchestration.join_run(run))
        if run is None:
            return self._busy(registry, message), 1
        if not wait:
            return orchestration.run_report(run), 0
        return self._report(registry, orchestration.run_inline(run))

    def _busy(self, registry: Registry, message: str) -> dict:
        """The run already under way, with the contract's keys, as status ``busy``."""
        active = ScanRun.objects.filter(registry=registry, status__in=orchestration.ACTIVE).first()
        if active is None:  # it finished in the meantime
            doc = {"registry": registry.name, "trigger": None, "scanned": [], "skipped": []}
            doc.update(counts={}, bytes_downloaded=0)
        else:
            doc = orchestration.run_report(active)
        doc.update(status="busy", error=message)
        return doc

    def _report(self, registry: Registry, run: ScanRun) -> tuple[dict, int]:
        doc = orchestration.run_report(run)
        self.stderr.write(
            f"{registry.name}: {run.status}; {run.scanned} scanned, {run.reused} reused, "
            f"{run.failed} failed, {run.skipped} skipped" + (f" ({run.error})" if run.error else "")
        )
        if run.status in orchestration.ACTIVE:
            return doc, 1  # still running elsewhere when the wait ran out
        if run.status == ScanRunStatus.SUCCEEDED:
            return doc, 0
        if run.status == ScanRunStatus.FAILED and run.listed_at is None:
            return doc, 3  # nothing could be done: listing failed
        return doc, 1
