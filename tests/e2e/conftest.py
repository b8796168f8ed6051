"""Browser journeys: Playwright driving Debian's chromium (no browser download), headless, against a live server."""

import os
import shutil
import tempfile
import time

import pytest
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}  # browsers go through the real CSRF-protected forms


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM}; CI must run browser journeys")
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    profile = tempfile.mkdtemp(prefix="sb-chromium-")
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
    )
    yield browser
    browser.close()
    pw.stop()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def phone(browser, live_server):
    """A phone-sized page whose relative URLs go to the live server."""
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def desktop(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def browser_on_sqlite(request):
    """For journeys whose findings come from the browser (layout, print, charts), not the database: run them on
    SQLite only; their pages' queries run on both engines in the page and query tests. Skips before any setup."""
    params = getattr(request.node, "callspec", None)
    if params is not None and params.params.get("database_url", "sqlite") != "sqlite":
        pytest.skip("a browser layout journey: runs on SQLite (the pages' SQL is tested on both engines elsewhere)")


def wait_for_js(page, expression, timeout_ms=10_000):
    """Poll a JavaScript expression (or arrow function) until it is truthy, awaiting promises.

    Playwright's wait_for_function compiles its predicate with ``new Function`` inside the page once it has to poll,
    and the app's Content-Security-Policy (script-src 'self') refuses that, so the wait fails only on a slow machine.
    page.evaluate goes through DevTools, which the policy does not govern, and awaits a promise's value.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            value = page.evaluate(expression)
        except PlaywrightError as exc:  # the page navigated while the expression ran: ask the new one
            if "Execution context was destroyed" not in str(exc):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_ms} ms: {expression}")
        page.wait_for_timeout(50)


def sign_in(page, email, password):
    page.goto("/auth/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("[data-testid=sign-in]")


def open_menu(page):
    """On a phone the header's links fold behind "Menu" (a <details>); open it unless it already shows."""
    page.wait_for_load_state("load")  # before the stylesheet applies, the toggle shows even on a wide screen
    toggle = page.locator("[data-testid=menu-toggle]")
    if toggle.is_visible() and page.locator("[data-testid=menu]").get_attribute("open") is None:
        toggle.click()


def sign_out(page):
    open_menu(page)
    page.click("[data-testid=sign-out]")
