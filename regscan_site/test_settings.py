"""Settings for the test suite: the real settings, with fixed test-only secrets and
django-q2 in sync mode (tasks run inline, as STYLE.md asks)."""

from __future__ import annotations

import os
import tempfile

# Test-only values: never used outside the test suite.
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("REGSCAN_ENCRYPTION_KEYS", "2VhtHHa9qLzpn5iBHxWxMoV6YTlFY-LTPK2vsGWk29U=")
os.environ.setdefault("REGSCAN_DATA_DIR", tempfile.mkdtemp(prefix="regscan-test-data-"))

from .settings import *  # noqa: E402,F403
from .settings import Q_CLUSTER  # noqa: E402

Q_CLUSTER["sync"] = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# A file-backed SQLite test database, so worker processes started by a test (qcluster) can open
# the same database as the test itself. PostgreSQL runs use the server's test database.
from .settings import DATA_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

# Serve static/ straight from the finders (no collectstatic step in tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
