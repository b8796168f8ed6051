"""The reset link is emailed where mail is set up (MAIL_SERVER/MAIL_FROM): sent to a real SMTP server (aiosmtpd,
listening on a local port for the test), never shown to the administrator; a mail server that refuses or is down
means the link is shown/printed as when mail is off."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from tests.conftest import login
from tests.servers import free_port


class Inbox:
    def __init__(self):
        self.mails = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content,
                                                                                             policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp(app):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, MAIL_FROM="rota@trust.example")
    yield inbox
    controller.stop()


def _actions():
    return [a.action for a in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_the_administrator_s_reset_link_is_emailed_and_not_shown(app, make, client, smtp):
    admin = make.admin()
    nurse = make.user(email="nell@example.test", display_name="Nell Ward")
    login(client, admin)
    page = client.post(f"/admin/users/{nurse.id}/reset-link").get_data(as_text=True)
    assert "Reset link emailed to Nell Ward (nell@example.test)" in page
    assert 'data-testid="reset-link"' not in page and "/auth/reset/" not in page  # the admin never sees it
    [(sender, to, mail)] = smtp.mails
    assert sender == "rota@trust.example" and to == ["nell@example.test"]
    assert mail["Subject"] == "Choose a new Shiftbridge password"
    body = mail.get_content()
    link = re.search(r"http://localhost(/auth/reset/\S+)", body)
    assert link and "Hello Nell Ward" in body and "24 hours" in body
    # Only the name and the link: no shifts, wards or anything else about the person's work.
    assert set(re.findall(r"[A-Za-z]+", body.replace(link.group(0), ""))) <= set(
        "Hello Nell Ward An administrator has made you a link to choose new Shiftbridge password It works once for "
        "hours Choosing signs out everywhere If did not ask this tell your current keeps working".split())
    assert app.test_client().get(link.group(1)).status_code == 200  # the mailed link works
    assert "user.reset_link_emailed" in _actions()


def test_flask_users_reset_link_emails_it_when_mail_is_set_up(runner, make, smtp):
    make.user(email="owen@example.test")
    result = runner.invoke(args=["users", "reset-link", "--email", "owen@example.test"])
    assert result.exit_code == 0, result.output
    assert "Emailed the link to owen@example.test" in result.output and "/auth/reset/" not in result.output
    [(_, to, mail)] = smtp.mails
    assert to == ["owen@example.test"] and "/auth/reset/" in mail.get_content()


def test_a_mail_server_that_is_down_means_the_link_is_shown_instead(app, make, client):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_FROM="rota@trust.example")  # nobody there
    admin = make.admin()
    nurse = make.user(email="nell@example.test")
    login(client, admin)
    resp = client.post(f"/admin/users/{nurse.id}/reset-link")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "The mail server did not take the email" in page
    assert re.search(r'data-testid="reset-link">http://localhost/auth/reset/[^<]+<', page)
    assert "user.reset_link_email_failed" in _actions()


def test_with_mail_off_the_link_is_shown_as_before(app, make, client):
    assert not app.config["MAIL_SERVER"]
    admin = make.admin()
    nurse = make.user(email="nell@example.test")
    login(client, admin)
    page = client.post(f"/admin/users/{nurse.id}/reset-link").get_data(as_text=True)
    assert 'data-testid="reset-link">http://localhost/auth/reset/' in page and "mail server" not in page
