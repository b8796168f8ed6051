"""The demo's auto-rostered draft: the ward's request-window period gets a draft built by an auto-roster job, run
here and now, so the coordinator sees the summary page and the draft grid. Once.

The ward (30 people, 4 shift types, 4 weeks) takes the solver about 5 s to a first draft on an idle 2-core machine
(25 s at load 10), so the run is capped at ``AUTOROSTER_DEMO_TIME_LIMIT`` seconds (15): enough for a draft, short of
the best one. On a machine too busy for that the job ends "no draft found" and the page says so."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from core.accounts import Membership, Team, TeamRole, User
from core.db import db
from rota.autoroster import jobs
from rota.autoroster.models import AutoRosterJob
from rota.demo import WARD
from rota.requests.models import RequestWindow

DEMO_TIME_LIMIT = 15.0  # seconds (AUTOROSTER_DEMO_TIME_LIMIT)


def seed_draft() -> list[str]:
    ward = db.session.scalar(select(Team).where(Team.name == WARD))
    window = ward and db.session.scalar(select(RequestWindow).where(RequestWindow.team_id == ward.id))
    if window is None or db.session.scalar(select(AutoRosterJob.id).where(AutoRosterJob.period_id ==
                                                                          window.period_id)) is not None:
        return []
    boss = db.session.scalar(select(User).join(Membership, Membership.user_id == User.id)
                             .where(Membership.team_id == ward.id, Membership.role == TeamRole.coordinator)
                             .order_by(User.id))
    limit = float(current_app.config.get("AUTOROSTER_DEMO_TIME_LIMIT", DEMO_TIME_LIMIT))
    job = jobs.start(window.period, actor=boss, seed=1, time_limit=limit)
    db.session.commit()
    if not current_app.config.get("AUTOROSTER_DEMO_RUN", True):  # queued for a worker (the test suite's demo)
        period = window.period
        return [f"  {WARD}: an auto-roster run queued for {period.first_day:%d %b}–{period.last_day:%d %b}"]
    jobs.run_pending(limit=1)
    db.session.refresh(job)
    return [f"  {WARD}: an auto-rostered draft for {window.period.first_day:%d %b}–{window.period.last_day:%d %b} "
            f"({job.result and job.result['status'] or job.state.value}, {job.filled} of {job.places} places filled)"]
