"""``manage.py scanimage`` against the real local registry: JSON shape, CycloneDX and SARIF
output, the Public/Manual occurrence, platforms, and exit codes 2 and 3."""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
import tarfile

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from django.core.management import CommandError, call_command

from integrations.models import Registry, RegistryAccess
from scans import services
from scans.models import Image, Tag
from tests.support.layers import member, raw_tar
from tests.support.oci_images import make_layer
from tests.support.registry import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PACKAGE_KEYS = {"name", "version", "ecosystem", "purl", "source_name", "source_version", "layer"}


def scanimage(registry, ref: str, *args: str, monkeypatch=None, password=None):
    """Run scanimage with the registry's credentials; return (stdout, stderr, exit code)."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO((password or registry.password) + "\n"))
    argv = [ref, "--username", registry.username, "--password-stdin", "--insecure-registry", *args]
    try:
        call_command("scanimage", *argv, stdout=out, stderr=err)
        code = 0
    except CommandError as e:
        err.write(str(e))
        code = e.returncode
    return out.getvalue(), err.getvalue(), code


@pytest.fixture
def app_image(registry, repo_name, dpkg_root, pip_root):
    registry.push_image(repo_name, "1.0", [make_layer(dpkg_root.files), make_layer(pip_root.files)])
    return f"{registry.host}/{repo_name}:1.0"


def test_json_output_follows_the_cli_contract(
    registry, org, app_image, dpkg_root, pip_root, monkeypatch
):
    out, err, code = scanimage(registry, app_image, "--format", "json", monkeypatch=monkeypatch)
    assert code == 0, err
    [report] = json.loads(out)
    assert {"image", "digest", "platform", "os", "packages", "findings"} <= set(report)
    assert report["image"] == app_image and report["platform"] == "linux/amd64"
    assert report["os"]["id"] == "debian"
    assert all(set(p) == PACKAGE_KEYS for p in report["packages"])
    found = {(p["name"], p["version"]) for p in report["packages"] if p["ecosystem"] == "pypi"}
    assert found == pip_root.expected
    debs = {
        (p["name"], p["version"], p["source_name"], p["source_version"])
        for p in report["packages"]
        if p["ecosystem"] == "deb"
    }
    assert debs == dpkg_root.expected
    assert report["findings"] == [] or "vulnerability" in report["findings"][0]


def test_it_records_a_public_manual_occurrence_with_image_and_tag(
    registry, org, app_image, monkeypatch
):
    _, err, code = scanimage(registry, app_image, "--format", "json", monkeypatch=monkeypatch)
    assert code == 0, err
    occurrence = Registry.objects.get(organization=org, url=registry.host)
    assert occurrence.access == RegistryAccess.PUBLIC_MANUAL
    image = Image.objects.get(registry=occurrence)
    assert image.sbom is not None and image.sbom.packages.exists()
    tag = Tag.objects.get(repository__registry=occurrence, name="1.0")
    assert list(tag.images.all()) == [image]
    scanimage(registry, app_image, "--format", "json", monkeypatch=monkeypatch)
    assert Registry.objects.filter(organization=org).count() == 1
    assert Image.objects.count() == 1


def test_cyclonedx_output_is_a_valid_bom(registry, org, repo_name, pip_root, monkeypatch, tmp_path):
    registry.push_image(repo_name, "py", [make_layer(pip_root.files)])
    target = tmp_path / "bom.json"
    _, err, code = scanimage(
        registry,
        f"{registry.host}/{repo_name}:py",
        "--format",
        "cyclonedx",
        "--output",
        str(target),
        monkeypatch=monkeypatch,
    )
    assert code == 0, err
    text = target.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["metadata"]["component"]["type"] == "container"
    purls = {c.get("purl") for c in bom["components"]}
    assert "pkg:pypi/requests@2.25.0" in purls


def test_sarif_output_is_a_sarif_log(registry, org, app_image, monkeypatch):
    out, err, code = scanimage(registry, app_image, "--format", "sarif", monkeypatch=monkeypatch)
    assert code == 0, err
    log = json.loads(out)
    assert log["version"] == "2.1.0" and log["runs"][0]["tool"]["driver"]["name"] == "regscan"


def test_an_index_scans_every_platform_unless_one_is_chosen(registry, org, repo_name, monkeypatch):
    registry.push_index(
        repo_name,
        "multi",
        [
            {
                "platform": p,
                "layers": [make_layer({"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"})],
            }
            for p in ("linux/amd64", "linux/arm64")
        ],
    )
    ref = f"{registry.host}/{repo_name}:multi"
    out, err, code = scanimage(registry, ref, "--json", monkeypatch=monkeypatch)
    assert code == 0, err
    assert [r["platform"] for r in json.loads(out)] == ["linux/amd64", "linux/arm64"]
    out, err, code = scanimage(
        registry, ref, "--json", "--platform", "linux/arm64", monkeypatch=monkeypatch
    )
    assert [r["platform"] for r in json.loads(out)] == ["linux/arm64"]
    out, err, code = scanimage(registry, ref, "--format", "cyclonedx", monkeypatch=monkeypatch)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(out) is None
    nested = [c["properties"] for c in json.loads(out)["components"] if c["type"] == "container"]
    assert len(nested) == 2


def test_the_table_lists_packages(registry, org, app_image, monkeypatch):
    out, err, code = scanimage(registry, app_image, monkeypatch=monkeypatch)
    assert code == 0, err
    assert "urllib3" in out and "1.26.5" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["Not//A:Reference"], "not a valid"),
        (["nginx", "--password-stdin"], "--password-stdin needs --username"),
        (["nginx", "--org", "nope"], "No organization named 'nope'"),
        (["nginx", "--ca-bundle", "/nonexistent.pem"], "not a readable file"),
        (["nginx", "--output", "/nonexistent/dir/out.json"], "directory does not exist"),
        (["nginx", "--platform", "amd64"], "is not like linux/amd64"),
    ],
)
def test_bad_arguments_exit_2(org, argv, message):
    with pytest.raises(CommandError, match=message) as caught:
        call_command("scanimage", *argv, stdout=io.StringIO(), stderr=io.StringIO())
    assert caught.value.returncode == 2


def test_an_unknown_option_exits_2_from_the_command_line():
    done = subprocess.run(
        [sys.executable, "manage.py", "scanimage", "nginx", "--format", "xml"],
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "regscan_site.test_settings", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "invalid choice: 'xml'" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["scanimage", "nginx", "--username", "u", "--password", "S3KRIT-x1"],
        ["scanimage", "nginx", "--username", "u", "--password=S3KRIT-x1"],
        ["integration", "add", "--provider", "oci", "--name", "n", "--password", "S3KRIT-x1"],
    ],
)
def test_a_password_argument_is_refused_without_repeating_it(argv):
    # argparse took --password for --password-stdin and printed the password back as an
    # "unrecognized argument".
    done = subprocess.run(
        [sys.executable, "manage.py", *argv],
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "regscan_site.test_settings", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "--password-stdin" in done.stderr
    assert "S3KRIT" not in done.stderr + done.stdout


def test_an_unreachable_registry_exits_3(org, registry, monkeypatch):
    # The client retries connection errors with backoff; skip the waiting.
    no_sleep = functools.partial(services.DistributionClient, sleep=lambda seconds: None)
    monkeypatch.setattr(services, "DistributionClient", no_sleep)
    _, err, code = scanimage(
        registry, f"127.0.0.1:{free_port()}/app:1", "--json", monkeypatch=monkeypatch
    )
    assert code == 3
    assert "cannot connect" in err


def test_refused_credentials_exit_3(org, registry, app_image, monkeypatch):
    _, err, code = scanimage(
        registry, app_image, "--json", monkeypatch=monkeypatch, password="wrong"
    )
    assert code == 3
    assert "authentication failed" in err


@pytest.mark.parametrize(
    ("suffix", "extra", "message"),
    [
        (":no-such-tag", [], "not found"),
        ("-missing:1", [], "not found"),
        ("", ["--platform", "linux/s390x"], "has no image for platform linux/s390x"),
    ],
)
def test_a_reference_that_does_not_exist_exits_2(
    org, registry, app_image, monkeypatch, suffix, extra, message
):
    # Was 3 ("nothing could be done"), the code for an unreachable registry or refused login.
    ref = app_image.rsplit(":", 1)[0] + suffix if suffix else app_image
    _, err, code = scanimage(registry, ref, "--json", *extra, monkeypatch=monkeypatch)
    assert code == 2 and message in err


def test_a_hostile_image_exits_3_with_the_reason(org, registry, repo_name, monkeypatch):
    evil = raw_tar([(member("etc/evil", tarfile.SYMTYPE, "../../../../etc/shadow"), None)])
    registry.push_image(repo_name, "evil", [evil])
    out, err, code = scanimage(
        registry, f"{registry.host}/{repo_name}:evil", "--json", monkeypatch=monkeypatch
    )
    assert code == 3
    assert "pointing outside the root" in err
    assert "pointing outside the root" in json.loads(out)[0]["error"]
    assert not Image.objects.filter(digest=json.loads(out)[0]["digest"]).exists()


# GHSA-v845-jxx5-vc9f (CVE-2023-43804), as published in OSV for PyPI urllib3 (trimmed).
URLLIB3_ADVISORY = {
    "id": "GHSA-v845-jxx5-vc9f",
    "modified": "2024-02-16T08:17:51Z",
    "published": "2023-10-02T23:22:34Z",
    "aliases": ["CVE-2023-43804"],
    "summary": "`Cookie` HTTP header isn't stripped on cross-origin redirects",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:H/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "urllib3"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.17"}]},
                {"type": "ECOSYSTEM", "events": [{"introduced": "2.0.0"}, {"fixed": "2.0.6"}]},
            ],
        }
    ],
}


def test_findings_and_fail_on(registry, org, app_image, monkeypatch, tmp_path):
    from scans.vulndb import api

    advisory = tmp_path / "GHSA-v845-jxx5-vc9f.json"
    advisory.write_text(json.dumps(URLLIB3_ADVISORY))
    report = api.import_sources([str(advisory)])
    assert not report.format_errors
    out, err, code = scanimage(
        registry, app_image, "--json", "--fail-on", "medium", monkeypatch=monkeypatch
    )
    assert code == 1, err
    findings = json.loads(out)[0]["findings"]
    urllib3 = [f for f in findings if f["package"] == "urllib3"]
    assert [(f["vulnerability"], f["version"], f["fixed_version"]) for f in urllib3] == [
        ("GHSA-v845-jxx5-vc9f", "1.26.5", "1.26.17")
    ]
    assert {"image", "digest", "purl", "aliases", "severity", "cvss_score", "kev", "epss"} <= set(
        urllib3[0]
    )
    # The CVSS 3.1 vector above scores 6.8: medium, so --fail-on high is not met.
    assert (urllib3[0]["severity"], urllib3[0]["cvss_score"]) == ("medium", 6.8)
    _, err, code = scanimage(
        registry, app_image, "--json", "--fail-on", "high", monkeypatch=monkeypatch
    )
    assert code == 0, err
    sarif = json.loads(
        scanimage(registry, app_image, "--format", "sarif", monkeypatch=monkeypatch)[0]
    )
    assert "GHSA-v845-jxx5-vc9f" in {r["ruleId"] for r in sarif["runs"][0]["results"]}


def test_a_known_exploited_vulnerability_meets_any_fail_on(
    registry, org, app_image, monkeypatch, tmp_path
):
    from scans.vulndb import api

    advisory = tmp_path / "GHSA-v845-jxx5-vc9f.json"
    advisory.write_text(json.dumps(URLLIB3_ADVISORY))
    api.import_sources([str(advisory)])
    _, err, code = scanimage(
        registry, app_image, "--json", "--fail-on", "critical", monkeypatch=monkeypatch
    )
    assert code == 0, err  # medium (6.8) is below critical
    # The CISA catalog's shape, listing the advisory's CVE alias as exploited.
    kev = tmp_path / "known_exploited_vulnerabilities.json"
    kev.write_text(
        json.dumps(
            {
                "title": "CISA Catalog of Known Exploited Vulnerabilities",
                "catalogVersion": "2026.12.04",
                "dateReleased": "2026-12-04T00:00:00.000Z",
                "count": 1,
                "vulnerabilities": [
                    {
                        "cveID": "CVE-2023-43804",
                        "vendorProject": "urllib3",
                        "product": "urllib3",
                        "vulnerabilityName": "urllib3 Cookie header leak",
                        "dateAdded": "2026-12-01",
                        "shortDescription": "x",
                        "requiredAction": "Apply updates.",
                        "dueDate": "2026-12-22",
                        "knownRansomwareCampaignUse": "Unknown",
                        "notes": "",
                        "cwes": [],
                    }
                ],
            }
        )
    )
    assert not api.import_sources([str(kev)]).format_errors
    out, err, code = scanimage(
        registry, app_image, "--json", "--fail-on", "critical", monkeypatch=monkeypatch
    )
    assert code == 1, err
    urllib3 = [f for f in json.loads(out)[0]["findings"] if f["package"] == "urllib3"]
    assert urllib3[0]["kev"] is True and urllib3[0]["severity"] == "medium"


def test_a_connected_registry_is_pulled_with_its_integrations_credentials(
    registry, org, repo_name, monkeypatch
):
    integration = Registry.objects.create(
        organization=org,
        name="lab",
        provider="oci",
        url=registry.url,
        username=registry.username,
        schedule="off",
    )
    integration.set_secret(registry.password)
    integration.save()
    registry.push_image(repo_name, "v1", [make_layer({"etc/os-release": b"ID=alpine\n"})])
    out, err = io.StringIO(), io.StringIO()
    call_command("scanimage", f"{registry.host}/{repo_name}:v1", "--json", stdout=out, stderr=err)
    [report] = json.loads(out.getvalue())
    assert report["os"]["id"] == "alpine"
    assert Image.objects.get(digest=report["digest"]).registry == integration
    assert list(Registry.objects.filter(organization=org)) == [integration]
