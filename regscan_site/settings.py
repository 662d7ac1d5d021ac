"""regscan settings: every value is read once, here, from the environment (django-environ).

The embedded default (``make run``) needs no configuration: SQLite in ``REGSCAN_DATA_DIR`` and
django-q2's ORM broker. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.FileAwareEnv()
log = logging.getLogger("regscan.settings")

# --- Core ---
DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("REGSCAN_DATA_DIR", default=str(BASE_DIR / "data")))
# Generating secrets into DATA_DIR is for the embedded default only (make run, tests): a
# production start (DEBUG=0 without REGSCAN_GENERATE_SECRETS) must be given its secrets.
GENERATE_SECRETS = env.bool("REGSCAN_GENERATE_SECRETS", default=DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
TIME_ZONE = env.str("TIME_ZONE", default="UTC")


def _stored_secret(name: str, make: Callable[[], str]) -> str:
    """Return the secret kept in DATA_DIR/<name>, creating it (mode 0600) on first use."""
    path = DATA_DIR / name
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    value = make()
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    log.warning("Generated %s into %s; set it from the environment in production.", name, path)
    return value


def _required_secret(var: str, file_name: str, make: Callable[[], str]) -> str:
    value = env.str(var, default="")
    if value:
        return value
    if GENERATE_SECRETS:
        return _stored_secret(file_name, make)
    raise ImproperlyConfigured(
        f"{var} is not set. A production start (DEBUG=0) needs it: set {var} (or {var}_FILE "
        f"pointing at a file holding it), or set REGSCAN_GENERATE_SECRETS=1 to let regscan "
        f"generate one into {DATA_DIR}."
    )


SECRET_KEY = _required_secret("SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(50))
# Fernet keys, comma separated: the first encrypts, all decrypt (rotation: put the new key
# first, run `manage.py rotatekeys`, then drop the old one).
REGSCAN_ENCRYPTION_KEYS = [
    k.strip()
    for k in _required_secret(
        "REGSCAN_ENCRYPTION_KEYS", "encryption_keys", lambda: Fernet.generate_key().decode()
    ).split(",")
    if k.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "django_tables2",
    "django_filters",
    "accounts",
    "integrations",
    "scans",
    "scans.vulndb",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves static/ (collected into STATIC_ROOT) from the app itself: no CDN, no extra server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.CurrentOrganizationMiddleware",
]

ROOT_URLCONF = "regscan_site.urls"
WSGI_APPLICATION = "regscan_site.wsgi.application"
ASGI_APPLICATION = "regscan_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organization",
            ],
        },
    },
]

# --- Database ---
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'regscan.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE transactions plus a
    # busy timeout turn writer contention into a short wait instead of "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    if DATABASES["default"]["NAME"] != ":memory:":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background jobs (django-q2) ---
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "regscan",
    "workers": env.int("REGSCAN_WORKERS", default=2),
    "timeout": env.int("REGSCAN_TASK_TIMEOUT", default=1800),
    "retry": env.int("REGSCAN_TASK_RETRY", default=2100),  # must exceed timeout
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Tasks",
    "sync": env.bool("REGSCAN_SYNC_TASKS", default=False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1

# --- Auth ---
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalization ---
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True

# --- Static files ---
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security ---
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

# --- Scanning ---
# Registry hosts may resolve to loopback and private ranges (self-hosted registries); link-local
# and cloud metadata addresses are refused unless listed here (CIDRs, comma separated).
REGSCAN_ALLOWED_PRIVATE_NETWORKS = env.list("REGSCAN_ALLOWED_PRIVATE_NETWORKS", default=[])
REGSCAN_MAX_LAYER_MB = env.int("REGSCAN_MAX_LAYER_MB", default=8192)
REGSCAN_MAX_IMAGE_MB = env.int("REGSCAN_MAX_IMAGE_MB", default=32768)
REGSCAN_MAX_FILE_MB = env.int("REGSCAN_MAX_FILE_MB", default=64)
REGSCAN_MAX_TAR_ENTRIES = env.int("REGSCAN_MAX_TAR_ENTRIES", default=2_000_000)
REGSCAN_REQUEST_TIMEOUT = env.float("REGSCAN_REQUEST_TIMEOUT", default=30.0)
REGSCAN_REGISTRY_CONCURRENCY = env.int("REGSCAN_REGISTRY_CONCURRENCY", default=4)
REGSCAN_STALE_RUN_MINUTES = env.int("REGSCAN_STALE_RUN_MINUTES", default=60)
# How long a worker's claim on a layer it is downloading stays valid without progress; another
# worker waits for the result meanwhile instead of downloading the same layer (default 3x the
# request timeout).
REGSCAN_LAYER_CLAIM_SECONDS = env.float(
    "REGSCAN_LAYER_CLAIM_SECONDS", default=3 * REGSCAN_REQUEST_TIMEOUT
)
# Vulnerability sources refreshed by the schedule: URLs or paths, comma separated.
REGSCAN_VULN_SOURCES = env.list("REGSCAN_VULN_SOURCES", default=[])
REGSCAN_VULN_REFRESH_CRON = env.str("REGSCAN_VULN_REFRESH_CRON", default="30 3 * * *")

# --- Logging ---
LOG_FORMAT = env.str("REGSCAN_LOG_FORMAT", default="text")  # text | json
LOG_LEVEL = env.str("REGSCAN_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "regscan_site.logging.RedactSecretsFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "regscan_site.logging.JsonLinesFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "azure": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
