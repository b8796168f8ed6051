"""Working-time page in a real browser on a phone: a nurse sees a plain-English warning about a short rest."""

from datetime import UTC, datetime, timedelta

from core.db import db
from rota.models import Shift, ShiftState
from tests.conftest import TEST_PASSWORD, Factory
from tests.e2e.conftest import sign_in


def test_nurse_sees_short_rest_warning_on_phone(phone):
    make = Factory()
    nurse = make.user(display_name="Nia Nurse")
    team = make.team("Ward 9", staff=[nurse])
    late = datetime(2026, 6, 1, 12, tzinfo=UTC)  # Mon 13:00-21:30 BST
    db.session.add_all([
        Shift(team_id=team.id, starts_at=late, ends_at=late + timedelta(hours=8, minutes=30), assignee_id=nurse.id,
              state=ShiftState.scheduled),
        Shift(team_id=team.id, starts_at=late + timedelta(hours=18), ends_at=late + timedelta(hours=26),
              assignee_id=nurse.id, state=ShiftState.scheduled),
    ])
    email = nurse.email
    db.session.commit()  # ends the test's transaction: on SQLite it would hold the write lock the sign-in needs
    sign_in(phone, email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    phone.goto("/compliance?from=2026-06-01&to=2026-06-07")
    card = phone.locator("[data-testid=verdict]")
    assert card.count() == 1
    text = card.inner_text()
    assert "Warning" in text
    assert "Only 9 h 30 min rest between your shift ending Mon 1 Jun 21:30 and your shift starting Tue 07:00" in text
    # phone-first: nothing wider than the screen
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.fill("#to", "2026-05-01")
    phone.click("[data-testid=compliance-show]")
    assert "The end date must not be before the start date." in phone.locator(".nhsuk-error-summary").inner_text()
