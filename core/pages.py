"""What every package's pages share: the CSRF-only form, the 404 lookups and the team a page is about."""

from __future__ import annotations

from flask import abort
from flask_login import current_user
from flask_wtf import FlaskForm

from core.accounts import Team
from core.db import get_by_id


class CsrfForm(FlaskForm):
    """CSRF-only form for buttons that POST (accept, claim, withdraw, sign out ...)."""


def get_or_404(model, ident: int):
    """The row with this id, or the plain 404 page (ids beyond the integer range do not exist either)."""
    row = get_by_id(model, ident)
    if row is None:
        abort(404)
    return row


def team_or_404(team_id: int, *, manage: bool = False) -> Team:
    """The team a page is about: 404 unless the signed-in person may see it; 403 when the page changes the team's
    settings and they may not manage it."""
    team = get_by_id(Team, team_id)
    if team is None or not team.can_view(current_user):
        abort(404)
    if manage and not team.can_manage(current_user):
        abort(403)
    return team
