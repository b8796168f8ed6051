"""Outgoing email (smtplib), for the few messages that must reach a person outside the app: today only the
password-reset link an administrator issues. Off unless ``MAIL_SERVER`` and ``MAIL_FROM`` are set; then callers
show or print what they would have mailed, as before.

Why not the notification outbox: the outbox keeps each message's text in the database (sent rows stay for the
reports) and sends it later. A reset link is a credential that is deliberately never stored (core.accounts), so it is
sent here and now, in the administrator's request, and a failure is shown to them at once (the link is then shown
instead, for them to hand over). Mails carry no patient details: only the person's name and the link.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from flask import current_app


class MailFailed(Exception):
    """The mail server could not be reached or refused the message (the message says which, without content)."""


def enabled(config=None) -> bool:
    config = config if config is not None else current_app.config
    return bool((config.get("MAIL_SERVER") or "").strip() and (config.get("MAIL_FROM") or "").strip())


def send(to: str, subject: str, body: str) -> None:
    """Send one plain-text mail through ``MAIL_SERVER:MAIL_PORT`` (STARTTLS when ``MAIL_STARTTLS``; login when
    ``MAIL_USERNAME`` is set). Raises :class:`MailFailed`."""
    config = current_app.config
    msg = EmailMessage()
    msg["From"] = formataddr(("Shiftbridge", config["MAIL_FROM"]))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=config["MAIL_FROM"].rpartition("@")[2] or None)
    msg.set_content(body)
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 25),
                          timeout=float(config.get("MAIL_TIMEOUT_SECONDS") or 10)) as smtp:
            if config.get("MAIL_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused, DNS and timeouts
        raise MailFailed(f"the mail server did not take it ({type(exc).__name__})") from exc
