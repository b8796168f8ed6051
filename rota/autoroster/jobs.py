"""Auto-roster jobs: queue a run, let an auto-roster worker claim and run it, report progress, cancel it
(``docs/auto-roster.md``, "Jobs").

* :func:`start` queues a job (coordinators only; the period is checked now, and again when the job runs). At most one
  job per period is queued or running: a second start is a 409 naming the first (a partial unique index decides a
  race). Audited ``rota.autoroster_job_queued``.
* :func:`claim` takes the oldest queued job for a runner in one conditional statement (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL), so with several workers each job runs once.
* :func:`run` solves through :func:`service.auto_roster` (the same code the synchronous run used): a watcher thread
  writes the solver's progress and a heartbeat to the row about once a second over its own connection, and stops the
  search when someone asked to cancel; the draft found so far is then judged by the rules engine and saved with the
  job's outcome in one transaction. Audited ``rota.autoroster_job_finished`` (state, counts; no names).
* :func:`fail_stale` marks running jobs whose heartbeat stopped (the worker died) failed.

No web request ever solves: pages and the API only queue, read and flag.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core import audit
from core.db import db, now_utc
from core.errors import Conflict, DomainError, NotFound
from rota import services
from rota.autoroster import service
from rota.autoroster.models import ACTIVE, AutoRosterJob, JobState
from rota.autoroster.schemas import AutoRosterSchema

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # progress and heartbeat written at most this often
STALE_SECONDS = 60.0  # a running job whose heartbeat is older than this is failed (AUTOROSTER_STALE_SECONDS)
RUNNER_DIED = "The auto-roster worker running this job stopped before it finished; nothing was saved. Run it again."


def runner_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _stale_after() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("AUTOROSTER_STALE_SECONDS", STALE_SECONDS)))


# ------------------------------------------------------------------------------------------------ pages and API


def get(job_id: int, actor, *, manage: bool = True) -> AutoRosterJob:
    """The job, for the team's coordinators (staff of the team: 403; anyone else: 404)."""
    services.check_id(job_id, "auto-roster job")
    job = db.session.get(AutoRosterJob, job_id)
    if job is None:
        raise NotFound(f"No auto-roster job with id {job_id}.")
    team = job.period.team
    if not team.can_view(actor):
        raise NotFound(f"No auto-roster job with id {job_id}.")
    if manage:
        services.require_manage(team, actor)
    return job


def active_job(period_id: int) -> AutoRosterJob | None:
    return db.session.scalar(select(AutoRosterJob).where(AutoRosterJob.period_id == period_id,
                                                         AutoRosterJob.state.in_(ACTIVE)))


def latest_jobs(period_ids) -> dict[int, AutoRosterJob]:
    """Each period's most recent job (for the periods list)."""
    out = {}
    for job in db.session.scalars(select(AutoRosterJob).where(AutoRosterJob.period_id.in_(list(period_ids)))
                                  .order_by(AutoRosterJob.id)):
        out[job.period_id] = job
    return out


def _already(job: AutoRosterJob) -> Conflict:
    return Conflict(f"An auto-roster run (job {job.id}) is already {job.state.value} for this period: wait for it "
                    f"or cancel it.", extra={"code": "job_running", "job_id": job.id})


def start(period, *, actor, seed: int = 1, time_limit: float = 30.0) -> AutoRosterJob:
    """Queue a run for ``period`` (the caller commits). Raises what :func:`service.check` raises, and 409
    ``job_running`` while another job for the period is queued or running."""
    service.check(period, actor)
    fail_stale(period_id=period.id)
    running = active_job(period.id)
    if running is not None:
        raise _already(running)
    job = AutoRosterJob(period_id=period.id, team_id=period.team_id, requested_by_id=actor.id, seed=seed,
                        time_limit=time_limit, state=JobState.queued)
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:
        running = active_job(period.id)
        raise _already(running) if running is not None else Conflict("Try again.") from None
    audit.record("rota.autoroster_job_queued", actor=actor, entity=job,
                 summary={"period_id": period.id, "seed": seed, "time_limit": time_limit})
    return job


def cancel(job: AutoRosterJob, *, actor) -> AutoRosterJob:
    """Cancel ``job`` (the caller commits): a queued job ends at once; a running one is asked to stop and keeps the
    draft it has found. 409 ``job_finished`` once it has finished."""
    services.require_manage(job.period.team, actor)
    now = now_utc()
    done = db.session.execute(update(AutoRosterJob).where(AutoRosterJob.id == job.id,
                                                          AutoRosterJob.state == JobState.queued)
                              .values(state=JobState.cancelled, cancel_requested=True, finished_at=now)
                              .execution_options(synchronize_session=False)).rowcount
    if not done:
        done = db.session.execute(update(AutoRosterJob).where(AutoRosterJob.id == job.id,
                                                              AutoRosterJob.state == JobState.running)
                                  .values(cancel_requested=True)
                                  .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(job)
    if not done:
        raise Conflict(f"This auto-roster run has already finished ({job.state.value}).",
                       extra={"code": "job_finished"})
    audit.record("rota.autoroster_job_cancelled", actor=actor, entity=job,
                 summary={"period_id": job.period_id, "state": job.state.value})
    return job


# ------------------------------------------------------------------------------------------------------ runners


def fail_stale(period_id: int | None = None) -> int:
    """Fail running jobs whose heartbeat is older than ``AUTOROSTER_STALE_SECONDS`` (their worker died)."""
    now = now_utc()
    stmt = update(AutoRosterJob).where(AutoRosterJob.state == JobState.running,
                                       AutoRosterJob.heartbeat_at < now - _stale_after())
    if period_id is not None:
        stmt = stmt.where(AutoRosterJob.period_id == period_id)
    rows = db.session.execute(stmt.values(state=JobState.failed, finished_at=now, error=RUNNER_DIED)
                              .returning(AutoRosterJob.id, AutoRosterJob.period_id, AutoRosterJob.team_id)
                              .execution_options(synchronize_session=False)).all()
    for job_id, pid, team_id in rows:
        audit.record("rota.autoroster_job_finished", entity_type="autoroster_job", entity_id=job_id, team_id=team_id,
                     outcome="failure", summary={"period_id": pid, "state": "failed", "reason": "stale"})
    return len(rows)


def claim(runner: str) -> int | None:
    """Take the oldest queued job for ``runner`` (commits); its id, or None."""
    now = now_utc()
    candidates = (select(AutoRosterJob.id).where(AutoRosterJob.state == JobState.queued)
                  .order_by(AutoRosterJob.created_at, AutoRosterJob.id).limit(1))
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    picked = candidates.cte("picked")
    job_id = db.session.execute(
        update(AutoRosterJob).where(AutoRosterJob.id.in_(select(picked.c.id)), AutoRosterJob.state == JobState.queued)
        .values(state=JobState.running, runner=runner[:80], started_at=now, heartbeat_at=now)
        .returning(AutoRosterJob.id).execution_options(synchronize_session=False)).scalar()
    db.session.commit()
    return job_id


class _Watcher(threading.Thread):
    """Writes the latest progress and a heartbeat to the job row about once a second over its own connection, and
    stops the search once someone has asked to cancel."""

    def __init__(self, engine, job_id: int):
        super().__init__(name=f"autoroster-job-{job_id}", daemon=True)
        self.engine, self.job_id = engine, job_id
        self.progress: dict = {}
        self.stop_search = None
        self.cancelled = False
        self.began = time.monotonic()
        self.done = threading.Event()

    def on_solution(self, progress: dict) -> bool:
        self.progress = progress  # written by the next tick
        return self.cancelled

    def on_start(self, stop_search) -> None:
        self.stop_search = stop_search

    def tick(self) -> None:
        p = self.progress
        values = {"heartbeat_at": now_utc(), "elapsed_seconds": round(time.monotonic() - self.began, 1)}
        if p:
            values.update(solutions=p["solutions"], best_objective=p["objective"], places=p["places"],
                          filled=p["filled"])
        with self.engine.begin() as conn:
            flag = conn.execute(update(AutoRosterJob).where(AutoRosterJob.id == self.job_id,
                                                            AutoRosterJob.state == JobState.running)
                                .values(**values).returning(AutoRosterJob.cancel_requested)).scalar()
        if flag or flag is None:  # asked to cancel, or no longer ours (failed as stale): stop
            self.cancelled = True
            if self.stop_search is not None:
                self.stop_search()

    def finish(self) -> None:
        """Stop writing (the search has ended; the runner writes the outcome itself)."""
        self.done.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        while not self.done.wait(TICK_SECONDS):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001  (a lost connection: try again next tick; the solve goes on)
                log.warning("auto-roster job %s: progress not written (%s)", self.job_id, type(exc).__name__)


def _finish(job_id: int, state: JobState, *, watcher: _Watcher, result=None, error=None, actor=None) -> bool:
    """Record the outcome if the job is still ours (not failed as stale meanwhile); the caller commits."""
    p = watcher.progress
    values = {"state": state, "finished_at": now_utc(), "heartbeat_at": now_utc(), "result": result, "error": error,
              "elapsed_seconds": round(time.monotonic() - watcher.began, 1)}
    if p:
        values.update(solutions=p["solutions"], best_objective=p["objective"], places=p["places"], filled=p["filled"])
    row = db.session.execute(update(AutoRosterJob).where(AutoRosterJob.id == job_id,
                                                         AutoRosterJob.state == JobState.running)
                             .values(**values).returning(AutoRosterJob.period_id, AutoRosterJob.team_id)
                             .execution_options(synchronize_session=False)).first()
    if row is None:
        return False
    summary = {"period_id": row.period_id, "state": state.value}
    if result is not None:
        summary.update(created=len(result["created"]), gaps=len(result["gaps"]))
    audit.record("rota.autoroster_job_finished", actor=actor, entity_type="autoroster_job", entity_id=job_id,
                 team_id=row.team_id, outcome="success" if state != JobState.failed else "failure", summary=summary)
    return True


def run(job_id: int) -> JobState | None:
    """Run a claimed job to its end (commits). The state it ended in, or None if it was no longer ours."""
    job = db.session.get(AutoRosterJob, job_id)
    period, actor, seed, limit = job.period, job.requested_by, job.seed, job.time_limit
    watcher = _Watcher(db.engine, job_id)

    def on_start(stop_search):
        db.session.commit()  # nothing written yet: hold no transaction while the solver searches
        watcher.on_start(stop_search)
        watcher.start()

    try:
        if actor is None:
            raise Conflict("The person who asked for this run no longer has an account.")
        report = service.auto_roster(period, actor=actor, seed=seed, time_limit=limit,
                                     on_solution=watcher.on_solution, on_start=on_start, on_solved=watcher.finish)
    except DomainError as exc:
        return _fail(job_id, watcher, exc.detail, actor)
    except Exception as exc:
        log.exception("auto-roster job %s failed", job_id)
        return _fail(job_id, watcher, f"The auto-roster stopped on an unexpected error ({type(exc).__name__}).",
                     actor)
    finally:
        watcher.finish()
    if watcher.cancelled:  # cancelled while it searched; else read the flag once more (a cancel after the last tick)
        state = JobState.cancelled
    else:
        asked = db.session.scalar(select(AutoRosterJob.cancel_requested).where(AutoRosterJob.id == job_id))
        state = JobState.cancelled if asked else JobState.done
    if not _finish(job_id, state, watcher=watcher, result=AutoRosterSchema().dump(report), actor=actor):
        db.session.rollback()  # failed as stale meanwhile: its draft is not saved
        return None
    db.session.commit()
    return state


def _fail(job_id: int, watcher: _Watcher, error: str, actor) -> JobState | None:
    db.session.rollback()
    ok = _finish(job_id, JobState.failed, watcher=watcher, error=error, actor=actor)
    db.session.commit()
    return JobState.failed if ok else None


def run_pending(runner: str | None = None, *, limit: int | None = None) -> int:
    """Claim and run queued jobs until none is left (or ``limit`` ran); how many ran."""
    runner = runner or runner_id()
    ran = 0
    while limit is None or ran < limit:
        job_id = claim(runner)
        if job_id is None:
            break
        run(job_id)
        ran += 1
    return ran


def work(*, poll_seconds: float = 2.0, stop: threading.Event | None = None) -> None:
    """The auto-roster worker's loop (``flask autoroster worker``): fail stale jobs, run queued ones, wait."""
    runner = runner_id()
    stop = stop or threading.Event()
    log.info("auto-roster worker %s started", runner)
    while not stop.is_set():
        try:
            fail_stale()
            db.session.commit()
            if not run_pending(runner, limit=1):
                stop.wait(poll_seconds)
        except Exception as exc:  # noqa: BLE001  (the database away: wait and try again)
            db.session.rollback()
            log.warning("auto-roster worker: %s; trying again", type(exc).__name__)
            stop.wait(poll_seconds * 5)
