"""Settings come from the environment; a production start without secrets fails loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _django_setup(env_overrides: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGSCAN_", "DJANGO_"))}
    env.pop("SECRET_KEY", None)
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        {"DJANGO_SETTINGS_MODULE": "regscan_site.settings", "REGSCAN_DATA_DIR": str(tmp_path)}
    )
    env.update(env_overrides)
    code = "import django; django.setup(); from django.conf import settings; print(settings.Q_CLUSTER.get('redis') or 'orm')"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_start_without_secret_key_fails_clearly(tmp_path):
    result = _django_setup({"DEBUG": "0"}, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_start_without_encryption_keys_fails_clearly(tmp_path):
    result = _django_setup({"DEBUG": "0", "SECRET_KEY": "x" * 50}, tmp_path)
    assert result.returncode != 0
    assert "REGSCAN_ENCRYPTION_KEYS is not set" in result.stderr


def test_embedded_default_generates_secrets_once_with_a_warning(tmp_path):
    first = _django_setup({"REGSCAN_GENERATE_SECRETS": "1"}, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Generated encryption_keys" in first.stderr
    key = (tmp_path / "encryption_keys").read_text()
    assert oct((tmp_path / "encryption_keys").stat().st_mode & 0o777) == "0o600"
    second = _django_setup({"REGSCAN_GENERATE_SECRETS": "1"}, tmp_path)
    assert second.returncode == 0 and "Generated" not in second.stderr
    assert (tmp_path / "encryption_keys").read_text() == key
    assert first.stdout.strip() == "orm"  # django-q2's ORM broker by default


def test_secrets_can_come_from_files(tmp_path):
    (tmp_path / "sk").write_text("s" * 50)
    from cryptography.fernet import Fernet

    result = _django_setup(
        {
            "DEBUG": "0",
            "SECRET_KEY_FILE": str(tmp_path / "sk"),
            "REGSCAN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr


def test_redis_url_switches_the_broker(tmp_path):
    result = _django_setup(
        {"REGSCAN_GENERATE_SECRETS": "1", "REDIS_URL": "redis://127.0.0.1:6379/3"}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redis://127.0.0.1:6379/3"
