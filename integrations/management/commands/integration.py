"""``manage.py integration add|list|edit|remove|preview`` (DESIGN.md CLI contract).

Secrets come only from ``--password-stdin`` or ``REGSCAN_REGISTRY_PASSWORD``, never from an
argument, and are never printed. Exit codes: 0 ok, 2 bad arguments, 3 registry unreachable or
credentials refused (preview).
"""

from __future__ import annotations

import json
import os
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import org_for_command
from integrations import services
from integrations.cli import refuse_password_argument
from integrations.models import Registry
from integrations.providers import PROVIDERS
from integrations.providers.base import ProviderError

PASSWORD_ENV = "REGSCAN_REGISTRY_PASSWORD"
# option dest -> Registry field, for options that map one to one
SCALARS = {
    "name": "name", "provider": "provider", "url": "url", "username": "username",
    "region": "region", "registry_id": "registry_id", "role_arn": "role_arn",
    "external_id": "external_id", "tenant_id": "tenant_id", "client_id": "client_id",
    "api_endpoint": "api_endpoint", "registry_endpoint": "registry_endpoint",
    "schedule": "schedule", "max_tags": "max_tags", "max_age": "max_age_days",
}  # fmt: skip
LISTS = {
    "namespace": "namespaces", "repository": "repositories", "include_repo": "include_repos",
    "exclude_repo": "exclude_repos", "include_tag": "include_tags", "exclude_tag": "exclude_tags",
}  # fmt: skip


def _json_options(parser: ArgumentParser) -> None:
    """``--json``, or ``--format json`` (DESIGN.md: every command accepts both)."""
    parser.add_argument("--json", action="store_true", help="One JSON document on stdout")
    parser.add_argument("--format", choices=["text", "json"], default="text")


def _bad(message: str) -> CommandError:
    return CommandError(message, returncode=2)


class Command(BaseCommand):
    help = "Manage registry integrations: add, list, edit, remove, preview."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Connect a registry")
        self._options(add, creating=True)
        add.add_argument("--no-initial-scan", action="store_true")
        edit = sub.add_parser("edit", help="Change an integration (only the given options)")
        edit.add_argument("target", metavar="NAME")
        edit.add_argument("--rename", dest="name", metavar="NEW_NAME")
        self._options(edit, creating=False)
        listing = sub.add_parser("list", help="List integrations (never shows secrets)")
        listing.add_argument("--org")
        _json_options(listing)
        remove = sub.add_parser("remove", help="Delete an integration and its scan data")
        remove.add_argument("target", metavar="NAME")
        remove.add_argument("--org")
        _json_options(remove)
        preview = sub.add_parser("preview", help="What the next scan would scan, and why not")
        preview.add_argument("target", metavar="NAME")
        preview.add_argument("--org")
        _json_options(preview)

    def _options(self, p: ArgumentParser, *, creating: bool) -> None:
        p.add_argument("--org")
        p.add_argument("--provider", choices=list(PROVIDERS), required=creating)
        if creating:
            p.add_argument("--name", required=True)
        for opt in (
            "url",
            "username",
            "region",
            "registry-id",
            "role-arn",
            "external-id",
            "tenant-id",
            "client-id",
            "api-endpoint",
            "registry-endpoint",
            "schedule",
        ):
            p.add_argument(f"--{opt}")  # fmt: skip
        p.add_argument("--password-stdin", action="store_true", help="Read the secret from stdin")
        refuse_password_argument(p)
        p.add_argument("--ca-bundle", metavar="FILE", help="PEM file of CAs to trust")
        p.add_argument("--insecure", action="store_true", default=None)
        p.add_argument("--secure", dest="insecure", action="store_false")
        p.add_argument("--max-tags", type=int)
        p.add_argument("--max-age", type=int, metavar="DAYS")
        for opt in LISTS:
            p.add_argument(
                f"--{opt.replace('_', '-')}",
                action="extend",
                nargs="+",
                default=None,
                help="one or more values; '' alone clears the list",
            )
        p.add_argument("--enable", dest="enabled", action="store_true", default=None)
        p.add_argument("--disable", dest="enabled", action="store_false")
        _json_options(p)

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        handler = getattr(self, f"do_{action}")
        handler(opts)

    # --- helpers ----------------------------------------------------------------------------

    def _registry(self, opts: dict) -> Registry:
        org = org_for_command(opts.get("org"))
        registry = Registry.objects.filter(organization=org, name=opts["target"]).first()
        if registry is None:
            raise _bad(f"No integration named {opts['target']!r} in {org.name}.")
        return registry

    def _secret(self, opts: dict) -> str | None:
        if opts.get("password_stdin"):
            value = sys.stdin.readline().rstrip("\r\n")
            if not value:
                raise _bad("--password-stdin was given but stdin is empty.")
            return value
        return os.environ.get(PASSWORD_ENV) or None

    def _fields(self, opts: dict) -> dict[str, Any]:
        fields = {f: opts[o] for o, f in SCALARS.items() if opts.get(o) is not None}
        # Blank values are dropped, so `--exclude-tag ''` clears the list on edit.
        fields.update(
            {
                f: [v for v in opts[o] if v.strip()]
                for o, f in LISTS.items()
                if opts.get(o) is not None
            }
        )
        for flag in ("insecure", "enabled"):
            if opts.get(flag) is not None:
                fields[flag] = opts[flag]
        if opts.get("ca_bundle"):
            try:
                fields["ca_bundle"] = Path(opts["ca_bundle"]).read_text()
            except OSError as exc:
                raise _bad(f"Cannot read --ca-bundle: {exc.strerror}.") from None
        return fields

    def _emit(self, opts: dict, doc: Any, text: str) -> None:
        if opts.get("json") or opts.get("format") == "json":
            self.stdout.write(json.dumps(doc, indent=2, default=str))
        else:
            self.stdout.write(text)

    @staticmethod
    def _validation(exc: ValidationError) -> CommandError:
        if hasattr(exc, "message_dict"):
            # The secret field is given on the command line with --password-stdin.
            names = {"secret": "secret (--password-stdin)"}
            parts = [f"{names.get(k, k)}: {' '.join(v)}" for k, v in exc.message_dict.items()]
        else:
            parts = exc.messages
        return _bad("Invalid integration: " + "; ".join(p.rstrip(".") for p in parts) + ".")

    # --- actions ----------------------------------------------------------------------------

    def do_add(self, opts: dict) -> None:
        org = org_for_command(opts.get("org"))
        if Registry.objects.filter(organization=org, name=opts["name"]).exists():
            raise _bad(f"An integration named {opts['name']!r} already exists in {org.name}.")
        try:
            registry = services.create_registry(
                org,
                None,
                secret=self._secret(opts),
                initial_scan=not opts["no_initial_scan"],
                **self._fields(opts),
            )
        except ValidationError as exc:
            raise self._validation(exc) from None
        self.stderr.write(f"Integration {registry.name} created in {org.name}.")
        self._emit(opts, integration_doc(registry), f"{registry.name}")

    def do_edit(self, opts: dict) -> None:
        registry = self._registry(opts)
        try:
            services.update_registry(registry, secret=self._secret(opts), **self._fields(opts))
        except ValidationError as exc:
            raise self._validation(exc) from None
        self.stderr.write(f"Integration {registry.name} updated.")
        self._emit(opts, integration_doc(registry), registry.name)

    def do_remove(self, opts: dict) -> None:
        registry = self._registry(opts)
        name = registry.name
        services.delete_registry(registry)
        self.stderr.write(f"Integration {name} removed.")
        self._emit(opts, {"removed": name}, name)

    def do_list(self, opts: dict) -> None:
        qs = Registry.objects.select_related("organization")
        if opts.get("org"):
            qs = qs.filter(organization=org_for_command(opts["org"]))
        rows = [integration_doc(r) for r in services.annotate_registry_table(qs)]
        lines = [
            f"{r['name']:<24} {r['provider']:<12} {r['access']:<15} {r['schedule_text']:<28} "
            f"next: {(r['next_scan'] or '-') if r['enabled'] else 'disabled':<26} "
            f"last: {r['last_scan_status'] or '-'}"
            for r in rows
        ]
        self._emit(opts, rows, "\n".join(lines) or "No integrations.")

    def do_preview(self, opts: dict) -> None:
        from scans.policy import preview

        registry = self._registry(opts)
        try:
            decisions = preview(registry)
        except ProviderError as exc:
            raise CommandError(exc.message, returncode=3) from None
        doc = [
            {
                "repository": d.repository,
                "tag": d.tag,
                "digest": d.digest,
                "action": d.action,
                "reason": d.reason,
                "pushed_at": d.pushed_at.isoformat() if d.pushed_at else None,
            }
            for d in decisions
        ]
        text = "\n".join(
            f"{d['action']:<5} {d['repository']}:{d['tag'] or '*'}  ({d['reason']})" for d in doc
        )
        self._emit(opts, doc, text or "Nothing listed.")


def integration_doc(registry: Registry) -> dict[str, Any]:
    """The public description of an integration (never a secret)."""
    status = services.registry_status(registry)
    return {
        "name": registry.name,
        "organization": registry.organization.name,
        "provider": registry.provider,
        "access": registry.get_access_display(),
        "url": registry.url,
        "region": registry.region,
        "username": registry.username,
        "has_secret": registry.has_secret,
        "insecure": registry.insecure,
        "enabled": registry.enabled,
        "schedule": registry.schedule,
        "schedule_text": status["schedule"],
        "next_scan": status["next_run"].isoformat() if status["next_run"] else None,
        "last_scan_status": status["last_run_status"] or None,
        "last_scan_finished": status["last_run_finished"].isoformat()
        if status["last_run_finished"]
        else None,
        "last_scan_error": status["last_run_error"] or None,
        "max_tags": registry.max_tags,
        "include_repos": registry.include_repos,
        "exclude_repos": registry.exclude_repos,
        "include_tags": registry.include_tags,
        "exclude_tags": registry.exclude_tags,
        "max_age_days": registry.max_age_days,
        "repositories": status["repositories"],
        "images": status["images"],
    }
