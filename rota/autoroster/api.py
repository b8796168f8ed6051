"""Auto-roster JSON API. ``POST /api/v1/rota-periods/{id}/auto-roster`` queues a run as a background job and answers
202 with the job and its ``Location``; ``GET /api/v1/autoroster-jobs/{id}`` reads its progress and, once done, the
report; ``POST /api/v1/autoroster-jobs/{id}/cancel`` stops it (the draft found so far is still judged and saved).
Errors are application/problem+json (core.handlers)."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user

from core.api import Blueprint, login_required_api
from core.db import db
from rota import services
from rota.autoroster import jobs
from rota.autoroster.schemas import AutoRosterArgs, AutoRosterJobSchema

blp = Blueprint("autoroster_api", __name__, url_prefix="/api/v1",
                description="Auto-roster: a draft rota for a period built by a solver in a background job and judged "
                            "by the rules engine")


@blp.post("/rota-periods/<int:period_id>/auto-roster")
@blp.arguments(AutoRosterArgs, required=False)
@blp.response(202, AutoRosterJobSchema, headers={"Location": {"description": "the job", "schema": {"type": "string"}}})
@login_required_api
def auto_roster(data, period_id):
    """Coordinators: queue a run that builds a draft for a draft period around the shifts already in it (kept as
    they are). Poll the job at ``Location``; its report says why each requirement is unfilled and each request
    refused. 409 ``period_published`` on a published period, ``job_running`` while another run is queued or
    running for the period."""
    period = services.get_period(period_id)
    services.require_view(period.team, current_user)
    job = jobs.start(period, actor=current_user, seed=(data or {}).get("seed", 1),
                     time_limit=(data or {}).get("time_limit", 30.0))
    db.session.commit()
    return job, 202, {"Location": url_for("autoroster_api.job", job_id=job.id)}


@blp.get("/autoroster-jobs/<int:job_id>")
@blp.response(200, AutoRosterJobSchema)
@login_required_api
def job(job_id):
    """Coordinators: a run's state and progress (drafts found, places filled, elapsed) and, once it has finished,
    its report."""
    return jobs.get(job_id, current_user)


@blp.post("/autoroster-jobs/<int:job_id>/cancel")
@blp.response(200, AutoRosterJobSchema)
def cancel(job_id):
    """Coordinators: cancel a run. A queued run ends at once; a running one stops searching within about a second
    and its best draft so far is judged and saved (``cancel_requested`` is true until then)."""
    job = jobs.cancel(jobs.get(job_id, current_user), actor=current_user)
    db.session.commit()
    return job
