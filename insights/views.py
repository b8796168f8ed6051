"""Insights pages: a team's measures with charts, tables and CSV; the site comparison for administrators."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from core.accounts import Team
from core.db import db
from core.errors import ValidationFailed
from core.pages import get_or_404
from core.web import add_nav_item
from insights import charts, report, service
from insights.charts import Series

bp = Blueprint("insights", __name__, url_prefix="/insights")


def register_nav(app) -> None:
    add_nav_item(app, 60, "Insights", "insights.index", lambda user: user.is_admin or user.is_coordinator)


def _team(team_id: int) -> Team:
    team = get_or_404(Team, team_id)
    if not (current_user.is_admin or team.id in current_user.managed_team_ids):
        abort(404 if team.id not in current_user.team_ids and not current_user.is_admin else 403)
    return team


def _dates(tz):
    """(first, last, errors): the asked-for period, or the default one with the refusal's messages."""
    try:
        first, last = service.parse_dates(request.args.get("from"), request.args.get("to"), tz)
        return first, last, {}
    except ValidationFailed as exc:
        first, last = service.default_dates(tz)
        return first, last, exc.errors or {}


def _price() -> float:
    return float(current_app.config.get("INSIGHTS_SMS_PRICE_PENCE", service.DEFAULT_SMS_PRICE_PENCE))


def _team_measures(team: Team, first, last):
    people = {team.id} if service.may_see_people(current_user, team.id) else set()
    cur, prev = service.compare([team.id], first, last, {team.id: team.timezone}, people_for=people,
                                sms_price_pence=_price())
    return cur[team.id], prev[team.id]


def team_charts(cur, prev) -> dict:
    this, before = "This period", "Previous period"
    c, p = cur.cover, prev.cover
    o, po = cur.open_shifts, prev.open_shifts
    out = {
        "cover": charts.bars(
            "Share of shifts filled", ["At publication", "24 hours before", "At the start"],
            [Series(this, [c.get("filled_at_publication_rate"), c.get("filled_24h_before_rate"),
                           c.get("filled_at_start_rate")]),
             Series(before, [p.get("filled_at_publication_rate"), p.get("filled_24h_before_rate"),
                             p.get("filled_at_start_rate")])], unit="%", max_value=100),
        "open-shifts": charts.bars(
            "Time to fill an open shift (minutes)", ["Median", "90th percentile"],
            [Series(this, [o.get("time_to_fill_median_min"), o.get("time_to_fill_p90_min")]),
             Series(before, [po.get("time_to_fill_median_min"), po.get("time_to_fill_p90_min")])], unit=" min"),
        "fill-routes": charts.bars(
            "How and from where open shifts were filled",
            list(report.HOW_LABELS.values()) + list(report.WHERE_LABELS.values()),
            [Series(this, [o["by_how"][k] for k in report.HOW_LABELS]
                    + [o["by_where"][k] for k in report.WHERE_LABELS]),
             Series(before, [po["by_how"][k] for k in report.HOW_LABELS]
                    + [po["by_where"][k] for k in report.WHERE_LABELS])]),
        "broadcasts": charts.bars(
            "People reached per channel", ["In the app", "Push", "SMS"],
            [Series(this, [cur.broadcasts["in_app"], cur.broadcasts["push"], cur.broadcasts["sms"]]),
             Series(before, [prev.broadcasts["in_app"], prev.broadcasts["push"], prev.broadcasts["sms"]])]),
        "handover": charts.bars(
            "Time from hand-over to acceptance (minutes)", ["Median", "90th percentile"],
            [Series(this, [cur.handover["acceptance_median_min"], cur.handover["acceptance_p90_min"]]),
             Series(before, [prev.handover["acceptance_median_min"], prev.handover["acceptance_p90_min"]])],
            unit=" min"),
    }
    if cur.people:
        out["hours"] = charts.bars(
            "Hours worked against contracted hours", [p["name"] for p in cur.people],
            [Series("Worked", [p["hours"] for p in cur.people]),
             Series("Contracted", [p["contracted_hours"] for p in cur.people])], unit=" h")
        out["people"] = charts.bars(
            "Nights and weekends per person", [p["name"] for p in cur.people],
            [Series("Nights", [p["nights"] for p in cur.people]),
             Series("Weekends", [p["weekends"] for p in cur.people])])
    return out


@bp.get("/")
@login_required
def index():
    ids = service.visible_team_ids(current_user)
    teams = db.session.scalars(select(Team).where(Team.id.in_(ids)).order_by(Team.name)).all() if ids else []
    if not teams and not current_user.is_admin:
        abort(403)
    sites = sorted({t.site for t in teams if t.site})
    return render_template("insights/index.html", teams=teams, sites=sites, page_title="Insights")


@bp.get("/teams/<int:team_id>")
@login_required
def team_page(team_id: int):
    team = _team(team_id)
    first, last, errors = _dates(team.timezone)
    cur, prev = _team_measures(team, first, last)
    pf, pl = service.previous_dates(first, last)
    return render_template("insights/team.html", team=team, first=first, last=last, prev_first=pf, prev_last=pl,
                           tables=report.team_tables(cur, prev), charts=team_charts(cur, prev), errors=errors,
                           raw_from=request.args.get("from", first.isoformat()),
                           raw_to=request.args.get("to", last.isoformat()),
                           page_title=f"Insights: {team.name}"), (422 if errors else 200)


@bp.get("/teams/<int:team_id>/<key>.csv")
@login_required
def team_csv(team_id: int, key: str):
    team = _team(team_id)
    first, last, errors = _dates(team.timezone)
    if errors:
        abort(422)
    cur, prev = _team_measures(team, first, last)
    table = next((t for t in report.team_tables(cur, prev) if t.key == key), None)
    if table is None:
        abort(404)
    return _csv(table, f"insights-{team.id}-{key}-{first}-{last}.csv")


def _site_rows():
    if not current_user.is_admin:
        abort(403)
    site = (request.args.get("site") or "").strip()[:120]
    stmt = select(Team).order_by(Team.name)
    if site:
        stmt = stmt.where(Team.site == site)
    teams = db.session.scalars(stmt).all()
    first, last, errors = _dates(None)
    cur, _prev = service.compare([t.id for t in teams], first, last, {t.id: t.timezone for t in teams},
                                 sms_price_pence=_price(), with_previous=False)  # the page compares teams
    rows, sort = report.site_rows(teams, cur, request.args.get("sort", report.DEFAULT_SORT))
    return site, teams, first, last, errors, rows, sort


@bp.get("/site")
@login_required
def site_page():
    site, teams, first, last, errors, rows, sort = _site_rows()
    sites = sorted(s for s in db.session.scalars(select(Team.site).distinct()) if s)
    index = [k for k, *_ in report.SITE_COLUMNS].index(report.DEFAULT_SORT)
    chart = charts.bars("Share of shifts filled at the start, by team", [t.name for t, _v in rows],
                        [Series("This period", [v[index] for _t, v in rows])], unit="%", max_value=100)
    return render_template("insights/site.html", site=site, sites=sites, rows=rows, sort=sort, first=first,
                           last=last, errors=errors, columns=report.SITE_COLUMNS, table=report.site_table(rows),
                           chart=chart, raw_from=request.args.get("from", first.isoformat()),
                           raw_to=request.args.get("to", last.isoformat()),
                           page_title="Insights: every team"), (422 if errors else 200)


@bp.get("/site.csv")
@login_required
def site_csv():
    site, teams, first, last, errors, rows, sort = _site_rows()
    if errors:
        abort(422)
    return _csv(report.site_table(rows), f"insights-site-{first}-{last}.csv")


def _csv(table, name: str) -> Response:
    return Response(report.to_csv(table), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store"})
