"""What every package's pages share: the CSRF-only form, putting a refusal on a form, the 404 lookups and the team
a page is about."""

from __future__ import annotations

from flask import abort, flash
from flask_login import current_user
from flask_wtf import FlaskForm

from core.accounts import Team
from core.db import get_by_id
from core.errors import DomainError, Forbidden


class CsrfForm(FlaskForm):
    """CSRF-only form for buttons that POST (accept, claim, withdraw, sign out ...)."""


def form_errors(form, exc: DomainError, default: str | None = None, *, flash_detail: bool = False) -> None:
    """Put a service's refusal on the form, so the page's error summary shows it beside what was typed: each message
    on the field it names (``"rules.0.value"`` on ``rules``); messages naming no field of this form on ``default``
    (else the first field that is not the CSRF token). A refusal that names no field shows its detail there too, or
    as a flash message with ``flash_detail`` (pages whose form has no field to carry it)."""
    fallback = form[default] if default else next(f for f in form if f.name != "csrf_token")
    for key, messages in (exc.errors or {}).items():
        name = str(key).split(".")[0]
        target = form[name] if name in form else fallback
        target.errors = [*(target.errors or []), *messages]
    if not exc.errors:
        if flash_detail:
            flash(exc.detail)
        else:
            fallback.errors = [*(fallback.errors or []), exc.detail]


def get_or_404(model, ident: int):
    """The row with this id, or the plain 404 page (ids beyond the integer range do not exist either)."""
    row = get_by_id(model, ident)
    if row is None:
        abort(404)
    return row


def team_for_page(team_id: int, *, manage: bool = False) -> Team:
    """The team a page is about, by one policy for every package's pages: the plain 404 page when there is no such
    team; a refusal (403, audited by ``core.handlers``) when the signed-in person may not see it, or may not manage
    it and the page changes it. The rota's services refuse the same way (``rota.services.access``)."""
    team = get_by_id(Team, team_id)
    if team is None:
        abort(404)
    if not team.can_view(current_user):
        raise Forbidden("You are not a member of this team.")
    if manage and not team.can_manage(current_user):
        raise Forbidden("Only this team's coordinators can do this.")
    return team
