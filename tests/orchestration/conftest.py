"""Fixtures for orchestration tests: image content, a registry integration, request counting."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

from integrations import services
from integrations.providers import PROVIDERS
from tests.support.oci_images import make_layer

from .fakes import PushDateProvider

BASE_LAYER = make_layer(
    {
        "etc/os-release": b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n',
        "lib/apk/db/installed": b"P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\n\n"
        b"P:zlib\nV:1.3-r2\nA:x86_64\no:zlib\n\n",
    }
)


def app_layer(label: str) -> bytes:
    """A small top layer whose content (and so the image digest) depends on ``label``."""
    return make_layer({f"srv/app/{label}.txt": label.encode()})


@pytest.fixture
def pushdate_provider(monkeypatch):
    """Registers the ``pushdates`` provider kind; its push-time table starts empty."""
    monkeypatch.setitem(PROVIDERS, "pushdates", "tests.orchestration.fakes.PushDateProvider")
    monkeypatch.setattr(PushDateProvider, "push_times", {})
    return PushDateProvider


@dataclass
class Traffic:
    """Every HTTP request this process sends (method, URL) and the body bytes it received."""

    requests: list[tuple[str, str]] = field(default_factory=list)

    def blob_gets(self) -> list[str]:
        return [u for m, u in self.requests if m == "GET" and "/blobs/" in u]

    def kinds(self) -> Counter:
        return Counter(
            "blob" if "/blobs/" in u else "manifest" if "/manifests/" in u else
            "tags" if "/tags/" in u else "catalog" if "_catalog" in u else "other"
            for _, u in self.requests
        )  # fmt: skip

    def clear(self) -> None:
        self.requests.clear()


@pytest.fixture
def traffic(monkeypatch) -> Traffic:
    seen = Traffic()
    original = requests.Session.send

    def send(self, request, **kwargs):
        seen.requests.append((request.method, request.url))
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    return seen


def connect(org, registry, *, provider: str, name: str = "lab", **fields):
    """An integration of ``org`` for the local test registry (no initial scan)."""
    values = {
        "url": registry.url,
        "username": registry.username,
        "schedule": "daily 02:00",
    }
    values.update(fields)
    if provider == "pushdates":  # not a model choice: create it without choice validation
        from accounts.services import ensure_service_user
        from integrations.models import Registry

        ensure_service_user(org)
        reg = Registry(organization=org, name=name, provider=provider, **values)
        reg.set_secret(registry.password)
        reg.save()
        return reg
    return services.create_registry(
        org, None, name=name, provider=provider, secret=registry.password,
        initial_scan=False, **values,
    )  # fmt: skip
