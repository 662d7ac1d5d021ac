"""What a provider learns while scanning (Docker Hub's remaining pull quota) is kept on the
Registry for the UI, across a real scan of the Hub stand-in in front of the real registry."""

from __future__ import annotations

import pytest

from integrations.models import Registry
from scans.models import ScanRunStatus
from scans.orchestration import request_scan, run_inline
from tests.integrations.test_dockerhub import PAT, hub, hub_registry  # noqa: F401 (fixtures)
from tests.support.standins import hub_standin, standins  # noqa: F401 (fixtures)


@pytest.mark.slow
def test_a_scan_keeps_docker_hubs_pull_quota(hub, org, owner):  # noqa: F811
    _registry, standin, _digests = hub
    registry = Registry(
        organization=org,
        name="hub",
        provider="dockerhub",
        username="alice",
        namespaces=["acme"],
        api_endpoint=standin.url,
        registry_endpoint=standin.url,
        include_repos=["acme/app"],
        schedule="off",
    )
    registry.set_secret(PAT)
    registry.save()

    run, _ = request_scan(registry, trigger="manual", actor=owner, enqueue=False)
    run = run_inline(run)

    assert run.status == ScanRunStatus.SUCCEEDED, run.error
    state = Registry.objects.get(pk=registry.pk).provider_state
    assert state["pull_ratelimit_limit"] == 100
    assert state["pull_ratelimit_remaining"] == standin.pull_remaining < 100
    assert state["api_ratelimit_limit"] == 180
    assert PAT not in str(state)
