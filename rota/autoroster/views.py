"""Auto-roster pages: the button on the rota periods list queues a run; the job page shows its progress (refreshing
itself while it runs, polling the job's JSON when scripts run) with a Cancel button, and once it has finished the
summary: requests honoured and refused with why, each unfilled requirement with why, the fairness spread and each
person's hours against their contract, with links to the draft grid and to publishing. Coordinators only. Thin:
``rota.autoroster.jobs`` does the work."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from core.db import db
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.pages import CsrfForm, get_or_404, team_for_page
from rota.autoroster import jobs
from rota.models import RotaPeriod

bp = Blueprint("autoroster", __name__)

SEED = 1  # the page always asks for the same seed: a re-run of the same data gives the same rota


def _job_or_abort(job_id: int):
    try:
        return jobs.get(job_id, current_user)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)


@bp.post("/teams/<int:team_id>/rota/periods/<int:period_id>/auto-roster")
@login_required
def start(team_id: int, period_id: int):
    team = team_for_page(team_id, manage=True)
    period = get_or_404(RotaPeriod, period_id)
    if period.team_id != team.id:
        abort(404)
    if not CsrfForm().validate():
        abort(400)
    try:
        job = jobs.start(period, actor=current_user, seed=SEED, time_limit=30.0)
    except Conflict as exc:
        db.session.rollback()
        running = (exc.extra or {}).get("job_id")
        flash(exc.detail)
        return redirect(url_for("autoroster.job", job_id=running) if running else url_for("rota.build",
                                                                                           team_id=team.id))
    except DomainError as exc:
        db.session.rollback()
        flash(exc.detail)
        return redirect(url_for("rota.build", team_id=team.id))
    db.session.commit()
    return redirect(url_for("autoroster.job", job_id=job.id))


@bp.get("/rota/auto-roster/<int:job_id>")
@login_required
def job(job_id: int):
    job = _job_or_abort(job_id)
    return render_template("rota/autoroster/job.html", job=job, team=job.period.team, period=job.period,
                           form=CsrfForm(), summary=_summary(job.result) if job.result else None,
                           page_title="Auto-roster")


@bp.post("/rota/auto-roster/<int:job_id>/cancel")
@login_required
def cancel(job_id: int):
    job = _job_or_abort(job_id)
    if not CsrfForm().validate():
        abort(400)
    try:
        jobs.cancel(job, actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.detail)
    else:
        db.session.commit()
        flash("Cancelling: the best draft found so far will be checked and saved.")
    return redirect(url_for("autoroster.job", job_id=job_id))


def _summary(result: dict) -> dict:
    """What the summary page shows beside the report's own lists: the fairness spread."""
    people = result.get("people", [])

    def spread(key):
        values = [p[key] for p in people]
        return (max(values) - min(values)) if values else 0

    def days(rows):
        return [{**r, "day": date.fromisoformat(r["day"])} for r in rows]

    return {"nights_spread": spread("nights"), "weekends_spread": spread("weekend_shifts"),
            "requests": result.get("requests_honoured", 0) + len(result.get("refused_requests", [])),
            "gaps": days(result.get("gaps", [])), "refused": days(result.get("refused_requests", [])),
            "people": people, "none_found": result.get("status") in ("unknown", "infeasible") and
            not result.get("created")}
