"""A folder of downloaded feeds (OSV files beside the KEV catalog and an EPSS CSV) imports
each file as what it is, as ``importvulns /work/shared/vulndata/`` does."""

from __future__ import annotations

import json
import shutil
from io import StringIO

import pytest
from django.core.management import call_command

from scans.vulndb import api
from scans.vulndb.models import EpssScore, ImportSource, KevEntry, Vulnerability

from .factories import vulndata
from .test_import import EPSS_CSV


@pytest.fixture
def feed_folder(tmp_path):
    folder = tmp_path / "feeds"
    (folder / "osv").mkdir(parents=True)
    shutil.copy(vulndata("alpine.osv.jsonl"), folder / "osv" / "alpine.osv.jsonl")
    shutil.copy(vulndata("cisa_kev.json"), folder / "cisa_kev.json")
    (folder / "epss.csv").write_text(EPSS_CSV)
    return folder


def test_a_feed_folder_imports_osv_kev_and_epss(db, feed_folder):
    report = api.import_sources([str(feed_folder)])
    kinds = {s.kind: s.records for s in report.sources}
    assert kinds == {"osv": 52, "kev": 1404, "epss": 2}
    assert report.format_errors == []
    assert Vulnerability.objects.filter(osv_id__startswith="ALPINE-").count() == 52
    assert KevEntry.objects.count() == 1404 and EpssScore.objects.count() == 2
    assert ImportSource.objects.count() == 3  # each feed keeps its own "as of" time


def test_the_command_imports_the_folder_and_exits_0(db, feed_folder):
    out, err = StringIO(), StringIO()
    call_command("importvulns", str(feed_folder), "--json", stdout=out, stderr=err)
    doc = json.loads(out.getvalue())
    assert sorted(s["kind"] for s in doc["sources"]) == ["epss", "kev", "osv"]
