"""#16: "Install on this phone" shows only where the browser offers installing, and its button asks the browser."""

from __future__ import annotations

import pytest

from core.db import db
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

OFFER = """() => { const e = new Event("beforeinstallprompt", {cancelable: true});
  window.__asked = 0; e.prompt = () => { window.__asked += 1; return Promise.resolve(); };
  window.dispatchEvent(e); return e.defaultPrevented; }"""


def test_the_install_hint_appears_when_the_browser_offers_and_its_button_asks(make, phone):
    user = make.user(email="ivy@example.test", display_name="Ivy Nurse")
    email = user.email
    db.session.commit()
    sign_in(phone, email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    phone.wait_for_load_state("load")
    hint = phone.locator("[data-testid=install-hint]")
    assert not hint.is_visible()  # headless chromium offers no install: no hint
    assert phone.evaluate(OFFER) is True  # the page keeps the browser's offer for its own button
    assert hint.is_visible()
    hint.get_by_role("button", name="Install on this phone").click()
    assert phone.evaluate("window.__asked") == 1
    assert not hint.is_visible()
