"""Fixtures for the provider tests: the vendor stand-ins (the real registry fixtures come from
``tests.support.registry`` through the root conftest)."""

from __future__ import annotations

from tests.support.standins import (  # noqa: F401 (fixtures)
    acr_standin,
    artifactory_standin,
    hub_standin,
    standin_tls_dir,
    standins,
)
