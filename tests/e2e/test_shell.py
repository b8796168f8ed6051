"""The UI shell in a real browser: the demo coordinator signs in, sees home, signs out."""

import pytest

from core.db import db
from rota.demo import DEMO_PASSWORD, seed_people_and_teams
from tests.e2e.conftest import open_menu, sign_in, sign_out


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
