"""Integration services and the ``integration`` / ``rotatekeys`` commands (no registry I/O)."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django_q.models import Schedule

from accounts.models import Profile
from integrations import services
from integrations.models import Registry
from scans import orchestration
from scans.models import ScanRun
from scans.orchestration import request_scan

SECRET = "s3cr3t-Pa55w0rd-xyz"


def make(org, name="reg", **fields):
    values = {"provider": "oci", "url": "https://registry.example", "schedule": "daily 02:00"}
    values.update(fields)
    return services.create_registry(org, None, initial_scan=False, name=name, **values)


def raw_column(registry) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_encrypted FROM integrations_registry WHERE id = %s", [registry.pk]
        )
        return cursor.fetchone()[0]


def test_the_database_column_never_holds_the_secret_in_clear(org, owner):
    registry = make(org, username="u", secret=SECRET)
    stored = raw_column(registry)
    assert stored and SECRET not in stored
    assert Registry.objects.get(pk=registry.pk).secret().reveal() == SECRET


def test_the_first_enabled_integration_activates_the_org_with_one_service_user(org):
    assert org.service_user_id is None
    make(org, "one")
    org.refresh_from_db()
    user = org.service_user
    assert user.username.startswith("cn-registry-service-")
    assert not user.has_usable_password()
    assert Profile.objects.get(user=user).is_service_user
    assert org.groups.get(name="admins").users.filter(pk=user.pk).exists()
    make(org, "two")
    org.refresh_from_db()
    assert org.service_user_id == user.pk


def test_a_disabled_integration_does_not_activate(org):
    make(org, enabled=False)
    org.refresh_from_db()
    assert org.service_user_id is None


def test_creating_requests_the_initial_scan_by_the_service_user(
    org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        registry = services.create_registry(
            org, None, name="r", provider="oci", url="https://registry.example"
        )
    run = ScanRun.objects.get(registry=registry)
    org.refresh_from_db()
    assert (run.trigger, run.status, run.actor_id) == ("initial", "queued", org.service_user_id)
    assert len(callbacks) == 1  # the run is enqueued once the creation committed


def test_no_initial_scan_when_asked(org):
    registry = make(org)
    assert not ScanRun.objects.filter(registry=registry).exists()


def test_invalid_fields_are_refused_with_reasons(org):
    with pytest.raises(ValidationError) as info:
        services.create_registry(org, None, name="x", provider="oci", schedule="daily 26:00")
    assert "schedule" in info.value.message_dict
    with pytest.raises(ValidationError):
        services.create_registry(org, None, name="x", provider="nope", url="u")
    with pytest.raises(ValidationError):
        services.create_registry(org, None, name="x", provider="oci", colour="red")
    assert not Registry.objects.filter(name="x").exists()


def test_update_keeps_the_secret_when_blank_and_reschedules(org):
    registry = make(org, username="u", secret=SECRET)
    before = raw_column(registry)
    services.update_registry(registry, secret="", schedule="every 6h")
    assert raw_column(registry) == before
    assert Schedule.objects.get(name=f"scan-registry-{registry.pk}").minutes == 360
    services.update_registry(registry, secret="another-secret")
    assert Registry.objects.get(pk=registry.pk).secret().reveal() == "another-secret"


def test_update_with_bad_values_changes_nothing(org):
    registry = make(org)
    with pytest.raises(ValidationError):
        services.update_registry(registry, schedule="sometimes")
    assert registry.schedule == "daily 02:00"
    assert Registry.objects.get(pk=registry.pk).schedule == "daily 02:00"


def test_delete_removes_the_schedule(org):
    registry = make(org)
    name = f"scan-registry-{registry.pk}"
    assert Schedule.objects.filter(name=name).exists()
    services.delete_registry(registry)
    assert not Schedule.objects.filter(name=name).exists()
    assert not Registry.objects.filter(name="reg").exists()


def test_a_ca_bundle_that_is_not_pem_is_refused(org):
    with pytest.raises(ValidationError) as info:
        make(org, ca_bundle="MIIB... (a DER file or a path, not PEM)")
    assert "ca_bundle" in info.value.message_dict
    assert not Registry.objects.exists()


def test_provider_config_writes_the_ca_bundle_to_a_file(org):
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    registry = make(org, ca_bundle=pem, username="u", secret=SECRET)
    config = services.provider_config(registry)
    with open(config.ca_bundle) as fh:
        assert fh.read() == pem
    assert config.secret.reveal() == SECRET
    assert SECRET not in repr(config)


def test_table_annotations_give_the_last_run_and_progress(org):
    registry = make(org)
    run, _ = request_scan(registry, trigger="manual", actor=None, enqueue=False)
    ScanRun.objects.filter(pk=run.pk).update(
        status="running", selected=120, scanned=30, reused=5, failed=2
    )
    status = services.registry_status(registry)
    assert status["last_run_status"] == "running"
    assert status["progress"] == "37/120 images"
    assert status["schedule"] == "Daily at 02:00"
    assert status["next_run"] is not None
    rows = services.annotate_registry_table(Registry.objects.all())
    assert [r.last_run_id for r in rows] == [run.pk]


# --- Scan Now never starts two runs ------------------------------------------------------------


def test_a_second_scan_now_says_so_and_starts_nothing(org):
    registry = make(org)
    first, _ = request_scan(registry, trigger="manual", actor=None, enqueue=False)
    second, message = request_scan(registry, trigger="manual", actor=None, enqueue=False)
    assert first is not None and second is None
    assert message.startswith("reg is already being scanned (started ")
    assert ScanRun.objects.filter(registry=registry).count() == 1


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_scan_now_calls_start_one_run(org):
    registry = make(org)
    barrier = threading.Barrier(10)
    results: list = []

    def press() -> None:
        try:
            barrier.wait()
            results.append(request_scan(registry, trigger="manual", actor=None, enqueue=False))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [run for run, _ in results if run is not None]
    assert len(results) == 10
    assert len(started) == 1
    assert ScanRun.objects.filter(registry=registry).count() == 1
    assert all("already being scanned" in msg for run, msg in results if run is None)


# --- The CLI ------------------------------------------------------------------------------


def run_cli(*args, stdin: str = "", env=None, monkeypatch=None):
    out, err = io.StringIO(), io.StringIO()
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_cli_add_list_edit_remove(org, monkeypatch):
    out, _ = run_cli(
        "integration", "add", "--provider", "oci", "--name", "lab", "--url", "https://r.example",
        "--username", "bob", "--password-stdin", "--schedule", "weekly mon 03:00",
        "--include-tag", "v*", "--exclude-tag", "*-rc*", "dev*", "--max-tags", "5",
        "--no-initial-scan", "--json", stdin=SECRET + "\n", monkeypatch=monkeypatch,
    )  # fmt: skip
    doc = json.loads(out)
    assert doc["name"] == "lab" and doc["has_secret"] is True
    registry = Registry.objects.get(name="lab")
    assert registry.secret().reveal() == SECRET
    assert registry.exclude_tags == ["*-rc*", "dev*"]
    assert registry.access == "private"

    out, _ = run_cli("integration", "list", "--json")
    assert json.loads(run_cli("integration", "list", "--format", "json")[0]) == json.loads(out)
    [row] = json.loads(out)
    assert row["schedule_text"] == "Weekly on Monday at 03:00"
    assert row["next_scan"] and row["last_scan_status"] is None

    run_cli("integration", "edit", "lab", "--schedule", "off", "--max-age", "30")
    registry.refresh_from_db()
    assert (registry.schedule, registry.max_age_days) == ("off", 30)
    assert registry.secret().reveal() == SECRET  # untouched by edit

    run_cli("integration", "remove", "lab")
    assert not Registry.objects.filter(name="lab").exists()


def test_cli_edit_clears_a_list_with_an_empty_value(org):
    make(org, name="lab", include_tags=["v*"], exclude_tags=["*-rc*", "dev*"])
    run_cli("integration", "edit", "lab", "--exclude-tag", "")  # was stored as [""]
    registry = Registry.objects.get(name="lab")
    assert registry.exclude_tags == [] and registry.include_tags == ["v*"]


def test_cli_list_says_which_integrations_are_disabled(org):
    make(org, name="on")
    make(org, name="off", enabled=False)
    out, _ = run_cli("integration", "list")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "next: disabled" in lines["off"] and "disabled" not in lines["on"]


def test_cli_takes_the_secret_from_the_environment(org, monkeypatch):
    monkeypatch.setenv("REGSCAN_REGISTRY_PASSWORD", SECRET)
    run_cli("integration", "add", "--provider", "oci", "--name", "env", "--url", "https://r.example",
            "--no-initial-scan")  # fmt: skip
    assert Registry.objects.get(name="env").secret().reveal() == SECRET


def test_cli_has_no_password_argument(org):
    with pytest.raises(CommandError):
        run_cli("integration", "add", "--provider", "oci", "--name", "x", "--password", SECRET)


def test_cli_bad_input_exits_2(org, monkeypatch):
    with pytest.raises(CommandError) as info:
        run_cli("integration", "add", "--provider", "oci", "--name", "x", "--url", "u",
                "--schedule", "now and then", "--no-initial-scan")  # fmt: skip
    assert info.value.returncode == 2
    with pytest.raises(CommandError) as info:
        run_cli("integration", "edit", "missing", "--max-tags", "3")
    assert info.value.returncode == 2


def test_cli_a_missing_secret_names_the_option_that_gives_it(org):
    with pytest.raises(CommandError) as info:
        run_cli("integration", "add", "--provider", "dockerhub", "--name", "hub",
                "--no-initial-scan")  # fmt: skip
    message = str(info.value)
    assert info.value.returncode == 2 and "secret (--password-stdin):" in message
    assert ".;" not in message  # was "... is required.; secret: ..."


def test_the_secret_never_shows_in_list_json_logs_or_exceptions(org, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    run_cli("integration", "add", "--provider", "oci", "--name", "lab", "--url", "https://r.example",
            "--username", "bob", "--password-stdin", "--no-initial-scan",
            stdin=SECRET, monkeypatch=monkeypatch)  # fmt: skip
    out, err = run_cli("integration", "list", "--json")
    assert SECRET not in out + err
    registry = Registry.objects.get(name="lab")
    config = services.provider_config(registry)
    logging.getLogger("regscan.test").warning("config is %s and %r", config, config.secret)
    with pytest.raises(ValidationError) as info:
        services.update_registry(registry, secret=SECRET, schedule="bad schedule")
    assert SECRET not in str(info.value) + repr(info.value)
    assert SECRET not in caplog.text
    assert SECRET not in str(config) + repr(config)


def test_rotatekeys_reencrypts_with_the_first_key(org, settings):
    registry = make(org, username="u", secret=SECRET)
    old_token = raw_column(registry)
    new_key = Fernet.generate_key().decode()
    settings.REGSCAN_ENCRYPTION_KEYS = [new_key, *settings.REGSCAN_ENCRYPTION_KEYS]
    out, _ = run_cli("rotatekeys", "--json")
    assert json.loads(out) == {"reencrypted": 1, "undecryptable": []}
    new_token = raw_column(registry)
    assert new_token != old_token and SECRET not in new_token
    assert Fernet(new_key.encode()).decrypt(new_token.encode()).decode() == SECRET
    settings.REGSCAN_ENCRYPTION_KEYS = [new_key]  # the old key removed: still readable
    assert Registry.objects.get(pk=registry.pk).secret().reveal() == SECRET


def test_rotatekeys_reports_credentials_no_key_can_read(org, settings):
    make(org, username="u", secret=SECRET)
    settings.REGSCAN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError) as info:
        run_cli("rotatekeys")
    assert info.value.returncode == 3


def test_rotatekeys_refuses_a_malformed_key_and_changes_nothing(org, settings):
    registry = make(org, username="u", secret=SECRET)
    token = raw_column(registry)
    settings.REGSCAN_ENCRYPTION_KEYS = ["not-a-fernet-key", *settings.REGSCAN_ENCRYPTION_KEYS]
    with pytest.raises(CommandError, match="not a Fernet key") as info:  # was a traceback
        run_cli("rotatekeys")
    assert info.value.returncode == 2 and "not-a-fernet-key" not in str(info.value)
    assert raw_column(registry) == token


@pytest.mark.parametrize("bad_key", ["missing", "malformed"])
def test_a_scan_without_the_credential_key_says_what_to_fix(org, settings, bad_key):
    registry = make(org, username="u", secret=SECRET)
    run, _ = request_scan(registry, trigger="manual", actor=None, enqueue=False)
    keys = {"missing": Fernet.generate_key().decode(), "malformed": "not-a-fernet-key"}
    settings.REGSCAN_ENCRYPTION_KEYS = [keys[bad_key]]
    orchestration.start_run(run.pk, orchestration._Dispatch(inline=True))
    run.refresh_from_db()
    # Was "Internal error while listing the registry (see the worker log)".
    assert run.status == "failed" and "REGSCAN_ENCRYPTION_KEYS" in run.error
    assert SECRET not in run.error and keys[bad_key] not in run.error
