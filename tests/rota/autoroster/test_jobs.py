"""Auto-roster jobs: queued → running → done with progress recorded; one run per period (409); cancel stops a long
solve and still judges and saves what it found; a job whose runner died is failed; two runners take each job once;
the pages (button, progress, summary) for coordinators only."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

from sqlalchemy import func, select, update

from core.audit import AuditEntry
from core.db import db, now_utc
from rota.autoroster import jobs
from rota.autoroster.models import AutoRosterJob, JobState
from rota.models import PeriodState, RotaPeriod, Shift, ShiftState, StaffingRequirement
from rota.requests.models import RequestWindow, RotaRequest, RotaRequestKind
from tests.conftest import login
from tests.factories import ward

MON = date(2026, 3, 2)
PROBLEM = "application/problem+json"


def _period(w, weeks=1, first=MON):
    period = RotaPeriod(team_id=w.team.id, first_day=first, last_day=first + timedelta(days=7 * weeks - 1),
                        state=PeriodState.draft)
    db.session.add(period)
    db.session.commit()
    return period


def _small(make):
    """4 nurses, Earlies only, 2 a day for a week: solved in a moment."""
    w = ward(make, 4)
    for code in ("L", "N"):
        w.types[code].active = False
    db.session.add(StaffingRequirement(team_id=w.team.id, shift_type_id=w.types["E"].id, staff_group="nursing",
                                       min_count=2))
    return w, _period(w)


def _job(job_id) -> AutoRosterJob:
    db.session.expire_all()
    return db.session.get(AutoRosterJob, job_id)


def test_a_run_is_queued_then_run_by_a_worker_with_progress_recorded_and_audited(app, make, client, bearer):
    w, period = _small(make)
    coord = bearer(make.token(w.coordinator))
    url = f"/api/v1/rota-periods/{period.id}/auto-roster"
    r = client.post(url, headers=coord, json={"seed": 2, "time_limit": 5})
    assert r.status_code == 202 and r.json["state"] == "queued" and r.json["result"] is None
    job_id = r.json["id"]
    assert r.headers["Location"].endswith(f"/api/v1/autoroster-jobs/{job_id}")
    assert _shifts(period) == 0  # nothing solved in the request

    again = client.post(url, headers=coord)
    assert again.status_code == 409 and again.content_type == PROBLEM
    assert again.json["code"] == "job_running" and again.json["job_id"] == job_id

    assert jobs.run_pending() == 1
    body = client.get(r.headers["Location"], headers=coord).json
    assert body["state"] == "done" and body["solutions"] >= 1 and body["best_objective"] is not None
    assert body["places"] == body["filled"] == 14 and body["gaps_left"] == 0
    assert body["started_at"] and body["finished_at"] and body["elapsed_seconds"] >= 0
    assert body["result"]["status"] == "optimal" and len(body["result"]["created"]) == _shifts(period) >= 14
    assert body["result"]["engine_refused"] == 0
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"rota.autoroster_job_queued", "rota.auto_rostered", "rota.autoroster_job_finished"} <= actions
    assert client.post(url, headers=coord).status_code == 202  # finished: the period is free for another run


def test_cancel_stops_a_long_solve_and_the_draft_found_so_far_is_judged_and_saved(app, make, client, bearer):
    w = ward(make, 8)  # too few for 3 + 3 + 2 a day: a first draft comes fast, then a long search for a better one
    for code, count in (("E", 3), ("L", 3), ("N", 2)):
        db.session.add(StaffingRequirement(team_id=w.team.id, shift_type_id=w.types[code].id, staff_group="nursing",
                                           min_count=count))
    period = _period(w, weeks=2)
    coord = bearer(make.token(w.coordinator))
    job_id = client.post(f"/api/v1/rota-periods/{period.id}/auto-roster", headers=coord,
                         json={"time_limit": 120}).json["id"]

    def runner():
        with app.app_context():
            jobs.run_pending()
            db.session.remove()

    thread = threading.Thread(target=runner)
    thread.start()
    deadline = time.monotonic() + 120
    while not (_job(job_id).state == JobState.running and _job(job_id).solutions >= 1):
        db.session.rollback()
        assert time.monotonic() < deadline and thread.is_alive(), "the run never reported a draft"
        time.sleep(0.1)
    r = client.post(f"/api/v1/autoroster-jobs/{job_id}/cancel", headers=coord)
    assert r.status_code == 200 and r.json["cancel_requested"] is True
    thread.join(timeout=120)
    assert not thread.is_alive()
    job = _job(job_id)
    assert job.state == JobState.cancelled
    assert job.result["status"] == "feasible"  # stopped before the solver finished its search
    assert job.result["engine_refused"] == 0 and len(job.result["created"]) == _shifts(period) > 0
    assert client.post(f"/api/v1/autoroster-jobs/{job_id}/cancel", headers=coord).json["code"] == "job_finished"


def test_a_queued_run_cancelled_ends_at_once_and_changes_nothing(app, make, client, bearer):
    w, period = _small(make)
    coord = bearer(make.token(w.coordinator))
    job_id = client.post(f"/api/v1/rota-periods/{period.id}/auto-roster", headers=coord).json["id"]
    r = client.post(f"/api/v1/autoroster-jobs/{job_id}/cancel", headers=coord)
    assert r.status_code == 200 and r.json["state"] == "cancelled" and r.json["result"] is None
    assert jobs.run_pending() == 0 and _shifts(period) == 0


def test_a_run_whose_worker_died_is_failed_and_the_period_is_free_again(app, make, client, bearer):
    w, period = _small(make)
    coord = bearer(make.token(w.coordinator))
    url = f"/api/v1/rota-periods/{period.id}/auto-roster"
    job_id = client.post(url, headers=coord).json["id"]
    assert jobs.claim("a worker that is about to die") == job_id
    assert client.post(url, headers=coord).status_code == 409  # its heartbeat is fresh: still running
    db.session.execute(update(AutoRosterJob).values(heartbeat_at=now_utc() - timedelta(minutes=5)))
    db.session.commit()
    r = client.post(url, headers=coord)
    assert r.status_code == 202 and r.json["id"] != job_id
    old = client.get(f"/api/v1/autoroster-jobs/{job_id}", headers=coord).json
    assert old["state"] == "failed" and old["error"] == jobs.RUNNER_DIED and _shifts(period) == 0


def test_two_runners_take_each_queued_run_once(app, make):
    w = ward(make, 2)
    queued = [jobs.start(_period(w, first=MON + timedelta(weeks=i)), actor=w.coordinator).id for i in range(6)]
    db.session.commit()
    took = {1: [], 2: []}
    start = threading.Barrier(2)

    def runner(n):
        with app.app_context():
            start.wait()
            while (job_id := jobs.claim(f"runner {n}")) is not None:
                took[n].append(job_id)
            db.session.remove()

    threads = [threading.Thread(target=runner, args=(n,)) for n in took]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(took[1] + took[2]) == sorted(queued)
    assert {j.runner for j in db.session.scalars(select(AutoRosterJob))} <= {"runner 1", "runner 2"}


def test_the_coordinator_runs_it_from_the_button_and_reads_the_summary_staff_cannot(app, make, client):
    w, period = _small(make)
    a, b = w.staff[:2]
    window = RequestWindow(team_id=w.team.id, period_id=period.id, opens_on=MON - timedelta(days=30),
                           closes_on=MON - timedelta(days=10), max_per_person=3)
    db.session.add(window)
    db.session.flush()
    db.session.add(RotaRequest(window_id=window.id, user_id=b.id, day=MON + timedelta(days=5),
                               kind=RotaRequestKind.avoid, priority=1))
    db.session.commit()
    login(client, w.coordinator)
    page = client.get(f"/teams/{w.team.id}/rota/build").get_data(as_text=True)
    assert "Build a draft with auto-roster" in page
    r = client.post(f"/teams/{w.team.id}/rota/periods/{period.id}/auto-roster")
    assert r.status_code == 302
    job_url = r.headers["Location"]
    page = client.get(job_url).get_data(as_text=True)
    assert "Waiting to start" in page and "<progress" in page and 'http-equiv="refresh"' in page and "Cancel" in page
    jobs.run_pending()
    page = client.get(job_url).get_data(as_text=True)
    assert "Draft built" in page and 'http-equiv="refresh"' not in page
    assert "14</strong> of 14 required places filled" in page and "1</strong> of 1 rota request(s) honoured" in page
    assert "Every requirement is met." in page and b.display_name in page and "Edit the draft on the rota" in page
    assert f"/rota/periods/{period.id}/publish" in page
    assert "Auto-roster: done" in client.get(f"/teams/{w.team.id}/rota/build").get_data(as_text=True)

    nurse = app.test_client()
    login(nurse, a)
    assert nurse.get(job_url).status_code == 403
    assert nurse.post(f"/teams/{w.team.id}/rota/periods/{period.id}/auto-roster").status_code == 403
    stranger = app.test_client()
    login(stranger, ward(make, 1, name="Another ward").coordinator)
    assert stranger.get(job_url).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(AutoRosterJob)) == 1


def _shifts(period) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Shift).where(Shift.rota_period_id == period.id,
                                                                             Shift.state != ShiftState.cancelled))
