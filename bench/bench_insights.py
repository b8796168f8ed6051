"""Insights: a trust of 60 teams with generated history (shifts, open-shift episodes in the audit trail among other
audit noise, swaps, broadcasts with recipients, notifications and outbox rows, handovers). Times the team page
(a coordinator, default period: the last 28 days and the 28 before; target <= 300 ms) and the site page (an
administrator, every team; target <= 1 s) with SQL queries per request (target: the same whatever the history),
first with 3 months of history, then with 12 (growth ratio printed). SQLite by default; PostgreSQL with
BENCH_DATABASE_URL. ``python -m bench insights``."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, insert, text

from bench.common import database_url, timed

TEAMS, STAFF, RUNS = int(os.environ.get("BENCH_INSIGHTS_TEAMS", 60)), 12, 7
SLOTS = ((7, 0, 8.5), (7, 0, 8.5), (13, 0, 8.5), (13, 0, 8.5), (19, 30, 12.5), (19, 30, 12.5))  # UTC start, hours


def _app():
    from app import create_app

    url = database_url("bench-insights-")
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False, "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://",
                      "RATELIMIT_ENABLED": False, "LOG_LEVEL": "WARNING"})
    return app, url


class _Counter:
    def __init__(self, engine):
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")):
            self.n += 1


def _people():
    from core import accounts
    from core.accounts import TeamRole
    from core.db import db

    admin = accounts.create_user(email="admin@bench.test", display_name="Admin", password="bench-password-1",
                                 is_admin=True, staff_group="admin")
    teams = []
    for t in range(TEAMS):
        team = accounts.create_team(name=f"Ward {t:02d}", site=f"Site {t % 3}")
        coord = accounts.create_user(email=f"coord{t}@bench.test", display_name=f"Coordinator {t}",
                                     password="bench-password-1")
        accounts.add_member(team, coord, TeamRole.coordinator)
        staff = []
        for i in range(STAFF):
            u = accounts.create_user(email=f"n{t}-{i}@bench.test", display_name=f"Nurse {t}-{i}",
                                     password="bench-password-1")
            accounts.add_member(team, u, TeamRole.staff)
            staff.append(u.id)
        teams.append((team.id, coord.id, staff))
    db.session.commit()
    return admin, teams


class _Ids:
    audit = 0


def _history(teams, first_day: datetime, days: int, rng: random.Random) -> dict:
    """Bulk-insert ``days`` of history starting at ``first_day`` for every team; returns row counts."""
    from core.audit import AuditEntry
    from core.db import db
    from handover.models import Handover, HandoverState, HandoverStyle
    from notifications.models import Broadcast, BroadcastRecipient, Notification, OutboxMessage, OutboxState
    from rota.models import Shift, ShiftState
    from rota.swaps.models import SwapKind, SwapRequest, SwapState

    counts = dict.fromkeys(("shifts", "audit", "swaps", "recipients", "handovers"), 0)
    next_shift = (db.session.scalar(db.select(db.func.max(Shift.id))) or 0) + 1
    _Ids.audit = db.session.scalar(db.select(db.func.max(AuditEntry.id))) or 0
    for team_id, coord, staff in teams:
        shifts, audit, swaps, handovers = [], [], [], []
        bcs, recipients, notes, outbox = [], [], [], []

        def log(action, at, entity_id=None, actor=None, summary="{}", request_id=None, team=team_id, rows=audit):
            _Ids.audit += 1
            rows.append({"id": _Ids.audit, "at": at, "actor_id": actor, "action": action, "entity_type":
                          "shift" if entity_id else None, "entity_id": str(entity_id) if entity_id else None,
                          "team_id": team, "request_id": request_id, "outcome": "success", "summary_json": summary,
                          "prev_hash": f"p{_Ids.audit}", "hash": f"h{_Ids.audit}"})

        for d in range(days):
            day = first_day + timedelta(days=d)
            for k, (h, m, hours) in enumerate(SLOTS):
                starts = day.replace(hour=h, minute=m)
                person = staff[(d * len(SLOTS) + k) % len(staff)]
                sid = next_shift
                next_shift += 1
                episode = rng.random() < 0.12
                filled = not episode or rng.random() < 0.85
                shifts.append({"id": sid, "team_id": team_id, "starts_at": starts,
                               "ends_at": starts + timedelta(hours=hours), "assignee_id": person if filled else None,
                               "state": ShiftState.scheduled if filled else ShiftState.open, "required_skills": [],
                               "created_at": starts - timedelta(days=40), "updated_at": starts, "version": 1})
                if episode:
                    opened = starts - timedelta(hours=rng.choice((4, 12, 30, 72)))
                    log("shift.opened", opened, sid, coord)
                    if filled:
                        at = opened + timedelta(minutes=rng.lognormvariate(3.5, 1))
                        actor = person if rng.random() < 0.7 else coord
                        route = rng.choice(("app", "app", "sms", "card")) if actor == person else "app"
                        request_id = None if route == "app" else f"r{_Ids.audit + 1}"
                        log("shift.assigned", at, sid, actor, f'{{"to_user_id":{person}}}', request_id)
                        if route != "app":  # the SMS reply or the card claim recorded in the claim's request
                            log({"sms": "broadcast.sms_reply", "card": "channel.card_claimed"}[route], at, None,
                                person, "{}", request_id)
            for _ in range(10):  # everything else the trail records
                log(rng.choice(("notification.read", "auth.login", "channel.posted", "handover.started")),
                    day + timedelta(minutes=rng.randint(0, 1439)))
            if rng.random() < 0.3:
                log("compliance.warned", day + timedelta(hours=9), None, coord)
            if rng.random() < 0.2:  # a change a blocking rule refused
                log("compliance.refused", day + timedelta(hours=10), next_shift - 1, coord,
                    '{"rule_ids":"TCS-rest11,WTR-rest11","shift_id":1,"user_id":1}')
            created = day + timedelta(hours=rng.randint(6, 20))
            swaps.append({"team_id": team_id, "kind": SwapKind.offer, "state": rng.choice(
                (SwapState.approved, SwapState.approved, SwapState.refused)), "requester_id": staff[d % len(staff)],
                "shift_id": next_shift - 1, "shift_version": 1, "to_everyone": False,
                "auto_approved": rng.random() < .5,
                "reason": "Skill mix", "created_at": created, "decided_at": created + timedelta(minutes=45),
                "expires_at": created + timedelta(days=2), "version": 1})
            for h in (7, 19):
                ready = day.replace(hour=h)
                handovers.append({"team_id": team_id, "label": "Shift change", "style": HandoverStyle.sbar,
                                  "starts_at": ready, "state": HandoverState.accepted, "outgoing_id": staff[0],
                                  "created_at": ready, "ready_at": ready, "accepted_off_rota": False,
                                  "accepted_at": ready + timedelta(minutes=rng.lognormvariate(3, 1))})
            if d % 4 == 0:
                bcs.append({"team_id": team_id, "created_by_id": coord, "kind": "message", "audience": "team",
                            "audience_params": {}, "text": "Can anyone cover?", "channels": ["in_app", "sms"],
                            "requires_ack": True, "urgent": False, "state": "closed", "escalation_step": 0,
                            "created_at": day + timedelta(hours=8)})
        db.session.execute(insert(Shift), shifts)
        db.session.execute(insert(AuditEntry), audit)
        db.session.execute(insert(SwapRequest), swaps)
        db.session.execute(insert(Handover), handovers)
        bc_ids = db.session.execute(insert(Broadcast).returning(Broadcast.id, Broadcast.created_at), bcs).all()
        for _bid, at in bc_ids:
            for i, uid in enumerate(staff):
                notes.append({"user_id": uid, "team_id": team_id, "kind": "broadcast", "text": "Can anyone cover?",
                              "created_at": at, "read_at": at + timedelta(minutes=i) if i % 3 else None})
        note_ids = db.session.execute(insert(Notification).returning(Notification.id), notes).scalars().all()
        for j, (bid, at) in enumerate(bc_ids):
            for i, uid in enumerate(staff):
                outbox.append({"user_id": uid, "channel": "sms", "kind": "broadcast", "text": "Can anyone cover?",
                               "suffix": "Reply YES 1234", "team_id": team_id, "broadcast_id": bid, "urgent": False,
                               "state": OutboxState.delivered, "attempts": 1, "next_attempt_at": at,
                               "created_at": at, "updated_at": at})
                recipients.append({"broadcast_id": bid, "user_id": uid, "code": f"{i:04d}", "step": 0,
                                   "notification_id": note_ids[j * len(staff) + i], "created_at": at,
                                   "acknowledged_at": at if i % 2 else None})
        if outbox:
            db.session.execute(insert(OutboxMessage), outbox)
            db.session.execute(insert(BroadcastRecipient), recipients)
        counts["shifts"] += len(shifts)
        counts["audit"] += len(audit)
        counts["swaps"] += len(swaps)
        counts["recipients"] += len(recipients)
        counts["handovers"] += len(handovers)
    db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":  # as autovacuum would after such a load: fresh statistics
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return counts


def _measure(app, engine, admin_email, coord_email, team_id) -> dict:
    """Requests outside any app context: each request pushes its own (as in production), so no signed-in user is
    remembered from one request to the next."""
    out = {}
    for label, email, path in (("team page", coord_email, f"/insights/teams/{team_id}"),
                               ("site page", admin_email, "/insights/site"),
                               ("team API", coord_email, f"/api/v1/teams/{team_id}/insights")):
        client = app.test_client()
        client.post("/auth/login", data={"email": email, "password": "bench-password-1"})
        first = client.get(path)  # warm-up
        assert first.status_code == 200, (path, first.status_code, first.get_data(as_text=True)[-800:])
        counter = _Counter(engine)
        client.get(path)
        queries = counter.n
        event.remove(engine, "before_cursor_execute", counter._count)
        wall, cpu = timed(lambda c=client, p=path: c.get(p), runs=RUNS)
        out[label] = (wall, cpu, queries)
    return out


def main() -> None:
    from flask_migrate import upgrade

    from core.db import db

    app, url = _app()
    engine_name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    rng = random.Random(12)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with app.app_context():
        upgrade(directory=os.path.join(app.root_path, "migrations"), revision="heads")
        admin, teams = _people()
        admin_email = admin.email
        engine = db.engine
        recent = today - timedelta(days=91)
        c3 = _history(teams, recent, 91, rng)
        db.session.remove()
    coord_email, team_id = "coord0@bench.test", teams[0][0]
    print(f"{engine_name}: {TEAMS} teams, 3 months: {c3}", flush=True)
    results = {3: _measure(app, engine, admin_email, coord_email, team_id)}
    with app.app_context():
        c12 = _history(teams, recent - timedelta(days=274), 274, rng)
        db.session.remove()
    print(f"{engine_name}: {TEAMS} teams, 12 months: +{c12}", flush=True)
    results[12] = _measure(app, engine, admin_email, coord_email, team_id)
    load = os.getloadavg()[0]
    targets = {"team page": 300, "site page": 1000, "team API": 300}
    for label in ("team page", "site page", "team API"):
        (w3, c3_, q3), (w12, c12_, q12) = results[3][label], results[12][label]
        ok = "OK" if w12 <= targets[label] and q3 == q12 else "OVER"
        print(f"{engine_name} {label}: 3 months {w3:.0f} ms (cpu {c3_:.0f}), 12 months {w12:.0f} ms "
              f"(cpu {c12_:.0f}); growth x{w12 / w3:.2f}; queries {q3} -> {q12}; target {targets[label]} ms: {ok} "
              f"(load {load:.2f})", flush=True)


if __name__ == "__main__":
    main()
