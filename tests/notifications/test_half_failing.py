"""Done-when: with the provider failing half the time, a broadcast to 500 people ends with every text delivered or
failed with a reason: none lost, none sent twice."""

from __future__ import annotations

import os
import threading
from collections import Counter

from sqlalchemy import func, insert, select

from core.accounts import Membership, TeamRole, User
from core.db import db, now_utc
from notifications import broadcasts, worker
from notifications.models import OutboxMessage, OutboxState
from notifications.service import SMS

N = int(os.environ.get("SB_HALF_FAILING_N", "500"))


def _staff(team, n):
    now = now_utc()
    rows = [{"email": f"bulk{i}@example.test", "display_name": f"Bulk {i}", "password_hash": "x",
             "mobile": f"+4477009{i:05d}", "grade": "Band 5", "skills": [], "is_admin": False, "active": True,
             "created_at": now, "staff_group": "nursing"} for i in range(n)]
    db.session.execute(insert(User), rows)
    ids = db.session.scalars(select(User.id).where(User.email.like("bulk%"))).all()
    db.session.execute(insert(Membership), [{"team_id": team.id, "user_id": uid, "role": TeamRole.staff}
                                            for uid in ids])
    db.session.commit()
    return ids


def test_broadcast_to_500_with_a_provider_failing_half_the_time(app, make, fake_twilio, live_server, engine_name):
    app.config["PUBLIC_BASE_URL"] = live_server.url  # status callbacks come back to the running app
    coordinator = make.user()
    team = make.team("Bulk ward", coordinators=[coordinator])
    ids = _staff(team, N)
    invalid = {f"+4477009{i:05d}" for i in range(0, N, 50)}  # 10 permanent failures: invalid numbers
    fake_twilio.by_number.update({number: "21211" for number in invalid})
    fake_twilio.undelivered.update({"+447700900007": "30003"})
    fake_twilio.fail_rate = 0.5
    fake_twilio.fail_with = ("500", "429")
    b = broadcasts.create(team, coordinator, audience="team", text="Urgent: two nurses needed tonight 19:30",
                          channels=(SMS,), urgent=True)
    db.session.commit()

    # PostgreSQL: two workers at once (FOR UPDATE SKIP LOCKED + conditional claims); SQLite: one worker.
    n_workers = 2 if engine_name == "postgresql" else 1
    results = []

    def run_worker():
        with app.app_context():
            results.append(worker.run(once=True, batch=25))

    threads = [threading.Thread(target=run_worker) for _ in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    db.session.expire_all()
    fake_twilio.wait_for_callbacks(timeout=120)

    rows = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.broadcast_id == b.id)))
    assert len(rows) == N == len(ids)
    states = Counter(r.state for r in rows)
    assert set(states) <= {OutboxState.delivered, OutboxState.failed, OutboxState.undeliverable}, states
    for r in rows:
        if r.state != OutboxState.delivered:
            assert r.error_code and r.error_message, r  # failed with a reason
    # The provider failed about half the requests, and we retried them.
    assert fake_twilio.responses["500"] + fake_twilio.responses["429"] > N / 2
    assert len(results) == n_workers and sum(r.retried for r in results) > N / 2
    assert sum(r.lost_lease for r in results) == 0
    # None sent twice: each accepted text has its own number and maps to exactly one delivered/undeliverable row.
    accepted_to = Counter(m["To"] for m in fake_twilio.accepted)
    assert max(accepted_to.values()) == 1
    delivered = {r.to_number for r in rows if r.state in (OutboxState.delivered, OutboxState.undeliverable)}
    assert delivered == set(accepted_to)
    assert {r.to_number for r in rows if r.error_code == "21211"} == invalid
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.state.in_([OutboxState.pending, OutboxState.sending]))) == 0
    assert not fake_twilio.callback_errors
    report = broadcasts.report(b, coordinator)
    assert report["counts"]["delivered"] + report["counts"]["failed"] == N
