"""End-to-end fixtures: headless Chromium (Debian's package, driven by Playwright) against a live server.

The browser is the system's own ``/usr/bin/chromium`` (``MDM_CHROMIUM`` overrides the path):
Playwright never downloads one. Without it these tests fail — they are part of the suite and
must not pass by being skipped — with a message saying how to install it.

The live server runs on the PostgreSQL test database; every browser test is transactional
(the server thread must see what the test wrote), so it starts from an empty database.

Screenshots go to ``artifacts/screenshots/`` (``MDM_SCREENSHOT_DIR`` overrides it), the folder
CI keeps as artefacts; a failing test leaves ``FAILED-<test>.png`` there as well.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path(os.environ.get("MDM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIR = Path(os.environ.get("MDM_SCREENSHOT_DIR", settings.BASE_DIR / "artifacts" / "screenshots"))
#: The password of every user made by ``tests.factories.UserFactory``.
PASSWORD = "pw-Secret-123"
TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1366, "height": 900}

INSTALL_HINT = (
    "The browser tests need Debian's Chromium at {path} (or set MDM_CHROMIUM to another binary). "
    "Install it with: sudo apt-get update && sudo apt-get install -y chromium. "
    "Playwright's own browser download is not used."
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser carries the ``browser`` marker (``-m "not browser"`` leaves them out)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item so the ``page`` fixture can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session; each test gets its own context (cookies, storage)."""
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT.format(path=CHROMIUM), pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements.txt pins it
        pytest.fail("Playwright is missing: pip install -r requirements.txt", pytrace=False)
    # The folder holds this run's screenshots only (CI keeps it as the run's artefacts).
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOT_DIR.glob("*.png"):
        old.unlink()
    # Playwright's sync API runs an event loop on this thread; Django would otherwise refuse
    # the test's own ORM calls as if they came from async code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser, live_server) -> Iterator[Page]:
    """A fresh page whose relative URLs go to the live server; a failing test leaves a screenshot."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        screenshot(tab, f"FAILED-{request.node.name}")
    context.close()


def screenshot(page: Page, name: str, of: Locator | None = None) -> Path:
    """Save the whole page (or just the element ``of``) as ``<screenshot dir>/<name>.png``; return the path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-')}.png"
    if of is not None:
        of.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def login(page: Page, user, password: str = PASSWORD) -> None:
    """Log in through the admin's login form, as a steward would, and wait for the index."""
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    if page.locator("#user-tools").count() == 0:
        raise AssertionError(f"Login of {user.get_username()} failed: {page.locator('.errornote').all_inner_texts()}")
