"""The "done when" of the issue, through the commands only: ``integration add`` for the local
test registry, ``runscan --wait --json``, then findings for its images; and exit code 3 when
the registry refuses the credentials."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from scans.models import ScanRun

from .conftest import BASE_LAYER, app_layer

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)
# An OSV record for Alpine's zlib (fixed in 1.3.1-r0): the test images carry zlib 1.3-r2.
OSV = {
    "schema_version": "1.6.0",
    "id": "ALPINE-CVE-2099-0001",
    "modified": "2026-01-01T00:00:00Z",
    "aliases": ["CVE-2099-0001"],
    "affected": [
        {
            "package": {"ecosystem": "Alpine:v3.19", "name": "zlib"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.3.1-r0"}]}
            ],
        }
    ],
}


def cli(*args, stdin: str = "", monkeypatch=None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_integration_add_then_runscan_wait_gives_findings(
    registry, repo_name, org, monkeypatch, tmp_path
):
    for i, tag in enumerate(["1.0", "1.1", "latest"]):
        registry.push_image(
            repo_name, tag, [BASE_LAYER, app_layer(tag)], created=T0 + timedelta(hours=i)
        )
    advisory = tmp_path / "osv.json"
    advisory.write_text(json.dumps(OSV))
    cli("importvulns", str(advisory))
    cli("integration", "add", "--provider", "oci", "--name", "lab", "--url", registry.url,
        "--username", registry.username, "--password-stdin", "--include-repo", repo_name,
        "--no-initial-scan", stdin=registry.password + "\n", monkeypatch=monkeypatch)  # fmt: skip

    preview, _ = cli("integration", "preview", "lab", "--json")
    assert [(d["tag"], d["action"]) for d in json.loads(preview) if d["tag"]] == [
        ("1.0", "scan"), ("1.1", "scan"), ("latest", "scan"),
    ]  # fmt: skip

    out, err = cli("runscan", "--registry", "lab", "--wait", "--json")
    [doc] = json.loads(out)
    assert {
        "registry",
        "status",
        "trigger",
        "scanned",
        "skipped",
        "counts",
        "bytes_downloaded",
    } <= set(doc)
    assert (doc["registry"], doc["status"], doc["trigger"]) == ("lab", "succeeded", "cli")
    assert [s["tag"] for s in doc["scanned"]] == ["1.0", "1.1", "latest"]
    assert set(doc["scanned"][0]) >= {"repository", "tag", "digest", "platform", "status", "error"}
    assert doc["counts"]["scanned"] == 3 and doc["bytes_downloaded"] > 0
    assert registry.password not in out + err

    found, _ = cli("findings", "--registry", "lab", "--format", "json")
    findings = json.loads(found)
    assert {(f["vulnerability"], f["package"]) for f in findings} == {
        ("ALPINE-CVE-2099-0001", "zlib")
    }
    assert len({f["digest"] for f in findings}) == 3  # every image carries it

    listed, _ = cli("integration", "list", "--json")
    [row] = json.loads(listed)
    assert row["last_scan_status"] == "succeeded" and row["images"] == 3
    assert registry.password not in listed


def test_runscan_exits_3_when_the_registry_refuses_the_credentials(registry, org, monkeypatch):
    cli("integration", "add", "--provider", "oci", "--name", "bad", "--url", registry.url,
        "--username", registry.username, "--password-stdin", "--no-initial-scan",
        stdin="wrong-password\n", monkeypatch=monkeypatch)  # fmt: skip
    with pytest.raises(CommandError) as info:
        cli("runscan", "--registry", "bad", "--wait", "--json")
    assert info.value.returncode == 3
    with pytest.raises(CommandError) as info:
        cli("integration", "preview", "bad")
    assert info.value.returncode == 3
    with pytest.raises(CommandError) as info:
        cli("runscan", "--registry", "nope")
    assert info.value.returncode == 2


def test_check_registry_accepts_saved_or_unsaved_fields(registry, org):
    from integrations import services
    from integrations.providers.base import ProviderError

    fields = {"name": "lab", "provider": "oci", "url": registry.url, "username": registry.username}
    assert "Connected to lab" in services.check_registry({**fields, "secret": registry.password})
    with pytest.raises(ProviderError) as info:
        services.check_registry({**fields, "secret": "not-the-password-123"})
    assert "authentication failed" in info.value.message
    assert "not-the-password-123" not in str(info.value) + repr(info.value)
    saved = services.create_registry(
        org, None, secret=registry.password, initial_scan=False, **fields
    )
    assert "Connected to lab" in services.check_registry(saved)


def test_runscan_wait_joins_the_queued_initial_scan(registry, repo_name, org, monkeypatch):
    registry.push_image(repo_name, "1.0", [BASE_LAYER, app_layer("join")], created=T0)
    # No worker runs in this test: the initial scan stays queued until runscan takes it over.
    cli("integration", "add", "--provider", "oci", "--name", "lab", "--url", registry.url,
        "--username", registry.username, "--password-stdin", "--include-repo", repo_name,
        stdin=registry.password, monkeypatch=monkeypatch)  # fmt: skip
    out, err = cli("runscan", "--registry", "lab", "--wait", "--json")
    [doc] = json.loads(out)
    assert "already being scanned" in err
    assert (doc["trigger"], doc["status"]) == ("initial", "succeeded")
    assert [s["tag"] for s in doc["scanned"]] == ["1.0"]
    ScanRun.objects.update(status="running")  # as if a worker were scanning it
    with pytest.raises(CommandError) as info:  # without --wait a busy registry starts nothing
        cli("runscan", "--registry", "lab")
    assert info.value.returncode == 1
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("runscan", "--registry", "lab", "--json", stdout=out, stderr=io.StringIO())
    [busy] = json.loads(out.getvalue())  # the contract's keys, as for any run
    assert busy["status"] == "busy" and busy["trigger"] == "initial"
    assert {"scanned", "skipped", "counts", "bytes_downloaded"} <= set(busy)


def test_runscan_all_exits_1_when_some_registries_were_scanned(
    registry, repo_name, org, monkeypatch
):
    registry.push_image(repo_name, "1.0", [BASE_LAYER], created=T0)
    for name, password in (("good", registry.password), ("refused", "wrong-password")):
        cli("integration", "add", "--provider", "oci", "--name", name, "--url", registry.url,
            "--username", registry.username, "--password-stdin", "--no-initial-scan",
            "--include-repo", repo_name, stdin=password + "\n", monkeypatch=monkeypatch)  # fmt: skip
    out = io.StringIO()
    with pytest.raises(CommandError) as info:  # was 3, "nothing could be done"
        call_command("runscan", "--all", "--wait", "--json", stdout=out, stderr=io.StringIO())
    assert info.value.returncode == 1
    statuses = {d["registry"]: d["status"] for d in json.loads(out.getvalue())}
    assert statuses == {"good": "succeeded", "refused": "failed"}


def test_runscan_names_the_way_out_of_an_ambiguous_name(org, other_org):
    from integrations import services

    for organization in (org, other_org):
        services.create_registry(
            organization, None, initial_scan=False, name="lab", provider="oci",
            url="https://r.example", schedule="off",
        )  # fmt: skip
    with pytest.raises(CommandError) as info:
        cli("runscan", "--registry", "lab")
    assert info.value.returncode == 2
    assert str(info.value) == "More than one integration is named 'lab': give --org."
