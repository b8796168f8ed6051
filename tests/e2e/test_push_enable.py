"""#16: the demo nurse turns push on from her profile in Debian's chromium, as an installed app would: a normal
(not incognito) browser profile, since chromium refuses the Push API in incognito contexts, which Playwright's
``new_context`` are. Chromium's ``PushManager.subscribe`` goes to Google's push service (GCM/FCM), which this
machine cannot reach: there subscribe never answers (first test); with chromium's GCM switches pointed at a local
stand-in for that service (tests/e2e/gcm_service.py) the whole "Turn on notifications" journey runs in the real
browser (second test). Nothing of the browser is mocked."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.accounts import User
from core.db import db
from notifications import push
from notifications.models import PushSubscription
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import CHROMIUM, PHONE, sign_in
from tests.e2e.gcm_service import GcmStandIn
from tests.e2e.test_pwa import EMAIL, KEYS, nurse  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, **KEYS, "PUSH_SUBSCRIBE_TIMEOUT_SECONDS": 3}


_profiles: list[str] = []


@pytest.fixture(autouse=True)
def _remove_profiles():
    yield
    while _profiles:
        shutil.rmtree(_profiles.pop(), ignore_errors=True)


def _installed(browser, live_server, *args):
    """A second chromium of the suite's Playwright (one sync Playwright per thread), with a normal profile."""
    _profiles.append(tempfile.mkdtemp(prefix="sb-installed-"))
    ctx = browser.browser_type.launch_persistent_context(
        _profiles[-1], executable_path=CHROMIUM, headless=True, viewport=PHONE,
        base_url=live_server.url, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args])
    ctx.set_default_timeout(15_000)
    ctx.grant_permissions(["notifications"], origin=live_server.url)
    return ctx


def test_when_the_browsers_push_service_does_not_answer_the_profile_says_so(nurse, browser, live_server):  # noqa: F811
    ctx = _installed(browser, live_server)
    try:
        page = ctx.new_page()
        sign_in(page, EMAIL, TEST_PASSWORD)
        page.wait_for_url("**/")
        page.goto("/profile")
        page.fill("#device_name", "This phone")
        enable = page.get_by_test_id("push-enable")
        enable.click()
        status = page.get_by_test_id("push-status")
        expect(status).to_contain_text("could not reach its push service", timeout=30_000)
        expect(enable).to_be_enabled()  # she can try again later
    finally:
        ctx.close()
    db.session.expire_all()
    assert db.session.scalars(select(PushSubscription)).all() == []


@pytest.fixture
def demo_nurse(app):
    from rota.demo import DEMO_PASSWORD, demo_nurse_email, seed_people_and_teams

    seed_people_and_teams()
    db.session.commit()
    email = demo_nurse_email()
    db.session.commit()
    return email, DEMO_PASSWORD


def test_the_demo_nurse_turns_push_on_names_the_device_and_removes_it(demo_nurse, browser, live_server):
    email, password = demo_nurse
    assert live_server.url.startswith("http://127.0.0.1:")  # a service worker's secure context without HTTPS
    gcm = GcmStandIn()
    try:
        ctx = _installed(browser, live_server, *gcm.chromium_args())
        try:
            page = ctx.new_page()
            sign_in(page, email, password)
            page.wait_for_url("**/")
            page.goto("/profile")
            expect(page.get_by_test_id("push-none")).to_be_visible()
            page.fill("#device_name", "This phone")
            page.get_by_test_id("push-enable").click()
            row = page.get_by_test_id("push-device")
            expect(row).to_have_count(1, timeout=30_000)  # subscribed, posted, the profile reloaded
            expect(row).to_contain_text("This phone")
            expect(row.get_by_test_id("this-device")).to_be_visible()  # the browser's own subscription
            expect(row.get_by_test_id("last-used")).to_have_text("not yet")
            # The browser subscribed with this server's VAPID public key (its applicationServerKey).
            [registration] = gcm.web_push()
            assert registration["sender"].rstrip("=") == KEYS["VAPID_PUBLIC_KEY"]
            db.session.expire_all()
            [sub] = db.session.scalars(select(PushSubscription)).all()
            assert sub.name == "This phone" and sub.session_id is not None
            assert db.session.get(User, sub.user_id).email == email
            # chromium builds the endpoint from the token: its Google push host (which host varies by version)
            assert sub.endpoint.startswith("https://")
            assert sub.endpoint.endswith(f"/fcm/send/{registration['token']}")
            assert len(push._unb64(sub.p256dh)) == 65 and len(push._unb64(sub.auth)) == 16
            db.session.commit()
            row.get_by_role("button", name="Remove").click()
            expect(page.get_by_test_id("push-none")).to_be_visible()
        finally:
            ctx.close()
    finally:
        gcm.close()
    db.session.expire_all()
    assert db.session.scalars(select(PushSubscription)).all() == []


def test_chromium_itself_finds_the_app_installable_and_the_hint_shows(nurse, browser, live_server):  # noqa: F811
    # Not a synthetic event (tests/e2e/test_install_hint.py): chromium fires beforeinstallprompt only once its own
    # installability checks pass (manifest, icons, a service worker controlling the page).
    ctx = _installed(browser, live_server)
    try:
        page = ctx.new_page()
        sign_in(page, EMAIL, TEST_PASSWORD)
        page.wait_for_url("**/")
        expect(page.get_by_test_id("install-hint")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Install on this phone")).to_be_visible()
    finally:
        ctx.close()
