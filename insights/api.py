"""Insights JSON API under /api/v1: a team's measures, and every team's side by side for administrators."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user
from sqlalchemy import select

from core.accounts import Team
from core.api import Blueprint, admin_required_api, login_required_api
from core.db import db, get_by_id
from core.errors import NotFound
from core.security import no_store
from insights import service
from insights.schemas import PeriodArgs, SiteArgs, SiteInsightsSchema, TeamInsightsSchema

blp = no_store(Blueprint("insights_api", __name__, url_prefix="/api/v1",
                         description="Insights: cover, open shifts, swaps, broadcasts, working time, handover"))


def _iso(d):
    return None if d is None else d.isoformat()


def _dates(args, tz):
    return service.parse_dates(_iso(args.get("from_")), _iso(args.get("to")), tz)


def _price() -> float:
    return float(current_app.config.get("INSIGHTS_SMS_PRICE_PENCE", service.DEFAULT_SMS_PRICE_PENCE))


def _payload(team, cur, prev, first, last, with_people: bool) -> dict:
    pf, pl = service.previous_dates(first, last)
    groups = ("cover", "open_shifts", "swaps", "broadcasts", "working_time", "handover")
    return {"team_id": team.id, "team": team.name, "site": team.site, "timezone": team.timezone,
            "period": {"from": first.isoformat(), "to": last.isoformat()},
            "previous_period": {"from": pf.isoformat(), "to": pl.isoformat()},
            "current": {g: getattr(cur, g) for g in groups}, "previous": {g: getattr(prev, g) for g in groups},
            "people": cur.people if with_people else None}


@blp.get("/teams/<int:team_id>/insights")
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, TeamInsightsSchema)
@login_required_api
def team_insights(args, team_id):
    """Coordinators of the team and administrators: the team's measures for a period and the period before.
    Per-person rows only for a coordinator of this team."""
    team = get_by_id(Team, team_id)
    if team is None or not (current_user.is_admin or team.id in current_user.team_ids):
        raise NotFound("No such team.")
    service.check_team_access(current_user, team)
    first, last = _dates(args, team.timezone)
    people = service.may_see_people(current_user, team.id)
    cur, prev = service.compare([team.id], first, last, {team.id: team.timezone},
                                people_for={team.id} if people else set(), sms_price_pence=_price())
    return _payload(team, cur[team.id], prev[team.id], first, last, people)


@blp.get("/insights")
@blp.arguments(SiteArgs, location="query")
@blp.response(200, SiteInsightsSchema)
@admin_required_api
def site_insights(args):
    """Administrators: every team's measures side by side (of one site when `site` is given), no per-person rows."""
    first, last = _dates(args, None)
    stmt = select(Team).order_by(Team.name)
    if args.get("site"):
        stmt = stmt.where(Team.site == args["site"])
    teams = db.session.scalars(stmt).all()
    cur, prev = service.compare([t.id for t in teams], first, last, {t.id: t.timezone for t in teams},
                                sms_price_pence=_price())
    return {"site": args.get("site"), "period": {"from": first.isoformat(), "to": last.isoformat()},
            "teams": [_payload(t, cur[t.id], prev[t.id], first, last, False) for t in teams]}


def register(app, api) -> None:
    api.register_blueprint(blp)
