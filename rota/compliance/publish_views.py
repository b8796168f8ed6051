"""Publishing a rota period (issue #15): the summary first — shifts, gaps, each person's hours and working-time
warnings — then the confirmation; an empty period needs a second one. Thin: ``rota.compliance.publishing`` reads,
``rota.services.publish_period`` publishes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from core.db import db, get_by_id
from core.errors import DomainError
from core.pages import CsrfForm, team_for_page
from rota import services
from rota.compliance import publishing
from rota.models import RotaPeriod

bp = Blueprint("publish", __name__)


def _team_and_period(team_id: int, period_id: int):
    team, period = team_for_page(team_id), get_by_id(RotaPeriod, period_id)
    if period is None or period.team_id != team.id:
        abort(404)
    if not team.can_manage(current_user):
        abort(403)
    return team, period


def _page(team, period, error=None, status=200):
    return render_template("rota/compliance/publish.html", team=team, form=CsrfForm(), error=error,
                           summary=publishing.summary(period, actor=current_user),
                           page_title="Publish the rota"), status


@bp.get("/teams/<int:team_id>/rota/periods/<int:period_id>/publish")
@login_required
def summary(team_id: int, period_id: int):
    return _page(*_team_and_period(team_id, period_id))


@bp.post("/teams/<int:team_id>/rota/periods/<int:period_id>/publish")
@login_required
def publish(team_id: int, period_id: int):
    team, period = _team_and_period(team_id, period_id)
    if not CsrfForm().validate():
        abort(400)
    try:
        services.publish_period(period, actor=current_user, confirm_empty=request.form.get("confirm_empty") == "yes")
    except DomainError as exc:
        db.session.rollback()
        team, period = _team_and_period(team_id, period_id)
        return _page(team, period, exc.detail, 422)
    db.session.commit()
    flash(f"Rota {period.first_day:%d %b}–{period.last_day:%d %b %Y} published; the team has been told.")
    return redirect(url_for("rota.grid", team_id=team.id, start=period.first_day.isoformat()))
