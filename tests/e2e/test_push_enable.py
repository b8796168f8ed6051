"""#16: the demo nurse turns push on from her profile in Debian's chromium, as an installed app would: a normal
(not incognito) browser profile, since chromium refuses the Push API in incognito contexts, which Playwright's
``new_context`` are. Chromium's ``PushManager.subscribe`` goes to Google's push service (GCM/FCM), which this
machine cannot reach, so there subscribe never answers; nothing of the browser is mocked."""

from __future__ import annotations

import tempfile

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from core.db import db
from notifications.models import PushSubscription
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import CHROMIUM, PHONE, sign_in
from tests.e2e.test_pwa import EMAIL, KEYS, nurse  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, **KEYS, "PUSH_SUBSCRIBE_TIMEOUT_SECONDS": 3}


def _installed(pw, live_server, *args):
    ctx = pw.chromium.launch_persistent_context(
        tempfile.mkdtemp(prefix="sb-installed-"), executable_path=CHROMIUM, headless=True, viewport=PHONE,
        base_url=live_server.url, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args])
    ctx.set_default_timeout(15_000)
    ctx.grant_permissions(["notifications"], origin=live_server.url)
    return ctx


def test_when_the_browsers_push_service_does_not_answer_the_profile_says_so(nurse, live_server):  # noqa: F811
    with sync_playwright() as pw:
        ctx = _installed(pw, live_server)
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
