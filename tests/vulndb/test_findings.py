"""Findings stay current: sync is idempotent, and imports re-match stored SBOMs (pure
database tests: no image is pulled). Records are the real ones of /work/shared/vulndata;
where a test needs a *changed* record it derives it from the real one and says how."""

from __future__ import annotations

import json
from datetime import date

import pytest

from scans.vulndb import api
from scans.vulndb.models import Finding, FindingStatus
from tests.vulndb.factories import (
    debian11_packages,
    make_image,
    make_registry,
    make_sbom,
    pkg,
    records,
)


def open_ids(image) -> set[tuple[str, str]]:
    rows = Finding.objects.filter(image=image, status=FindingStatus.OPEN)
    return set(rows.values_list("package_name", "vulnerability__osv_id"))


def write_jsonl(path, recs) -> str:
    path.write_text("\n".join(json.dumps(r) for r in recs))
    return str(path)


def test_sync_is_idempotent_and_keeps_first_seen(load, hub):
    load("debian.osv.jsonl")
    image = make_image(hub, make_sbom("debian", "11", debian11_packages()))
    first = api.sync_findings(image)
    assert (first.opened, first.resolved, first.unchanged) == (2, 0, 0)
    seen = dict(Finding.objects.values_list("package_name", "first_seen"))
    again = api.sync_findings(image)
    assert (again.opened, again.resolved, again.unchanged) == (0, 0, 2)
    assert Finding.objects.count() == 2
    assert dict(Finding.objects.values_list("package_name", "first_seen")) == seen
    finding = Finding.objects.get(package_name="libssl1.1")
    assert (finding.source_name, finding.fixed_version) == ("openssl", "1.1.1n-0+deb11u4")


def test_sync_reports_a_release_without_data(load, hub):
    load("debian.osv.jsonl")
    image = make_image(hub, make_sbom("debian", "13", debian11_packages()))
    result = api.sync_findings(image)
    assert result.opened == 0
    assert any("no vulnerability data for Debian 13" in w for w in result.coverage_warnings)


def test_an_import_that_adds_a_record_opens_findings(db, hub, tmp_path):
    recs = records("debian.osv.jsonl")
    dsa = recs.pop("DSA-5343-1")
    api.import_sources([write_jsonl(tmp_path / "without.jsonl", recs.values())])
    image = make_image(hub, make_sbom("debian", "11", debian11_packages()))
    api.sync_findings(image)
    assert open_ids(image) == set()
    report = api.import_sources([write_jsonl(tmp_path / "dsa.jsonl", [dsa])])
    assert (report.rematch.opened, report.rematch.resolved) == (2, 0)
    assert open_ids(image) == {("libssl1.1", "DSA-5343-1"), ("openssl", "DSA-5343-1")}


def test_an_import_that_changes_a_range_resolves_then_reopens(load, hub, tmp_path):
    load("debian.osv.jsonl")
    image = make_image(hub, make_sbom("debian", "11", debian11_packages()))
    api.sync_findings(image)
    first_seen = Finding.objects.get(package_name="openssl").first_seen
    # Derived from the real DSA-5343-1: fixed moved down to the installed version, newer date.
    dsa = records("debian.osv.jsonl")["DSA-5343-1"]
    moved = json.loads(json.dumps(dsa))
    moved["modified"] = "2030-01-01T00:00:00Z"
    moved["affected"][0]["ranges"][0]["events"][1]["fixed"] = "1.1.1n-0+deb11u3"
    report = api.import_sources([write_jsonl(tmp_path / "moved.jsonl", [moved])])
    assert (report.rematch.opened, report.rematch.resolved) == (0, 2)
    finding = Finding.objects.get(package_name="openssl")
    assert finding.status == "resolved" and finding.resolved_at is not None
    back = json.loads(json.dumps(dsa))
    back["modified"] = "2031-01-01T00:00:00Z"
    report = api.import_sources([write_jsonl(tmp_path / "back.jsonl", [back])])
    assert report.rematch.opened == 2
    finding.refresh_from_db()
    assert finding.status == "open" and finding.resolved_at is None
    assert finding.first_seen == first_seen
    assert Finding.objects.count() == 2


def test_a_withdrawn_record_stops_matching(load, hub, tmp_path):
    load("npm.osv.jsonl")
    image = make_image(hub, make_sbom(packages=[pkg("axios", "1.7.2", "npm")]))
    api.sync_findings(image)
    assert open_ids(image) == {("axios", "GHSA-8hc4-vh64-cxmj")}
    withdrawn = dict(
        records("npm.osv.jsonl")["GHSA-8hc4-vh64-cxmj"],
        modified="2030-01-01T00:00:00Z",
        withdrawn="2030-01-01T00:00:00Z",
    )
    report = api.import_sources([write_jsonl(tmp_path / "w.jsonl", [withdrawn])])
    assert report.rematch.resolved == 1
    assert open_ids(image) == set()
    # The real withdrawn PyPA record PYSEC-2022-43059 (aiohttp, all versions) never matches.
    load("pypi.more.osv.jsonl")
    ids = {
        f.vulnerability
        for f in api.match_sbom(make_sbom(packages=[pkg("aiohttp", "3.8.1", "pypi")]))
    }
    assert "PYSEC-2022-43059" not in ids and ids


def test_rematch_with_changed_keys_touches_only_those_packages(load, hub):
    load("debian.osv.jsonl", "npm.osv.jsonl")
    deb = make_image(hub, make_sbom("debian", "11", debian11_packages()), repo="deb")
    node = make_image(hub, make_sbom(packages=[pkg("lodash", "4.17.15", "npm")]), repo="node")
    Finding.objects.all().delete()
    result = api.rematch_all({("npm", "lodash")})
    assert (result.sboms, result.opened) == (1, 3)
    assert open_ids(deb) == set()
    assert {v for _p, v in open_ids(node)} == {
        "GHSA-p6mc-m468-83gw",
        "GHSA-35jh-r3h4-6jhm",
        "GHSA-29mw-wpgm-hmr9",
    }
    everything = api.rematch_all()
    assert (everything.sboms, everything.opened, everything.unchanged) == (2, 2, 3)


@pytest.mark.parametrize("ghsa_id", ["GHSA-2gwj-7jmv-h26r", "GHSA-test-only-cve-link"])
def test_alias_group_shows_once(load, hub, tmp_path, ghsa_id):
    """PYSEC-2022-190 aliases GHSA-2gwj-7jmv-h26r and CVE-2022-28346. The GHSA record is not
    in vulndata, so the test builds it from the PYSEC record (same affected ranges, its own
    id, aliasing the CVE) the way GitHub publishes it: both must give one finding."""
    load("pypi.osv.jsonl")
    pysec = records("pypi.osv.jsonl")["PYSEC-2022-190"]
    ghsa = {
        "id": ghsa_id,
        "modified": "2024-01-01T00:00:00Z",
        "aliases": ["CVE-2022-28346"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Django"},
                "ranges": pysec["affected"][0]["ranges"],
            }
        ],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }
    api.import_sources([write_jsonl(tmp_path / "ghsa.jsonl", [ghsa])])
    image = make_image(hub, make_sbom(packages=[pkg("django", "3.2.0", "pypi")]))
    api.sync_findings(image)
    group = [f for f in Finding.objects.filter(image=image) if "CVE-2022-28346" in f.aliases]
    assert len(group) == 1
    finding = group[0]
    ids = {finding.vulnerability.osv_id, *finding.aliases}
    # Linked by the PYSEC record naming the GHSA id, or (second case) by the shared CVE only.
    assert {"PYSEC-2022-190", ghsa_id, "CVE-2022-28346"} <= ids
    # The representative carries the CVSS vector (9.8 critical); the PYSEC record has none.
    assert (finding.severity, finding.cvss_score) == ("critical", 9.8)
    assert Finding.objects.filter(image=image).count() == 25  # 25 django advisories, once each


def test_kev_epss_and_priority(load, hub, tmp_path, org):
    # DSA-2896-1 (Debian:7 openssl fixed 1.0.1e-2+deb7u5) fixes CVE-2014-0160, which is in
    # the KEV catalog with due date 2022-05-25; DSA-2908-1 (fixed ...deb7u7) is not.
    load("debian.osv.jsonl", "cisa_kev.json")
    sbom = make_sbom("debian", "7", [pkg("libssl1.0.0", "1.0.1e-2+deb7u4", "deb", "openssl")])
    latest = make_image(hub, sbom, repo="web", tags=["latest", "1.0"])
    other_hub = make_registry(org, name="second", url="second.example.com")
    second = make_image(other_hub, sbom, repo="web2", tags=["2.0"])
    api.sync_findings(latest)
    api.sync_findings(second)
    heartbleed = Finding.objects.get(image=latest, vulnerability__osv_id="DSA-2896-1")
    assert (heartbleed.kev, heartbleed.kev_due) == (True, date(2022, 5, 25))
    assert not Finding.objects.get(image=latest, vulnerability__osv_id="DSA-2908-1").kev
    assert (heartbleed.images_affected, heartbleed.latest_tags_affected) == (2, 1)
    parts = heartbleed.priority_components
    assert parts["kev"] is True and parts["fix_available"] is True and parts["images"] == 2
    before = heartbleed.priority
    epss = tmp_path / "epss.csv"
    epss.write_text(
        "#model_version:v2023.03.01,score_date:2024-10-01\ncve,epss,percentile\nCVE-2014-0160,0.9,0.99\n"
    )
    api.import_sources([str(epss)])
    heartbleed.refresh_from_db()
    assert (heartbleed.epss, heartbleed.epss_percentile) == (0.9, 0.99)
    assert heartbleed.priority > before
    plain = Finding.objects.get(image=latest, vulnerability__osv_id="DSA-2908-1")
    assert plain.epss is None and plain.priority < heartbleed.priority


def test_withdrawing_the_only_record_of_a_release_resolves_its_findings(db, hub, tmp_path):
    # DLA-3152-1 is the only Debian:10 glibc record; withdrawn, Debian 10 has no live data.
    dla = records("debian.osv.jsonl")["DLA-3152-1"]
    api.import_sources([write_jsonl(tmp_path / "dla.jsonl", [dla])])
    image = make_image(
        hub, make_sbom("debian", "10", [pkg("libc6", "2.28-10+deb10u1", "deb", "glibc")])
    )
    api.sync_findings(image)
    assert open_ids(image) == {("libc6", "DLA-3152-1")}
    gone = dict(dla, modified="2030-01-01T00:00:00Z", withdrawn="2030-01-01T00:00:00Z")
    report = api.import_sources([write_jsonl(tmp_path / "gone.jsonl", [gone])])
    assert report.rematch.resolved == 1 and open_ids(image) == set()
    assert any("no vulnerability data for Debian 10" in w for w in report.rematch.coverage_warnings)


def test_running_in_a_cluster_raises_priority(load, hub, org):
    from scans.models import RunningImage

    load("npm.osv.jsonl")
    running = make_image(hub, make_sbom(packages=[pkg("axios", "1.7.2", "npm")]), repo="a")
    idle = make_image(hub, make_sbom(packages=[pkg("axios", "1.7.2", "npm")]), repo="b")
    api.rematch_all()
    RunningImage.objects.create(
        organization=org,
        registry=hub,
        cluster="prod",
        namespace="default",
        workload_kind="Deployment",
        workload_name="web",
        container_name="web",
        reference=f"registry.example.com/a@{running.digest}",
        repository="a",
        digest=running.digest,
    )
    assert api.recompute_priority(org_id=org.pk) == 1
    hot = Finding.objects.get(image=running)
    cold = Finding.objects.get(image=idle)
    assert hot.priority_components["running"] is True and not cold.priority_components["running"]
    assert hot.priority == cold.priority + 10
