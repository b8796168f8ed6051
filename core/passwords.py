"""Passwords and signing in with one: the one place a password is checked (throttled and audited), sign-in, whether
an account may use a password at all (break glass), changing a password and administrator-issued reset links."""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select

from core import audit, mail, throttle
from core.accounts import (
    User,
    check_password_strength,
    normalise_email,
    revoke_all_credentials,
    stand_in_hash,
    user_by_email,
    verify_hash,
)
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, ValidationFailed
from core.sessions import start_session


def verify_password(email: str, password: str, *, client: throttle.Client,
                    check: str = throttle.SIGN_IN) -> User | None:
    """The one place passwords are checked: throttled (``throttle.Throttled`` before any hashing when refused),
    every failure audited, and the same Argon2 work whether or not the email has an active account."""
    throttle.check(check, email, client)
    user = user_by_email(email or "")
    right = verify_hash(user.password_hash if user is not None else stand_in_hash(), password or "")
    if user is not None and user.active and right:
        if check == throttle.SIGN_IN and not password_sign_in_allowed(user):
            audit.record("auth.login_failed", outcome="denied", entity_type="user", entity_id=user.id,
                         summary={"reason": "password_sign_in_off"})
            raise PasswordSignInOff("This account signs in with the trust's account, not a password: use the "
                                    "button above.")
        return user
    throttle.failed(check, email, client)
    action = "auth.login_failed" if check == throttle.SIGN_IN else "auth.password_check_failed"
    audit.record(action, actor=user if check != throttle.SIGN_IN else None, outcome="denied",
                 entity_type="user", entity_id=user.id if user else None)
    return None


def record_throttled(exc: throttle.Throttled, *, check: str, actor=None) -> bool:
    """Audit a refused attempt when it is the first from its full bucket in the bucket's window (the rest are counted
    and logged at most once a minute). True when an entry was written."""
    if not throttle.first_refusal(exc):
        return False
    audit.record("auth.throttled", actor=actor, outcome="denied", summary={"check": check, "bucket": exc.bucket})
    return True


def authenticate(email: str, password: str, *, client: throttle.Client, user_agent: str | None = None,
                 remember: bool = False) -> User | None:
    user = verify_password(email, password, client=client)
    if user is None:
        return None
    start_session(user, user_agent, remember=remember)
    audit.record("auth.login", actor=user, entity=user, summary={"remember_device": True} if remember else None)
    return user


class WrongPassword(ValidationFailed):
    pass


class PasswordSignInOff(Forbidden):
    """The password was right, but this account may not use one (shown only then: no hint to a guesser)."""


def password_sign_in_allowed(user: User) -> bool:
    """Per account (``password_sign_in_disabled``) and globally (``PASSWORD_SIGN_IN=off``, but for the active
    administrators named in ``BREAK_GLASS_ADMINS``, who can still get in when the identity provider is down)."""

    if user.password_sign_in_disabled:
        return False
    if str(current_app.config.get("PASSWORD_SIGN_IN", "on")).lower() != "off":
        return True
    return user.is_admin and user.email in break_glass_emails(current_app.config)


def break_glass_emails(config) -> set[str]:
    return {normalise_email(e) for e in str(config.get("BREAK_GLASS_ADMINS") or "").split(",") if e.strip()}


def set_password_sign_in(user: User, allowed: bool, *, actor) -> None:
    """Switch one account's password sign-in on or off. The last administrator who can still sign in with a password
    keeps it (break glass: the identity provider may be down)."""
    if actor is not None and not actor.is_admin:
        raise Forbidden("Only an administrator can change how people sign in.")
    if not allowed and user.is_admin:
        others = db.session.scalars(select(User).where(User.is_admin.is_(True), User.active.is_(True),
                                                       User.id != user.id)).all()
        if not any(password_sign_in_allowed(other) for other in others):
            raise Conflict(f"{user.display_name} is the last administrator who can sign in with a password: keep it "
                           "for when the trust's sign-in service is down.")
    if user.password_sign_in_disabled == (not allowed):
        return
    user.password_sign_in_disabled = not allowed
    audit.record("user.password_sign_in_" + ("enabled" if allowed else "disabled"), actor=actor, entity=user)


def change_password(user: User, current: str, new: str, *, client: throttle.Client) -> None:
    if verify_password(user.email, current, client=client, check=throttle.CURRENT_PASSWORD) is None:
        raise WrongPassword("Your current password is not right.",
                            errors={"current_password": ["Your current password is not right."]})
    check_password_strength(new)
    user.set_password(new)
    user.password_changed_at = now_utc()
    # Other browsers, every API token and calendar link die; the browser that made the change stays signed in.
    revoke_all_credentials(user, actor=user, keep_session_key=user.session_key)
    audit.record("user.password_changed", actor=user, entity=user)


# ------------------------------------------------------------------------------- administrator-issued reset links

RESET_SALT = "shiftbridge-password-reset"


def _reset_serializer():

    return URLSafeTimedSerializer(current_app.secret_key, salt=RESET_SALT)


def _password_fingerprint(user: User) -> str:
    # Part of the signed link: once the password changes (by this link or otherwise) every link issued before dies.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def issue_reset_link(user: User, *, actor=None) -> str:
    """A one-time token for ``user`` to choose a new password (an administrator gives it to them); valid for
    ``RESET_LINK_HOURS`` and only until the password changes. Not stored: nothing to steal from the database."""
    if not user.active:
        raise Conflict("This account is deactivated: reactivate it first.")
    token = _reset_serializer().dumps({"u": user.id, "p": _password_fingerprint(user)})
    audit.record("user.reset_link_issued", actor=actor, entity=user)
    return token


def email_reset_link(user: User, link: str, *, actor=None) -> bool:
    """Mail ``link`` (from :func:`issue_reset_link`) to the person when mail is set up (core.mail). True if the mail
    server took it (audited ``user.reset_link_emailed``); False when mail is off or the server failed (audited
    ``user.reset_link_email_failed``, the reason's class only): the caller then shows or prints the link as before.
    The mail names the person and the link, nothing else (no patient details, no rota)."""
    if not mail.enabled():
        return False
    hours = int(current_app.config["RESET_LINK_HOURS"])
    body = (f"Hello {user.display_name},\n\n"
            f"An administrator has made you a link to choose a new Shiftbridge password:\n\n{link}\n\n"
            f"It works once, for {hours} hours. Choosing a new password signs you out everywhere.\n"
            "If you did not ask for this, tell your administrator; your current password keeps working.\n")
    try:
        mail.send(user.email, "Choose a new Shiftbridge password", body)
    except mail.MailFailed as exc:
        audit.record("user.reset_link_email_failed", actor=actor, entity=user, outcome="failure",
                     summary={"reason": str(exc)[:100]})
        return False
    audit.record("user.reset_link_emailed", actor=actor, entity=user)
    return True


class ResetLinkDead(Conflict):
    """A reset link that is forged, expired, already used or for a deactivated account."""


def user_for_reset(token: str) -> User:

    dead = ResetLinkDead("This link has expired or has already been used. Ask an administrator for a new one.")
    try:
        data = _reset_serializer().loads(token, max_age=int(current_app.config["RESET_LINK_HOURS"]) * 3600)
        user = db.session.get(User, int(data["u"]))
    except (BadData, KeyError, TypeError, ValueError):
        raise dead from None
    if user is None or not user.active or not secrets.compare_digest(str(data.get("p")), _password_fingerprint(user)):
        raise dead
    return user


def reset_password(token: str, new: str) -> User:
    """Set a new password through a reset link: the link dies with the old password, and every browser, API token
    and calendar link of the account is signed out, as after a change of password."""
    user = user_for_reset(token)
    check_password_strength(new)
    user.set_password(new)
    user.password_changed_at = now_utc()
    revoke_all_credentials(user, actor=user)
    audit.record("user.password_reset", actor=user, entity=user)
    return user
