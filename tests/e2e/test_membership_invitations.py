"""Joining a team in a real browser: a coordinator invites a nurse by email; the nurse finds the invitation from
the notification, reads what joining means and accepts on a phone; the coordinator sees them on the members page."""

from core.db import db
from tests.conftest import TEST_PASSWORD, Factory
from tests.e2e.conftest import sign_in


def test_coordinator_invites_and_the_nurse_accepts_on_a_phone(desktop, phone):
    make = Factory()
    coord = make.user(display_name="Cora Coordinator", grade="Band 7")
    nurse = make.user(display_name="Nia Nurse")
    team = make.team("Ward 12", coordinators=[coord])
    team_id, coord_email, nurse_email = team.id, coord.email, nurse.email
    db.session.commit()  # ends the test's transaction: on SQLite it would hold the write lock the sign-in needs

    page = desktop
    sign_in(page, coord_email, TEST_PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/teams/{team_id}/rota")
    page.click("[data-testid=nav-members]")
    page.wait_for_url(f"**/teams/{team_id}/members")
    page.fill("#email", "nobody@example.test")
    page.click("[data-testid=invite]")
    assert "No active account uses that email address" in page.locator(".nhsuk-error-summary").inner_text()
    page.fill("#email", nurse_email)
    page.click("[data-testid=invite]")
    assert "Invitation sent to Nia Nurse. They join Ward 12 when they accept it." in page.content()
    assert "Nia Nurse" in page.locator("[data-testid=pending-invitations]").inner_text()
    assert "Nia Nurse" not in page.locator("[data-testid=members]").inner_text()

    sign_in(phone, nurse_email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    phone.click("[data-testid=notifications-link]")
    note = phone.locator("[data-testid=notification]").filter(has_text="invited you to join Ward 12")
    note.locator("a").first.click()
    phone.wait_for_url("**/my/invitations")
    card = phone.locator("[data-testid=my-invitations]")
    assert "Ward 12" in card.inner_text() and "invited by Cora Coordinator" in card.inner_text()
    phone.locator("[data-testid^=accept-]").click()
    phone.wait_for_url(f"**/teams/{team_id}/rota**")
    assert "You joined Ward 12." in phone.content()

    page.goto(f"/teams/{team_id}/members")
    assert "Nia Nurse" in page.locator("[data-testid=members]").inner_text()
    assert page.locator("[data-testid=pending-invitations]").count() == 0
