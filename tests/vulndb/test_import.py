"""Importing OSV (json, jsonl, directories, zip, gzip, URLs), KEV and EPSS; idempotence and
format detection. Uses the real records of /work/shared/vulndata."""

from __future__ import annotations

import functools
import gzip
import json
import threading
import zipfile
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scans.vulndb import api
from scans.vulndb.models import Affected, EpssScore, ImportSource, KevEntry, Vulnerability
from tests.vulndb.factories import records, vulndata

# The FIRST EPSS daily file: one "#model_version:...,score_date:..." line, then the header
# "cve,epss,percentile" and one row per CVE (format documented with the daily dump at
# https://epss.cyentia.com/epss_scores-YYYY-MM-DD.csv.gz, see epss.cr.hahwul.com/user-guide/csv-feed).
# The scores below are test values, not FIRST's.
EPSS_CSV = (
    "#model_version:v2023.03.01,score_date:2024-10-01T00:00:00+0000\n"
    "cve,epss,percentile\n"
    "CVE-2014-0160,0.97547,0.99996\n"
    "CVE-2022-0235,0.00512,0.76543\n"
)


def test_it_imports_jsonl_and_records_the_source(db):
    report = api.import_sources([vulndata("debian.osv.jsonl")])
    assert report.ok
    source = report.sources[0]
    assert (source.kind, source.records, source.created, source.skipped) == ("osv", 272, 272, 0)
    assert Vulnerability.objects.count() == 272
    dsa = Vulnerability.objects.get(osv_id="DSA-5343-1")
    assert dsa.upstream == [
        "CVE-2022-2097",
        "CVE-2022-4304",
        "CVE-2022-4450",
        "CVE-2023-0215",
        "CVE-2023-0286",
    ]
    assert list(dsa.affected.values_list("ecosystem", "name")) == [("Debian:11", "openssl")]
    row = ImportSource.objects.get(name=vulndata("debian.osv.jsonl"))
    assert row.records == 272 and row.last_imported_at is not None
    assert api.data_as_of() == row.last_imported_at
    assert api.data_as_of_by_source() == {row.name: row.last_imported_at}


def test_reimport_is_idempotent(db):
    api.import_sources([vulndata("pypi.osv.jsonl"), vulndata("alpine.osv.jsonl")])
    affected = Affected.objects.count()
    again = api.import_sources([vulndata("pypi.osv.jsonl"), vulndata("alpine.osv.jsonl")])
    # PyPI records by `modified`; the Alpine conversions have no `modified`: by content.
    assert [(s.created, s.updated, s.skipped) for s in again.sources] == [(0, 0, 202), (0, 0, 52)]
    assert Vulnerability.objects.count() == 254
    assert Affected.objects.count() == affected


def test_newer_modified_replaces_and_older_is_skipped(db, tmp_path):
    api.import_sources([vulndata("npm.osv.jsonl")])
    record = records("npm.osv.jsonl")["GHSA-xvch-5gv4-984h"]
    newer = dict(record, modified="2030-01-01T00:00:00Z", affected=record["affected"][:1])
    older = dict(record, modified="2001-01-01T00:00:00Z", affected=[])
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    (tmp_path / "older.json").write_text(json.dumps(older))
    first = api.import_sources([str(tmp_path / "newer.json")]).sources[0]
    assert (first.created, first.updated, first.skipped) == (0, 1, 0)
    vuln = Vulnerability.objects.get(osv_id="GHSA-xvch-5gv4-984h")
    assert vuln.affected.count() == 1
    second = api.import_sources([str(tmp_path / "older.json")]).sources[0]
    assert (second.updated, second.skipped) == (0, 1)
    assert vuln.affected.count() == 1


def test_it_imports_a_zip_like_osv_all_zip(db, tmp_path):
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for osv_id, record in records("npm.osv.jsonl").items():
            zf.writestr(f"{osv_id}.json", json.dumps(record))
    report = api.import_sources([str(archive)])
    assert report.ok and report.sources[0].created == 16
    assert Vulnerability.objects.filter(osv_id="GHSA-8hc4-vh64-cxmj").exists()


def test_it_imports_a_directory_recursively_and_json_lists(db, tmp_path):
    recs = list(records("go.more.osv.jsonl").values())
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.json").write_text(json.dumps(recs[0]))
    (tmp_path / "a" / "b" / "list.json").write_text(json.dumps(recs[1:5]))
    (tmp_path / "a" / "b" / "rest.jsonl").write_text("\n".join(json.dumps(r) for r in recs[5:]))
    (tmp_path / "README.md").write_text("not data: ignored inside a directory")
    report = api.import_sources([str(tmp_path)])
    assert report.ok and report.sources[0].created == 9 == len(recs)


def test_gzip_jsonl_is_detected(db, tmp_path):
    path = tmp_path / "npm.osv.jsonl.gz"
    path.write_bytes(gzip.compress(open(vulndata("npm.osv.jsonl"), "rb").read()))
    assert api.import_sources([str(path)]).sources[0].created == 16


def test_an_unknown_file_is_refused_naming_it(db, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    other_json = tmp_path / "package.json"
    other_json.write_text('{"name": "x", "version": "1.0.0"}')
    report = api.import_sources([str(text), str(other_json), vulndata("npm.osv.jsonl")])
    assert len(report.format_errors) == 2
    assert str(text) in report.format_errors[0] and str(other_json) in report.format_errors[1]
    assert not report.ok
    assert Vulnerability.objects.count() == 16  # the good source is still imported


def test_a_missing_path_is_unavailable(db, tmp_path):
    report = api.import_sources([str(tmp_path / "nope.jsonl")])
    assert report.unavailable and "nope.jsonl" in report.unavailable[0]


def test_withdrawn_records_are_kept_as_withdrawn(db):
    api.import_sources([vulndata("pypi.more.osv.jsonl")])
    vuln = Vulnerability.objects.get(osv_id="PYSEC-2022-43059")
    assert vuln.withdrawn is not None and vuln.withdrawn.year == 2023


def test_kev_catalog(db):
    report = api.import_sources([vulndata("cisa_kev.json")])
    assert report.sources[0].kind == "kev" and report.sources[0].records == 1404
    heartbleed = KevEntry.objects.get(cve="CVE-2014-0160")
    assert heartbleed.due_date == date(2022, 5, 25)
    assert KevEntry.objects.count() == 1404


@pytest.mark.parametrize("compress", [False, True])
def test_epss_csv_plain_and_gzip(db, tmp_path, compress):
    path = tmp_path / ("epss.csv.gz" if compress else "epss.csv")
    data = EPSS_CSV.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    report = api.import_sources([str(path)])
    assert report.sources[0].kind == "epss" and report.sources[0].records == 2
    score = EpssScore.objects.get(cve="CVE-2014-0160")
    assert (score.score, score.percentile, score.model_version) == (0.97547, 0.99996, "v2023.03.01")
    assert score.score_date == date(2024, 10, 1)


@pytest.fixture
def file_server(tmp_path):
    (tmp_path / "npm.osv.jsonl").write_bytes(open(vulndata("npm.osv.jsonl"), "rb").read())
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_url_import_from_a_loopback_server(db, file_server):
    url = f"{file_server}/npm.osv.jsonl?token=secret-value"
    report = api.import_sources([url, f"http://user:pw@{file_server[7:]}/missing.jsonl"])
    assert report.sources[0].created == 16
    # Stored and reported without credentials or query string.
    assert report.sources[0].source == f"{file_server}/npm.osv.jsonl"
    assert report.unavailable == [f"{file_server}/missing.jsonl: HTTP 404"]
    assert "secret-value" not in json.dumps(report.as_dict())
    assert ImportSource.objects.filter(name=f"{file_server}/npm.osv.jsonl").exists()


def test_a_bad_line_in_jsonl_is_refused_with_its_line_number(db, tmp_path):
    path = tmp_path / "broken.jsonl"
    lines = open(vulndata("npm.osv.jsonl")).read().splitlines()[:3] + ['{"name": "not osv"}']
    path.write_text("\n".join(lines))
    report = api.import_sources([str(path)])
    assert report.format_errors == [f"{path}: line 4 is not an OSV record"]


@pytest.mark.slow
def test_unreachable_url_is_unavailable_without_credentials(db):
    import socket

    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = api.import_sources([f"http://user:hunter2@127.0.0.1:{port}/all.zip"])
    assert report.unavailable == [
        f"http://127.0.0.1:{port}/all.zip: cannot download (ConnectionError)"
    ]
    assert "hunter2" not in json.dumps(report.as_dict())
