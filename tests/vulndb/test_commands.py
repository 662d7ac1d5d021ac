"""`importvulns` and `findings` per the DESIGN.md CLI contract (JSON on stdout, messages on
stderr, exit codes 0/1/2/3)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from scans.vulndb.models import Finding
from tests.vulndb.factories import (
    debian11_packages,
    make_image,
    make_registry,
    make_sbom,
    pkg,
    vulndata,
)

DESIGN_KEYS = {
    "image",
    "digest",
    "package",
    "version",
    "ecosystem",
    "purl",
    "vulnerability",
    "aliases",
    "severity",
    "cvss_score",
    "fixed_version",
    "status",
    "kev",
    "epss",
}


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_importvulns_json_and_rematch(db, org):
    image = make_image(make_registry(org), make_sbom("debian", "11", debian11_packages()))
    out, err = run("importvulns", vulndata("debian.osv.jsonl"), vulndata("cisa_kev.json"), "--json")
    doc = json.loads(out)
    assert [s["kind"] for s in doc["sources"]] == ["osv", "kev"]
    assert doc["sources"][0]["created"] == 272
    assert doc["rematch"]["opened"] == 2 and doc["data_as_of"]
    assert Finding.objects.filter(image=image).count() == 2
    assert "not imported" not in err


def test_importvulns_refuses_an_unknown_file_with_exit_2(db, tmp_path):
    bad = tmp_path / "image.tar"
    bad.write_bytes(b"\x00\x01binary")
    with pytest.raises(CommandError) as exc:
        run("importvulns", str(bad), "--json")
    assert exc.value.returncode == 2


def test_importvulns_exit_3_when_nothing_readable_and_1_when_partly(db, tmp_path):
    with pytest.raises(CommandError) as exc:
        run("importvulns", str(tmp_path / "missing.jsonl"))
    assert exc.value.returncode == 3
    with pytest.raises(CommandError) as exc:
        run("importvulns", str(tmp_path / "missing.jsonl"), vulndata("npm.osv.jsonl"))
    assert exc.value.returncode == 1


@pytest.fixture
def scanned(db, org, other_org):
    call_command(
        "importvulns", vulndata("debian.osv.jsonl"), vulndata("npm.osv.jsonl"), stderr=io.StringIO()
    )
    hub = make_registry(org, name="hub", url="https://registry.example.com")
    deb = make_image(
        hub, make_sbom("debian", "11", debian11_packages()), repo="team/deb", tags=["latest"]
    )
    node = make_image(hub, make_sbom(packages=[pkg("lodash", "4.17.15", "npm")]), repo="team/node")
    elsewhere = make_registry(other_org, name="other", url="other.example.com")
    make_image(elsewhere, make_sbom(packages=[pkg("axios", "1.7.2", "npm")]), repo="x")
    from scans.vulndb.api import rematch_all

    rematch_all()
    return deb, node


def test_findings_json_has_the_contract_keys(scanned):
    out, err = run("findings", "--format", "json")
    rows = json.loads(out)
    assert len(rows) == 2 + 3 + 1
    assert all(DESIGN_KEYS <= set(r) for r in rows)
    deb_rows = [r for r in rows if r["package"] == "libssl1.1"]
    assert deb_rows[0]["image"] == "registry.example.com/team/deb:latest"
    assert deb_rows[0]["vulnerability"] == "DSA-5343-1"
    assert "6 findings" in err


def test_findings_filters(scanned):
    deb, _node = scanned
    by_registry = json.loads(run("findings", "--registry", "hub")[0])
    assert {r["registry"] for r in by_registry} == {"hub"} and len(by_registry) == 5
    by_org = json.loads(run("findings", "--org", "globex")[0])
    assert [r["vulnerability"] for r in by_org] == ["GHSA-8hc4-vh64-cxmj"]
    by_image = json.loads(run("findings", "--image", "registry.example.com/team/node:1.0")[0])
    assert {r["package"] for r in by_image} == {"lodash"}
    by_digest = json.loads(run("findings", "--image", deb.digest)[0])
    assert {r["package"] for r in by_digest} == {"libssl1.1", "openssl"}
    high = json.loads(run("findings", "--severity", "high")[0])
    assert {r["vulnerability"] for r in high} == {
        "GHSA-p6mc-m468-83gw",
        "GHSA-35jh-r3h4-6jhm",
        "GHSA-8hc4-vh64-cxmj",
    }
    assert json.loads(run("findings", "--status", "resolved")[0]) == []


def test_findings_csv(scanned):
    out, _ = run("findings", "--format", "csv", "--registry", "hub")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5 and DESIGN_KEYS <= set(rows[0])


def test_findings_unknown_registry_is_exit_2(scanned):
    with pytest.raises(CommandError) as exc:
        run("findings", "--registry", "nope")
    assert exc.value.returncode == 2
