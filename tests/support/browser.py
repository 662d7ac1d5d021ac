"""Playwright + Debian chromium fixtures (owned by the web-pages work).

One chromium per test session (``browser``), a fresh context and page per test (``page``).
Playwright's own browser download does not work on these machines, so the fixture always
launches Debian's ``/usr/bin/chromium`` with the flags from TOOLCHAIN.md; the background
networking flags keep it from trying to reach the internet and stalling.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("REGSCAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless chromium (Playwright ``Browser``) shared by the whole session.

    Skips when chromium or Playwright is missing (``make test`` installs chromium as root).
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
    # thread with a running loop unless told the test code knows what it does.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    # Playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so ``page`` can tell a failed test."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"_regscan_{report.when}", report)


@pytest.fixture
def page(request, browser, live_server) -> Iterator[object]:
    """A fresh browser page (own cookies) whose relative URLs go to ``live_server``.

    When the test fails, the page as it was is saved as ``failure.png`` in the test's output
    folder (see ``output_dir`` in tests/conftest.py)."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(15_000)
    from tests.conftest import OUTPUT_DIR

    (OUTPUT_DIR / request.node.name / "failure.png").unlink(missing_ok=True)
    pg = context.new_page()
    try:
        yield pg
        report = getattr(request.node, "_regscan_call", None)
        if report is not None and report.failed:
            from tests.conftest import OUTPUT_DIR

            folder = OUTPUT_DIR / request.node.name
            folder.mkdir(parents=True, exist_ok=True)
            screenshot(pg, folder, "failure")
    finally:
        context.close()


def screenshot(page: object, output_dir: Path, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``output_dir/<name>.png`` and return its path."""
    path = output_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
