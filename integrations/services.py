"""Integration (Registry) services used by the web pages, the CLI and the scan tasks.

Creating or updating a registry validates it, encrypts its secret, activates the organization
(service user) and keeps its schedule in sync. Scans are requested by task name through
``scans.orchestration`` (imported lazily: ``integrations`` never imports scan internals at
module level).
"""

from __future__ import annotations

import hashlib
import logging
from importlib import import_module
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, Count, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat

from accounts.models import Organization
from accounts.services import ensure_service_user

from .models import Registry, RegistryAccess
from .occurrences import adopt_occurrences
from .providers import get_provider, get_provider_class
from .providers.base import Provider, ProviderConfig, ProviderError

__all__ = [
    "annotate_registry_table",
    "check_registry",
    "create_registry",
    "delete_registry",
    "provider_for",
    "registry_status",
    "update_registry",
]

log = logging.getLogger("regscan.integrations")

EDITABLE_FIELDS = {
    "name", "provider", "url", "region", "registry_id", "role_arn", "external_id",
    "tenant_id", "client_id", "username", "namespaces", "repositories", "api_endpoint",
    "registry_endpoint", "ca_bundle", "insecure", "schedule", "max_tags", "include_repos",
    "exclude_repos", "include_tags", "exclude_tags", "max_age_days", "enabled",
}  # fmt: skip


def _schedules():
    return import_module("scans.schedules")


def _orchestration():
    return import_module("scans.orchestration")


def _apply(registry: Registry, fields: dict[str, Any], secret: str | None) -> None:
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError(f"Unknown integration fields: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(registry, name, value)
    if secret:
        registry.set_secret(secret)


def _validate(registry: Registry) -> None:
    """Model validation, the schedule text, and the provider's required fields."""
    errors: dict[str, list[str]] = {}
    try:
        registry.full_clean(exclude=["organization", "created_by"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        _schedules().parse_schedule(registry.schedule)
    except ValueError as exc:
        errors.setdefault("schedule", []).append(str(exc))
    errors.update(_missing_provider_fields(registry))
    if registry.ca_bundle.strip() and "-----BEGIN CERTIFICATE-----" not in registry.ca_bundle:
        # Caught here, not at the first scan as "TLS certificate verification failed".
        errors.setdefault("ca_bundle", []).append(
            "Not a PEM certificate bundle (no -----BEGIN CERTIFICATE----- block)."
        )
    if registry.max_tags == 0:
        errors.setdefault("max_tags", []).append("Scan at least one tag per repository.")
    if errors:
        raise ValidationError(errors)


def _missing_provider_fields(registry: Registry) -> dict[str, list[str]]:
    try:
        cls = get_provider_class(registry.provider)
    except (ProviderError, ImportError, AttributeError):
        return {}  # an unknown kind is reported by the model's choices
    missing = {}
    for field in cls.credential_fields:
        if not field.required:
            continue
        present = registry.has_secret if field.secret else getattr(registry, field.name, "")
        if not present:
            missing[field.name if not field.secret else "secret"] = [f"{field.label} is required."]
    return missing


def create_registry(
    org: Organization,
    actor: Any,
    *,
    secret: str | None = None,
    initial_scan: bool = True,
    **fields: Any,
) -> Registry:
    """Create a Private integration of ``org``; raises ValidationError on invalid fields.

    Activates the organization (service user) when enabled, syncs the schedule, and requests
    the initial scan (actor: the service user) unless ``initial_scan`` is False.
    """
    registry = Registry(organization=org, created_by=actor, access=RegistryAccess.PRIVATE)
    _apply(registry, fields, secret)
    _validate(registry)
    with transaction.atomic():
        registry.save()
        adopted = adopt_occurrences(registry)
        if registry.enabled:
            ensure_service_user(org)
        _schedules().sync_schedule(registry)
    log.info("Integration %s (%s) created in %s", registry.name, registry.provider, org)
    if adopted:
        log.info("Integration %s took over the images seen at %s", registry.name, adopted)
    if initial_scan and registry.enabled:
        orch = _orchestration()
        orch.request_scan(registry, trigger="initial", actor=org.service_user)
    return registry


def update_registry(registry: Registry, *, secret: str | None = None, **fields: Any) -> Registry:
    """Change fields (a blank/None ``secret`` keeps the stored one) and reschedule.

    Raises ValidationError on invalid fields; the row is unchanged then.
    """
    original = {name: getattr(registry, name) for name in EDITABLE_FIELDS}
    original_secret = registry.secret_encrypted
    _apply(registry, fields, secret)
    try:
        _validate(registry)
    except ValidationError:
        for name, value in original.items():
            setattr(registry, name, value)
        registry.secret_encrypted = original_secret
        raise
    with transaction.atomic():
        registry.save()
        if registry.enabled:
            ensure_service_user(registry.organization)
        _schedules().sync_schedule(registry)
    return registry


def delete_registry(registry: Registry) -> None:
    """Delete the integration, its scan data and its Schedule."""
    from django_q.models import Schedule

    with transaction.atomic():
        Schedule.objects.filter(name=_schedules().schedule_name(registry)).delete()
        registry.delete()


def _ca_bundle_path(pem: str) -> str:
    """Write ``pem`` to a content-addressed file under DATA_DIR (idempotent); return its path."""
    directory = Path(settings.DATA_DIR) / "ca-bundles"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (hashlib.sha256(pem.encode()).hexdigest()[:32] + ".pem")
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(pem)
        tmp.replace(path)
    return str(path)


def provider_config(registry: Registry) -> ProviderConfig:
    """The ProviderConfig of a (possibly unsaved) Registry, with the settings' limits."""
    return ProviderConfig(
        url=registry.url,
        region=registry.region,
        registry_id=registry.registry_id,
        role_arn=registry.role_arn,
        external_id=registry.external_id,
        tenant_id=registry.tenant_id,
        client_id=registry.client_id,
        username=registry.username,
        secret=registry.secret(),
        namespaces=tuple(registry.namespaces or ()),
        repositories=tuple(registry.repositories or ()),
        api_endpoint=registry.api_endpoint,
        registry_endpoint=registry.registry_endpoint,
        ca_bundle=_ca_bundle_path(registry.ca_bundle) if registry.ca_bundle.strip() else "",
        insecure=registry.insecure,
        timeout=settings.REGSCAN_REQUEST_TIMEOUT,
        max_concurrency=settings.REGSCAN_REGISTRY_CONCURRENCY,
        allowed_networks=tuple(settings.REGSCAN_ALLOWED_PRIVATE_NETWORKS),
    )


def provider_for(registry: Registry) -> Provider:
    """A ready provider for ``registry``; raises ProviderError for an unknown provider."""
    return get_provider(registry.provider, provider_config(registry))


def check_registry(registry_or_fields: Registry | dict[str, Any]) -> str:
    """Run the provider's check; returns a success message or raises ProviderError.

    Accepts a Registry or a dict of unsaved fields (``secret`` in clear among them).
    """
    if isinstance(registry_or_fields, Registry):
        registry = registry_or_fields
    else:
        fields = dict(registry_or_fields)
        secret = fields.pop("secret", None)
        registry = Registry()
        for name, value in fields.items():
            if name in EDITABLE_FIELDS:
                setattr(registry, name, value)
        if secret:
            registry.set_secret(secret)
    provider = provider_for(registry)
    provider.check()
    return f"Connected to {registry.name or provider.label}: credentials and access are fine."


def annotate_registry_table(qs: QuerySet[Registry]) -> QuerySet[Registry]:
    """Annotate rows with their last run and counts for a table (two subqueries, two counts).

    Adds ``last_run_id``, ``last_run_status``, ``last_run_finished``, ``last_run_error``,
    ``last_run_selected``, ``last_run_done`` (scanned), ``last_run_reused``, ``last_run_failed``,
    ``repositories_count``, ``images_count`` and ``next_scan_at``.
    """
    from django_q.models import Schedule

    from scans.models import Image, Repository, ScanRun

    last = ScanRun.objects.filter(registry=OuterRef("pk")).order_by("-created_at", "-pk")
    repos = (
        Repository.objects.filter(registry=OuterRef("pk"))
        .values("registry")
        .annotate(n=Count("pk"))
        .values("n")
    )
    images = (
        Image.objects.filter(registry=OuterRef("pk"))
        .values("registry")
        .annotate(n=Count("pk"))
        .values("n")
    )
    name = Concat(Value("scan-registry-"), Cast(OuterRef("pk"), CharField()))
    next_run = Schedule.objects.filter(name=name)
    return qs.annotate(
        last_run_id=Subquery(last.values("pk")[:1]),
        last_run_status=Subquery(last.values("status")[:1]),
        last_run_started=Subquery(last.values("started_at")[:1]),
        last_run_finished=Subquery(last.values("finished_at")[:1]),
        last_run_error=Subquery(last.values("error")[:1]),
        last_run_selected=Subquery(last.values("selected")[:1]),
        last_run_done=Subquery(last.values("scanned")[:1]),
        last_run_reused=Subquery(last.values("reused")[:1]),
        last_run_failed=Subquery(last.values("failed")[:1]),
        repositories_count=Subquery(repos),
        images_count=Subquery(images),
        next_scan_at=Subquery(next_run.values("next_run")[:1]),
    )


def registry_status(registry: Registry) -> dict[str, Any]:
    """The table facts of one registry: last run (status, finished, error), progress, counts,
    schedule in words and next run. Uses annotations when ``registry`` came from
    :func:`annotate_registry_table`, else queries."""
    if not hasattr(registry, "last_run_status"):
        registry = annotate_registry_table(Registry.objects.filter(pk=registry.pk)).get()
    schedules = _schedules()
    done = (
        (registry.last_run_done or 0)
        + (registry.last_run_reused or 0)
        + (registry.last_run_failed or 0)
    )
    return {
        "last_run_id": registry.last_run_id,
        "last_run_status": registry.last_run_status or "",
        "last_run_started": registry.last_run_started,
        "last_run_finished": registry.last_run_finished,
        "last_run_error": registry.last_run_error or "",
        "progress": f"{done}/{registry.last_run_selected or 0} images"
        if registry.last_run_id
        else "",
        "repositories": registry.repositories_count or 0,
        "images": registry.images_count or 0,
        "schedule": schedules.describe_schedule(registry.schedule),
        "next_run": registry.next_scan_at,
    }
