"""Mentions that know the rota, resolved once, when the post is sent, and stored as who was reached.

``@on-shift`` everyone rostered now; ``@tonight`` the night shifts starting today (team's zone);
``@tomorrow-early`` shifts starting tomorrow before 11:00; ``@in-charge`` the nurse a coordinator marked in charge
of the shift on now (``rota.services.in_charge``), or, when nobody is marked, the most senior person on shift now (the
post says which: ``"why": "in charge"`` or ``"most senior on shift"``); ``@coordinators`` the team's coordinators;
``@name`` a colleague in the channel (first name, or full name without spaces).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from sqlalchemy import select

from core import timeutil
from core.accounts import Membership, Team, TeamRole, User, grade_rank
from core.db import db
from rota.models import Shift, ShiftKind, ShiftState, ShiftType
from rota.services import in_charge as rota_in_charge

_TOKEN = re.compile(r"(?<![\w@])@([A-Za-z][A-Za-z'.-]*[A-Za-z]|[A-Za-z])")
EARLY_BEFORE = time(11, 0)


def _rostered(team_id: int, where) -> list[tuple[int, str | None]]:
    stmt = (select(Shift.assignee_id, User.grade).join(User, User.id == Shift.assignee_id)
            .outerjoin(ShiftType, ShiftType.id == Shift.shift_type_id)
            .where(Shift.team_id == team_id, Shift.state == ShiftState.scheduled, *where).order_by(Shift.starts_at))
    return list(db.session.execute(stmt).all())


def on_shift(team: Team, now: datetime) -> list[int]:
    return list(dict.fromkeys(uid for uid, _ in _rostered(team.id, [Shift.starts_at <= now, Shift.ends_at > now])))


IN_CHARGE = "in charge"
MOST_SENIOR = "most senior on shift"


def in_charge_and_why(team: Team, now: datetime) -> tuple[list[int], str | None]:
    """The nurse marked in charge of the shift on now; else the most senior person on shift (highest grade)."""
    marked = rota_in_charge.current(team.id, now)
    if marked is not None:
        return [marked], IN_CHARGE
    rows = _rostered(team.id, [Shift.starts_at <= now, Shift.ends_at > now])
    return ([max(rows, key=lambda r: grade_rank(r[1]))[0]], MOST_SENIOR) if rows else ([], None)


def in_charge(team: Team, now: datetime) -> list[int]:
    return in_charge_and_why(team, now)[0]


def tonight(team: Team, now: datetime) -> list[int]:
    today = timeutil.local_date(now, team.timezone)
    lo, hi = timeutil.day_bounds(today, today, team.timezone)
    return list(dict.fromkeys(uid for uid, _ in _rostered(team.id, [Shift.starts_at >= lo, Shift.starts_at < hi,
                                                                    ShiftType.kind == ShiftKind.night])))


def tomorrow_early(team: Team, now: datetime) -> list[int]:
    tomorrow = timeutil.local_date(now, team.timezone) + timedelta(days=1)
    lo, hi = timeutil.day_bounds(tomorrow, tomorrow, team.timezone)
    rows = db.session.execute(select(Shift.assignee_id, Shift.starts_at).where(
        Shift.team_id == team.id, Shift.state == ShiftState.scheduled, Shift.starts_at >= lo, Shift.starts_at < hi))
    return list(dict.fromkeys(uid for uid, start in rows
                              if timeutil.to_local(start, team.timezone).time() < EARLY_BEFORE))


def on_nights_this_week(team_id: int, now: datetime) -> set[int]:
    """People with a night shift starting this week (Monday to Sunday in the team's zone): the "on nights this week"
    channel rule."""
    team = db.session.get(Team, team_id)
    today = timeutil.local_date(now, team.timezone)
    monday = today - timedelta(days=today.weekday())
    lo, hi = timeutil.day_bounds(monday, monday + timedelta(days=6), team.timezone)
    return {uid for uid, _ in _rostered(team_id, [Shift.starts_at >= lo, Shift.starts_at < hi,
                                                  ShiftType.kind == ShiftKind.night])}


def coordinators(team: Team, now: datetime) -> list[int]:
    return list(db.session.scalars(select(Membership.user_id).where(Membership.team_id == team.id,
                                                                    Membership.role == TeamRole.coordinator)))


RESOLVERS = {"@on-shift": on_shift, "@tonight": tonight, "@tomorrow-early": tomorrow_early, "@in-charge": in_charge,
             "@coordinators": coordinators}


def _by_name(token: str, people: dict[int, str]) -> list[int]:
    token = token.lower().rstrip(".")
    full = [uid for uid, name in people.items() if name.lower().replace(" ", "") == token.replace(".", "")]
    if full:
        return full
    return [uid for uid, name in people.items() if name.split()[0].lower() == token] if people else []


def resolve(text: str, team: Team, member_names: dict[int, str], now: datetime) -> list[dict]:
    """``[{"mention": "@on-shift", "user_ids": [..]}, ...]`` for each distinct mention in ``text``, limited to the
    channel's members (``member_names``: id -> display name). Unknown ``@words`` are left as text."""
    reached: list[dict] = []
    seen: set[str] = set()
    for m in _TOKEN.finditer(text or ""):
        mention = "@" + m.group(1).lower()
        if mention in seen:
            continue
        seen.add(mention)
        why = None
        if mention == "@in-charge":
            found, why = in_charge_and_why(team, now)
            ids = [i for i in found if i in member_names]
        elif mention in RESOLVERS:
            ids = [i for i in RESOLVERS[mention](team, now) if i in member_names]
        else:
            ids = _by_name(m.group(1), member_names)
            if not ids:
                continue
        reached.append({"mention": mention, "user_ids": ids, **({"why": why} if why and ids else {})})
    return reached
