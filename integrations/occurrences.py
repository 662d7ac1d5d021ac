"""Registry occurrences: registries an organization uses without having connected them.

A single-image scan (``scanimage``) records a **Public/Manual** occurrence and Kubernetes discovery
(``k8sdiscover``) a **System-managed** one. When the organization already has a Private
integration covering the host, that integration is returned instead and nothing is created.

Occurrences are plain ``Registry`` rows (provider ``oci``, ``url`` = the normalised host, schedule
``off``): they never get a service user or a schedule.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization

from .models import Registry, RegistryAccess

__all__ = [
    "DOCKER_HUB_HOST",
    "find_integration",
    "adopt_occurrences",
    "integration_hosts",
    "record_registry_occurrence",
    "registry_host",
]

DOCKER_HUB_HOST = "docker.io"
# The names Docker Hub is reached by; image references and integrations may use any of them.
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_DEFAULT_PORTS = {"https": "443", "http": "80"}
_HOST_RE = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$|^\[[0-9a-f:.]+\](:[0-9]{1,5})?$"
)
_NAME_MAX = Registry._meta.get_field("name").max_length


def registry_host(url_or_host: str) -> str:
    """Return the canonical host of a registry URL or host.

    ``"https://Reg.example.com:443/v2/"`` -> ``"reg.example.com"``; non-default ports are kept
    (``"127.0.0.1:5000"``); every Docker Hub alias becomes ``"docker.io"``. A default port is
    dropped when it matches the scheme (443 also when no scheme is given, as registries default to
    HTTPS). Raises ``ValueError`` when nothing host-like is left.
    """
    text = (url_or_host or "").strip()
    if "://" not in text:
        text = "//" + text
    parts = urlsplit(text)
    scheme = (parts.scheme or "https").lower()
    netloc = parts.netloc.rpartition("@")[2].lower()  # drop any user:password@
    host, port = _split_port(netloc)
    if port and port == _DEFAULT_PORTS.get(scheme):
        port = ""
    result = f"{host}:{port}" if port else host
    if not host or not _HOST_RE.match(result):
        raise ValueError(f"Not a registry host: {url_or_host!r}")
    if host in _DOCKER_HUB_ALIASES and not port:
        return DOCKER_HUB_HOST
    return result


def _split_port(netloc: str) -> tuple[str, str]:
    if netloc.startswith("["):  # IPv6 literal: [::1]:5000
        host, _, rest = netloc.partition("]")
        return host + "]", rest.lstrip(":")
    host, _, port = netloc.partition(":")
    return host, port


def integration_hosts(registry: Registry) -> set[str]:
    """Return every canonical host ``registry`` (an integration) serves pulls from.

    Uses ``url`` and ``registry_endpoint``; ECR adds ``<registry_id>.dkr.ecr.<region>.amazonaws.com``
    and Docker Hub adds ``docker.io``. Unparseable values are ignored.
    """
    hosts: set[str] = set()
    for value in (registry.url, registry.registry_endpoint):
        if value:
            try:
                hosts.add(registry_host(value))
            except ValueError:
                pass
    if registry.provider == "ecr" and registry.registry_id and registry.region:
        suffix = "amazonaws.com.cn" if registry.region.startswith("cn-") else "amazonaws.com"
        hosts.add(f"{registry.registry_id}.dkr.ecr.{registry.region}.{suffix}".lower())
    if registry.provider == "dockerhub":
        hosts.add(DOCKER_HUB_HOST)
    return hosts


def find_integration(org: Organization, host: str) -> Registry | None:
    """Return ``org``'s Private integration covering ``host``, or None.

    ``host`` may be any URL or host form (it is normalised). Enabled integrations win over
    disabled ones, then the first by name. Raises ``ValueError`` for a value that is not a host.
    """
    wanted = registry_host(host)
    candidates = Registry.objects.filter(organization=org, access=RegistryAccess.PRIVATE).order_by(
        "-enabled", "name"
    )
    for registry in candidates:
        if wanted in integration_hosts(registry):
            return registry
    return None


def adopt_occurrences(integration: Registry) -> list[str]:
    """Move what regscan recorded under non-private registries at ``integration``'s hosts
    (single-image scans, running images) onto the new integration, then remove them.

    Without this, images first seen by ``scanimage`` or ``k8sdiscover`` would stay under their
    Public/Manual or System-managed row and show their findings twice once the integration
    scans them too. Every row pointing at a registry (repositories with their tags, images
    with their SBOM links and findings, scan runs, running images, risk acceptances) is moved
    with one UPDATE per relation, found through ``Registry``'s reverse foreign keys so this
    module needs no knowledge of the scans app. Meant for a fresh integration (it has no rows
    of its own that could collide). Returns the names of the registries adopted.
    """
    hosts = integration_hosts(integration)
    adopted = []
    occurrences = Registry.objects.filter(organization_id=integration.organization_id).exclude(
        access=RegistryAccess.PRIVATE
    )
    for occurrence in occurrences:
        try:
            host = registry_host(occurrence.url)
        except ValueError:
            continue
        if host not in hosts:
            continue
        with transaction.atomic():
            for relation in Registry._meta.related_objects:
                if relation.one_to_many:
                    field = relation.field.name
                    relation.related_model._default_manager.filter(**{field: occurrence}).update(
                        **{field: integration}
                    )
            occurrence.delete()
        adopted.append(occurrence.name)
    return adopted


def record_registry_occurrence(
    org: Organization, host: str, access: str, discovered_via: str
) -> Registry:
    """Return the registry that ``org`` uses at ``host``, recording the occurrence.

    An existing Private integration covering the host is returned untouched. Otherwise the
    non-private ``Registry`` for that host is created (provider ``oci``, schedule ``off``,
    ``name`` = the host, suffixed ``-2``, ``-3``... when the name is taken) or its
    ``last_seen_at`` is refreshed. A registry seen by Kubernetes discovery becomes
    System-managed even if it was first seen in a manual scan (running workloads are the
    stronger fact); the reverse does not downgrade it.

    Race-safe: concurrent callers try the same names in the same order, so the loser of the
    unique (organization, name) constraint finds the winner's row and returns it.
    Raises ``ValueError`` when ``host`` is not a host or ``access`` is ``private``.
    """
    if access not in (RegistryAccess.PUBLIC_MANUAL, RegistryAccess.SYSTEM_MANAGED):
        raise ValueError(f"An occurrence is public_manual or system_managed, not {access!r}")
    canonical = registry_host(host)
    integration = find_integration(org, canonical)
    if integration is not None:
        return integration
    existing = _find_occurrence(org, canonical)
    if existing is not None:
        return _touch(existing, access, discovered_via)
    for name in _candidate_names(canonical):
        try:
            with transaction.atomic():
                return Registry.objects.create(
                    organization=org,
                    name=name,
                    provider="oci",
                    url=canonical,
                    access=access,
                    discovered_via=discovered_via[:200],
                    schedule="off",
                    last_seen_at=timezone.now(),
                )
        except IntegrityError:
            existing = _find_occurrence(org, canonical)
            if existing is not None:  # another process recorded it first
                return _touch(existing, access, discovered_via)
    raise RuntimeError(f"No free registry name for {canonical}")  # pragma: no cover


def _find_occurrence(org: Organization, canonical: str) -> Registry | None:
    return (
        Registry.objects.filter(organization=org, url=canonical)
        .exclude(access=RegistryAccess.PRIVATE)
        .order_by("pk")
        .first()
    )


def _touch(registry: Registry, access: str, discovered_via: str) -> Registry:
    """Refresh ``last_seen_at`` (and upgrade to System-managed) with one UPDATE."""
    changes: dict = {"last_seen_at": timezone.now()}
    if access == RegistryAccess.SYSTEM_MANAGED and registry.access != RegistryAccess.SYSTEM_MANAGED:
        changes.update(access=access, discovered_via=discovered_via[:200])
    Registry.objects.filter(pk=registry.pk).update(**changes)
    for field, value in changes.items():
        setattr(registry, field, value)
    return registry


def _candidate_names(canonical: str):
    yield canonical[:_NAME_MAX]
    for n in range(2, 100):
        suffix = f"-{n}"
        yield canonical[: _NAME_MAX - len(suffix)] + suffix
