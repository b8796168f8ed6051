"""Rota services: who may see and change a team's rota, and fetching teams, shifts, periods and people by id."""

from __future__ import annotations

from sqlalchemy import select

from core import accounts
from core.accounts import Membership, Team, User
from core.api import MAX_ID
from core.db import db
from core.errors import Forbidden, NotFound, ValidationFailed
from rota.models import (
    RotaPeriod,
    Shift,
)

# ------------------------------------------------------------------------------------------------- access


def require_manage(team: Team, actor) -> None:
    if not team.can_manage(actor):
        raise Forbidden("Only this team's coordinators can change its rota.")


def require_view(team: Team, actor) -> None:
    if not team.can_view(actor):
        raise Forbidden("You are not a member of this team.")


def check_id(value: int, label: str) -> None:
    # Ids beyond 32 bits cannot exist, and SQLite cannot even bind them: a 404, not a 500.
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"No {label} with id {value}.")


def _get(model, ident: int, label: str):
    """A row by id, or a 404 naming what was not found (ids beyond the integer range are 404 too)."""
    check_id(ident, label)
    row = db.session.get(model, ident)
    if row is None:
        raise NotFound(f"No {label} with id {ident}.")
    return row


def get_team(team_id: int) -> Team:
    return _get(Team, team_id, "team")


def get_shift(shift_id: int) -> Shift:
    return _get(Shift, shift_id, "shift")


def get_period(period_id: int) -> RotaPeriod:
    return _get(RotaPeriod, period_id, "rota period")


def get_user(user_id: int) -> User:
    return _get(User, user_id, "person")


def require_member(team: Team, user: User, fld: str = "assignee_id") -> None:
    if user.role_in(team) is None:
        raise ValidationFailed(f"{user.display_name} is not a member of {team.name}.",
                               errors={fld: [f"{user.display_name} is not a member of this team."]})


def visible_teams(viewer) -> list[Team]:
    """Every team for an administrator, else the viewer's own (read with their memberships: one query), by name."""
    if not viewer.is_admin:
        return accounts.member_teams(viewer)
    return list(db.session.scalars(select(Team).order_by(Team.name)))


def create_team(*, name: str, site: str | None, timezone: str, actor) -> Team:

    if not actor.is_admin:
        raise Forbidden("Only administrators can create teams.")
    return accounts.create_team(name=name, site=site, timezone=timezone, actor=actor)


def add_member(team: Team, user: User, role: str, *, actor) -> Membership:

    require_manage(team, actor)
    # Without the person's consent only an administrator, or a coordinator who already coordinates them in
    # another team, may add them (core.accounts.may_add_directly); everyone else invites (rota.membership).
    return accounts.add_member(team, user, role, actor=actor)
