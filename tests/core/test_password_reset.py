"""An administrator's one-time password-reset link (`flask users reset-link`): it works once, signs the account out
everywhere, and a dead or forged link is a plain page, never a 500."""

import re

from core import accounts
from core.db import db
from tests.conftest import TEST_PASSWORD, login

NEW = "a brand new passphrase"


def _link(runner, email) -> str:
    result = runner.invoke(args=["users", "reset-link", "--email", email])
    assert result.exit_code == 0, result.output
    url = re.search(r"http://localhost(/auth/reset/\S+)", result.output)
    assert url, result.output
    return url.group(1)


def test_reset_link_sets_a_new_password_once_and_signs_out_everywhere(app, runner, make, client):
    nurse = make.user(email="nina@example.test")
    other_browser = app.test_client()
    login(other_browser, nurse)
    assert other_browser.get("/profile").status_code == 200
    path = _link(runner, "nina@example.test")

    page = client.get(path)
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    mismatch = client.post(path, data={"new_password": NEW, "confirm": "something else"})
    assert mismatch.status_code == 422 and "do not match" in mismatch.get_data(as_text=True)
    done = client.post(path, data={"new_password": NEW, "confirm": NEW})
    assert done.status_code == 302 and done.location.endswith("/auth/login")

    assert other_browser.get("/profile").status_code == 302  # signed out with the old password
    assert client.post("/auth/login", data={"email": nurse.email, "password": TEST_PASSWORD}).status_code == 401
    assert client.post("/auth/login", data={"email": nurse.email, "password": NEW}).status_code == 302
    again = app.test_client().get(path)
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)
    db.session.expire_all()
    actions = [e.action for e in db.session.scalars(db.select(accounts.audit.AuditEntry))]
    assert "user.reset_link_issued" in actions and "user.password_reset" in actions


def test_a_forged_or_short_password_changes_nothing(runner, make, client):
    make.user(email="sam@example.test")
    path = _link(runner, "sam@example.test")
    assert client.get(path[:-3] + "xyz").status_code == 410
    assert client.get("/auth/reset/not-a-token").status_code == 410
    short = client.post(path, data={"new_password": "short", "confirm": "short"})
    assert short.status_code == 422
    assert client.get(path).status_code == 200  # still usable: nothing was changed


def test_reset_link_for_an_unknown_or_deactivated_account_is_refused(runner, make):
    assert runner.invoke(args=["users", "reset-link", "--email", "nobody@example.test"]).exit_code != 0
    admin = make.admin()
    gone = make.user(email="gone@example.test")
    accounts.set_active(gone, False, actor=admin)
    db.session.commit()
    result = runner.invoke(args=["users", "reset-link", "--email", "gone@example.test"])
    assert result.exit_code != 0 and "deactivated" in result.output


def test_an_administrator_makes_a_reset_link_on_the_accounts_page(app, make, client):
    admin = make.admin()
    nurse = make.user(email="nell@example.test")
    login(client, admin)
    page = client.post(f"/admin/users/{nurse.id}/reset-link")
    assert page.status_code == 200
    link = re.search(r'data-testid="reset-link">http://localhost(/auth/reset/[^<]+)<', page.get_data(as_text=True))
    assert link and app.test_client().get(link.group(1)).status_code == 200
    staff = app.test_client()
    login(staff, nurse)
    assert staff.post(f"/admin/users/{admin.id}/reset-link").status_code == 403  # administrators only
