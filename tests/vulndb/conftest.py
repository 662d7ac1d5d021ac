from __future__ import annotations

import pytest

from scans.vulndb import api
from tests.vulndb.factories import make_registry, vulndata


@pytest.fixture
def load(db):
    """Import vulndata files by name (asserting they were all accepted)."""

    def _load(*names: str):
        report = api.import_sources([vulndata(n) for n in names])
        assert report.ok, report.format_errors + report.unavailable
        return report

    return _load


@pytest.fixture
def hub(org):
    return make_registry(org)
