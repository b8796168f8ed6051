"""The UI shell in a real browser: the demo coordinator signs in, sees home, signs out."""

import pytest

from core.db import db
from rota.demo import DEMO_PASSWORD, seed_people_and_teams
from tests.e2e.conftest import PHONE, open_menu, sign_in, sign_out, wait_for_js


@pytest.fixture
def demo_people(app):
    """The demo trust's people and teams (the demo's sign-ins), without the slower rota and patient data."""
    seed_people_and_teams()
    db.session.commit()


def test_coordinator_signs_in_sees_home_and_signs_out(demo_people, phone):
    sign_in(phone, "ward.manager@shiftbridge.test", DEMO_PASSWORD)
    phone.wait_for_url("**/")
    assert phone.locator("h1").inner_text() == "Hello, Wendy Ward-Manager"
    open_menu(phone)  # on a phone the account part of the header is behind "Menu"
    assert "Ward 7B Acute Medicine (coordinator)" in phone.locator("[data-testid=team-name]").all_inner_texts()
    assert phone.locator("[data-testid=next-shifts-empty]").is_visible()
    assert phone.locator("[data-testid=notifications-link]").count() == 1
    # The NHS.UK stylesheet really loaded (a header with the NHS blue background).
    bg = phone.eval_on_selector(".nhsuk-header", "e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(0, 94, 184)"
    sign_out(phone)
    phone.wait_for_url("**/auth/login?signed_out=1")
    assert "You have signed out." in phone.content()
    phone.goto("/")
    assert "/auth/login" in phone.url


def test_wrong_password_shows_error_summary(demo_people, phone):
    sign_in(phone, "ward.manager@shiftbridge.test", "nope")
    assert phone.locator(".nhsuk-error-summary").is_visible()
    assert "Email address or password is not right." in phone.locator(".nhsuk-error-summary").inner_text()


def test_phone_menu_opens_by_keyboard_without_javascript(demo_people, browser, live_server):
    """The collapsed menu is a <details>: Enter on "Menu" opens it with scripts turned off, and every link in
    it can then be reached; the header stays one short row (≤ 120 px of an 844-px phone)."""
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "ward.manager@shiftbridge.test", DEMO_PASSWORD)
        page.wait_for_url("**/")
        assert page.evaluate("document.querySelector('header').getBoundingClientRect().height") <= 120
        my_shifts = page.get_by_role("link", name="My shifts")
        assert not my_shifts.is_visible()
        page.focus("[data-testid=menu-toggle]")
        page.keyboard.press("Enter")
        assert my_shifts.is_visible()
        assert page.locator("[data-testid=feeds-link]").is_visible()  # calendar feeds are in the menu
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent.trim()") == "Home"
        my_shifts.click()
        page.wait_for_url("**/my/shifts")
        assert page.locator("h1").count() == 1
    finally:
        context.close()


def test_after_an_action_the_message_is_announced_and_focused(demo_people, phone):
    from core.accounts import Team
    from rota.demo import WARD

    ward_id = db.session.scalar(db.select(Team.id).where(Team.name == WARD))
    db.session.commit()
    sign_in(phone, "ward.manager@shiftbridge.test", DEMO_PASSWORD)
    phone.wait_for_url("**/")
    phone.goto(f"/teams/{ward_id}/swap-settings")
    phone.locator("main form button[type=submit]").last.click()
    flash = phone.locator("[data-testid=flash]")
    assert flash.inner_text() == "Swap settings saved."
    assert flash.get_attribute("role") == "status"  # a live region: screen readers say it
    # app.js moves the focus once the page has loaded: wait for it (a loaded machine runs it a little later).
    wait_for_js(phone, "document.activeElement && document.activeElement.getAttribute('data-testid') === 'flash'",
                            timeout_ms=10_000)
