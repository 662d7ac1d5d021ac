#!/usr/bin/env bash
# `make test`: install what the tests need (Debian packages when root), lint, run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PKGS="docker-registry skopeo umoci apache2-utils chromium openssl"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian packages for the tests:$missing" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "Not root: tests needing$missing will be skipped with a reason." >&2
  fi
fi
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
export REGSCAN_GENERATE_SECRETS=1
# Real pip/npm packages for the analyzer fixtures: fetched here, so the tests stay on loopback.
"$VENV/bin/python" -m tests.support.layers
exec "$VENV/bin/pytest" "$@"
