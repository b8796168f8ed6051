"""Server-side browser sessions: starting one, finding it by its key (idle and absolute timeouts), keeping it alive,
remembered devices, and signing out. The people and credentials they belong to are in ``core.accounts``."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload

from core import audit
from core.accounts import User, UserSession, secret_digest
from core.db import db, now_utc
from core.errors import NotFound

SESSION_TOUCH_GRANULARITY = timedelta(minutes=1)
TIMEOUTS = ("idle", "absolute")


def session_limits() -> tuple[timedelta, timedelta]:
    """(idle, absolute) session lifetimes from ``SESSION_IDLE_MINUTES`` and ``SESSION_ABSOLUTE_MINUTES``."""

    cfg = current_app.config
    return timedelta(minutes=int(cfg["SESSION_IDLE_MINUTES"])), timedelta(minutes=int(cfg["SESSION_ABSOLUTE_MINUTES"]))


@dataclass(frozen=True)
class SessionState:
    """What a session cookie stands for right now. ``ended`` names a timeout that has just, or earlier, ended it."""

    user: User | None
    ended: str | None = None
    ended_user_id: int | None = None


def remember_days() -> int:

    return int(current_app.config["REMEMBER_DEVICE_DAYS"])


def start_session(user: User, user_agent: str | None = None, *, remember: bool = False) -> str:
    key = secrets.token_urlsafe(32)
    now = now_utc()
    db.session.add(UserSession(key_hash=secret_digest(key), user_id=user.id, user_agent=(user_agent or "")[:200],
                               created_at=now, last_seen_at=now,
                               remembered_until=now + timedelta(days=remember_days()) if remember else None))
    user.session_key = key
    return key


def _timed_out(row: UserSession, now: datetime) -> str | None:
    if row.remembered_until is not None:  # a remembered device: only its own date ends it
        return "absolute" if now >= row.remembered_until else None
    idle, absolute = session_limits()
    if now - row.created_at >= absolute:
        return "absolute"
    if now - (row.last_seen_at or row.created_at) >= idle:
        return "idle"
    return None


@cache
def _session_by_digest():
    """The statement every signed-in request runs, built once (building it cost as much as running it)."""
    return (select(UserSession).options(joinedload(UserSession.user))
            .where(UserSession.key_hash == bindparam("key_hash")))


def session_for_key(key: str, *, touch: bool = True) -> SessionState:
    """The signed-in person behind a session cookie, ending the session when it has been idle or has lived too long.

    ``touch`` records use by a person (not background polling); the time is written at most once a minute. Both
    writes commit in their own short transaction, as token use does: the loader runs before the view's work."""
    row = db.session.scalar(_session_by_digest(), {"key_hash": secret_digest(key)})
    if row is None or not row.user.active:
        return SessionState(None)
    if row.revoked_at is not None:
        ended = row.ended_reason if row.ended_reason in TIMEOUTS else None
        return SessionState(None, ended, row.user_id if ended else None)
    now = now_utc()
    reason = _timed_out(row, now)
    if reason:
        # Conditional, so two requests arriving together on an expired session record one expiry, not two.
        ended = db.session.execute(update(UserSession).where(UserSession.id == row.id, UserSession.revoked_at.is_(None))
                                   .values(revoked_at=now, ended_reason=reason)
                                   .execution_options(synchronize_session=False)).rowcount
        if ended:
            audit.record("auth.session_expired", actor=row.user, entity=row.user, summary={"reason": reason})
        db.session.commit()
        return SessionState(None, reason, row.user_id)
    if touch and now - (row.last_seen_at or row.created_at) >= SESSION_TOUCH_GRANULARITY:
        row.last_seen_at = now
        db.session.commit()
    row.user.session_key, row.user.session_row = key, row
    return SessionState(row.user)


def session_time_left(user: User) -> dict | None:
    """Seconds before the current session times out, and whether using it would push that back (not past the
    absolute limit). What the page's sign-out warning asks for; asking does not count as use. None when the
    request came with an API token rather than a browser session."""
    row = getattr(user, "session_row", None)
    if row is None and getattr(user, "session_key", None):  # signed in with a cookie, row not in hand
        row = db.session.scalar(select(UserSession).where(UserSession.key_hash == secret_digest(user.session_key)))
    if row is None or row.remembered_until is not None:  # no countdown on a remembered device
        return None
    idle, absolute = session_limits()
    now = now_utc()
    idle_left = (row.last_seen_at or row.created_at) + idle - now
    absolute_left = row.created_at + absolute - now
    left = min(idle_left, absolute_left)
    return {"seconds_left": max(0, math.ceil(left.total_seconds())), "extendable": absolute_left > idle_left}


def keep_session_alive(user: User) -> dict | None:
    """The person asked to stay signed in: count it as use now."""
    row = db.session.scalar(select(UserSession).where(UserSession.key_hash == secret_digest(user.session_key or "")))
    if row is None:
        return None
    row.last_seen_at = now_utc()
    db.session.flush()
    return session_time_left(user)


def remembered_devices(user: User) -> list[UserSession]:
    """The person's devices that stay signed in ("remember this device"), newest first."""
    return list(db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None), UserSession.remembered_until > now_utc())
        .order_by(UserSession.created_at.desc())))


def forget_device(user: User, session_id: int) -> None:
    """Sign a remembered device out (a lost phone): its session ends at once."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFound("No such device.")
    row.revoked_at, row.ended_reason = now_utc(), "revoked"
    audit.record("auth.device_forgotten", actor=user, entity=user, summary={"session_id": row.id})


def end_session(user: User) -> None:
    """Sign this browser out. What other packages tied to this browser (push devices) goes with it, through
    ``app.extensions["session_end_hooks"]``: ``hook(user, session_id)``."""

    if user.session_key:
        row = db.session.scalar(select(UserSession).where(UserSession.key_hash == secret_digest(user.session_key)))
        if row is not None and row.revoked_at is None:
            row.revoked_at, row.ended_reason = now_utc(), "logout"
        if row is not None:
            for hook in current_app.extensions.get("session_end_hooks", []):
                hook(user, row.id)
    audit.record("auth.logout", actor=user, entity=user)
