"""Playwright + Debian chromium fixtures (owned by the web-pages work)."""
