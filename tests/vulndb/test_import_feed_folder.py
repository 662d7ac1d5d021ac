"""A folder of downloaded feeds (OSV files beside the KEV catalog and an EPSS CSV) imports
each file as what it is, as ``importvulns /work/shared/vulndata/`` does."""

from __future__ import annotations

import json
import shutil
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

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


def test_a_manifest_beside_the_feeds_is_skipped_and_named(db, feed_folder):
    # /work/shared/vulndata/ holds manifest.json (record counts): it used to refuse the folder.
    (feed_folder / "manifest.json").write_text(json.dumps({"alpine.osv.jsonl": 52}))
    out, err = StringIO(), StringIO()
    call_command("importvulns", str(feed_folder), "--json", stdout=out, stderr=err)
    doc = json.loads(out.getvalue())
    assert doc["errors"] == []
    osv = next(s for s in doc["sources"] if s["kind"] == "osv")
    assert osv["records"] == 52 and osv["ignored"] == [str(feed_folder / "manifest.json")]
    assert Vulnerability.objects.filter(osv_id__startswith="ALPINE-").count() == 52


def test_a_manifest_given_by_itself_is_still_refused(db, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"alpine.osv.jsonl": 52}))
    with pytest.raises(CommandError) as caught:
        call_command("importvulns", str(manifest), stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 2


def test_a_damaged_osv_file_in_a_folder_still_refuses_the_folder(db, feed_folder):
    (feed_folder / "osv" / "broken.jsonl").write_text('{"id": "X-1", "affected": []}\nnot json\n')
    report = api.import_sources([str(feed_folder)])
    assert report.format_errors and "broken.jsonl" in report.format_errors[0]


def test_a_refused_folder_imports_nothing_so_the_next_import_matches_everything(
    db, org, tmp_path, monkeypatch
):
    # Batches written before a damaged file used to stay: the next import found those
    # records unchanged and never matched them against the stored SBOMs.
    from scans.vulndb.models import Finding

    from .factories import alpine311_packages, make_image, make_registry, make_sbom

    monkeypatch.setattr("scans.vulndb.importers.BATCH", 10)
    image = make_image(make_registry(org), make_sbom("alpine", "3.11.3", alpine311_packages()))
    folder = tmp_path / "osv"
    folder.mkdir()
    shutil.copy(vulndata("alpine.osv.jsonl"), folder / "alpine.osv.jsonl")
    (folder / "zz-broken.jsonl").write_text('{"id": "X-1", "affected": []}\nnot json\n')
    report = api.import_sources([str(folder)])
    assert report.format_errors and Vulnerability.objects.count() == 0
    (folder / "zz-broken.jsonl").unlink()
    api.import_sources([str(folder)])
    expected = api.match_sbom(image.sbom)
    assert len(expected) > 0
    assert Finding.objects.filter(image=image).count() == len(expected)
