"""Auto-roster a rota period: read the period into a :class:`Problem`, solve, let the rules engine judge every
drafted shift, and save what it allows as draft shifts (``docs/auto-roster.md``).

Every shift already in the period with someone on it is pinned (kept, and the draft is built around it); a published
period is never touched. The engine has the last word: a drafted shift it blocks is not saved and its place is
reported as a gap with the engine's reason (the tests require there are none).
"""

from __future__ import annotations

import time as time_module
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from core import audit, timeutil
from core.accounts import Membership, StaffGroup, TeamRole, User
from core.db import db
from core.errors import Conflict, ValidationFailed
from rota import services
from rota.autoroster import model
from rota.autoroster.judge import judge
from rota.autoroster.problem import (
    Clause,
    Draft,
    Person,
    Preference,
    Problem,
    Request,
    ShiftKind,
    blocking_rules,
    instants,
)
from rota.compliance.profiles import profiles_for
from rota.compliance.rotas import load_leave, load_shifts
from rota.cover import clause_words, staff_label
from rota.models import Leave, PeriodState, RotaPeriod, Shift, ShiftState, ShiftType
from rota.requests import rota_requests
from rota.requests.models import StaffLeaveProfile
from rota.skillmix import meets

FULL_TIME_WEEK_MINUTES = 2250  # 37.5 h
MAX_DAYS = 16 * 7  # the longest period built in one run
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 12, 31)  # dates a rota can be built for (no overflow near year 9999)
REACH = timedelta(days=28)  # how far either side of the period the engine looks at a person's other shifts
# Fairness over a rolling window: nights, weekend shifts and on-calls worked in this many weeks before the period
# count towards each spread, so who did the last period's nights is not first in line again (docs/auto-roster.md).
FAIR_WINDOW_WEEKS = 12
NEAR = timedelta(days=9)  # shifts this close to the period are fixed: a run of 7 and its 48 h rest reach this far


def _people(team) -> list[User]:
    users = db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                               .where(Membership.team_id == team.id, Membership.role == TeamRole.staff)
                               .order_by(User.id)).all()
    return [u for u in users if u.grade is not None and u.staff_group != StaffGroup.admin]


def build_problem(period: RotaPeriod) -> tuple[Problem, dict]:
    """The period as plain rows, and what the service needs to save and judge the answer."""
    team = period.team
    tz = team.timezone
    days = [period.first_day + timedelta(days=i) for i in range((period.last_day - period.first_day).days + 1)]
    types = [ShiftKind(t.id, t.code, t.name, t.start_local, t.duration_minutes, t.kind.value)
             for t in services.shift_types(team, active_only=True)]
    users = _people(team)
    ids = [u.id for u in users]
    profiles, _break = profiles_for(users, team)
    fte = dict(db.session.execute(select(StaffLeaveProfile.user_id, StaffLeaveProfile.fte_thousandths)
                                  .where(StaffLeaveProfile.user_id.in_(ids))).all())
    people = []
    for u in users:  # the engine's blocking rules for the person (TCS 2016 for doctors in training) become hard
        people.append(Person(u.id, u.display_name, staff_label(u),
                                   weekly_minutes=FULL_TIME_WEEK_MINUTES * fte.get(u.id, 1000) // 1000,
                                   rules=blocking_rules(profiles[u.id].rule_sets)))
    type_ids = {t.id for t in types}
    clauses = []
    for req in services.requirements(team):
        if req.shift_type_id not in type_ids:
            continue
        eligible = frozenset(u.id for u in users if meets(u, req))
        clauses += [Clause(req.id, req.shift_type_id, d, req.min_count, clause_words(req), eligible)
                    for d in days if req.weekday is None or req.weekday == d.weekday()]
    leave = set()
    for uid, first, last in db.session.execute(select(Leave.user_id, Leave.first_day, Leave.last_day).where(
            Leave.user_id.in_(ids), Leave.first_day <= period.last_day, Leave.last_day >= period.first_day)):
        leave |= {(uid, d) for d in days if first <= d <= last}
    lo = timeutil.localize(datetime.combine(period.first_day, time()), tz)
    hi = timeutil.localize(datetime.combine(period.last_day + timedelta(days=1), time()), tz)
    pins: dict = {}
    fixed = []
    near = NEAR
    for s in db.session.scalars(select(Shift).where(Shift.assignee_id.in_(ids), Shift.state != ShiftState.cancelled,
                                                    Shift.starts_at < hi + near, Shift.ends_at > lo - near)):
        day = timeutil.local_date(s.starts_at, tz)
        nominal = day in days and s.shift_type_id in type_ids and s.team_id == team.id and \
            (s.starts_at, s.ends_at) == instants(day, next(t for t in types if t.id == s.shift_type_id), tz)
        if nominal:
            pins[(s.assignee_id, day)] = s.shift_type_id
            continue
        if day in days:
            pins[(s.assignee_id, day)] = None
        name = s.shift_type.name if s.shift_type is not None else "a shift"
        start = s.starts_at.astimezone(timeutil.zone(tz))
        kind = s.shift_type.kind.value if s.shift_type is not None else "day"
        fixed.append((s.assignee_id, s.starts_at, s.ends_at, f"the {name} on {start:%a %d %b} from {start:%H:%M}",
                      kind))
    rows = rota_requests.requests_for_period(period)
    reqs = [Request(r["user_id"], r["day"], r["kind"], r["shift_type_id"], r["priority"])
            for r in rows["requests"] if r["user_id"] in ids]
    prefs = [Preference(p["user_id"], p["kind"], p["shift_type_id"], p["weekday"], p["hard"])
             for p in rows["preferences"] if p["user_id"] in ids]
    problem = Problem(days, tz, types, people, clauses, leave=leave, pins=pins, fixed=fixed, requests=reqs,
                            preferences=prefs, history=_history(ids, lo, people), fair_weeks=FAIR_WINDOW_WEEKS)
    return problem, {"users": {u.id: u for u in users}, "profiles": profiles, "lo": lo, "hi": hi}


def _history(ids: list[int], lo: datetime, people: list[Person]) -> list:
    """Shifts worked before the period: the fairness window, or as far back as an engine rule in the model reaches
    (1 weekend in 3 looks back over its cycle of weeks)."""
    reach = {"weekends": "cycle_weeks", "average_hours": "reference_weeks"}
    weeks = max([FAIR_WINDOW_WEEKS, *(r.params[reach[r.check]] for u in people for r in u.rules if r.check in reach)])
    rows = db.session.execute(
        select(Shift.assignee_id, Shift.starts_at, Shift.ends_at, ShiftType.kind)
        .outerjoin(ShiftType, ShiftType.id == Shift.shift_type_id)
        .where(Shift.assignee_id.in_(ids), Shift.state != ShiftState.cancelled,
               Shift.starts_at >= lo - timedelta(weeks=weeks), Shift.starts_at < lo))
    return [(uid, s, e, kind.value if kind is not None else "day") for uid, s, e, kind in rows]


def check(period: RotaPeriod, actor) -> None:
    """Refuse what the auto-roster cannot build (before a job is queued, and again when it runs)."""
    services.require_manage(period.team, actor)
    if period.state != PeriodState.draft:
        raise Conflict("This rota period is published: the auto-roster only builds drafts. Add shifts by hand or "
                       "create a new period.", extra={"code": "period_published"})
    if period.first_day < EARLIEST or period.last_day > LATEST:
        raise ValidationFailed("The auto-roster builds rotas between 1900 and 9000.", extra={"code": "out_of_range"})
    if (period.last_day - period.first_day).days >= MAX_DAYS:
        raise ValidationFailed(f"The auto-roster builds at most {MAX_DAYS // 7} weeks at a time: split the period.",
                               extra={"code": "period_too_long"})
    if not services.shift_types(period.team, active_only=True):
        raise ValidationFailed("This team has no active shift types: add them before building a rota.",
                               extra={"code": "no_shift_types"})


def auto_roster(period: RotaPeriod, *, actor, seed: int = 1, time_limit: float = 30.0, on_solution=None,
                on_start=None, on_solved=None) -> dict:
    """Build and save a draft for ``period`` (coordinators only; draft periods only). Returns the report.
    ``on_solution`` and ``on_start`` go to :func:`model.solve` (a job's progress and cancel); ``on_solved()`` is
    called when the search has ended, before anything is written."""
    began = time_module.monotonic()
    check(period, actor)
    problem, ctx = build_problem(period)
    draft = model.solve(problem, seed=seed, time_limit=time_limit, on_solution=on_solution, on_start=on_start,
                        spent=time_module.monotonic() - began)
    if on_solved is not None:
        on_solved()
    db.session.refresh(period)
    if period.state != PeriodState.draft:
        raise Conflict("This rota period was published while the auto-roster ran: nothing was saved.",
                       extra={"code": "period_published"})
    new = Draft(draft.status, [a for a in draft.assignments if not a.pinned], draft.gaps, draft.refused,
                      draft.honoured, draft.summary)
    refused_by_engine = _judge(new, problem, ctx)
    types = {t.id: t for t in problem.types}
    for a, verdicts in refused_by_engine:
        new.assignments.remove(a)
        draft.gaps.append({"requirement_id": None, "day": a.day, "type_id": a.type_id, "missing": 1,
                           "why": f"the rules engine refused {ctx['users'][a.user_id].display_name}: "
                                  f"{verdicts[0].message}"})
    created = []
    for a in new.assignments:
        shift = Shift(team_id=period.team_id, shift_type_id=a.type_id, rota_period_id=period.id,
                      starts_at=a.starts_at, ends_at=a.ends_at, assignee_id=a.user_id, state=ShiftState.scheduled,
                      required_skills=[])
        db.session.add(shift)
        created.append(shift)
    db.session.flush()
    audit.record("rota.auto_rostered", actor=actor, entity=period,
                 summary={"seed": seed, "status": draft.status, "created": len(created), "gaps": len(draft.gaps),
                          "refused_requests": len(draft.refused), "engine_refused": len(refused_by_engine)})
    users = ctx["users"]
    return {
        "period_id": period.id, "status": draft.status, "seed": seed,
        "created": [{"id": s.id, "user_id": s.assignee_id, "day": timeutil.local_date(s.starts_at, problem.tz),
                     "shift_type": types[s.shift_type_id].name} for s in created],
        "pinned": sum(1 for a in draft.assignments if a.pinned),
        "gaps": [{**g, "shift_type": types[g["type_id"]].name} for g in draft.gaps],
        "refused_requests": [{**r, "person": users[r["user_id"]].display_name} for r in draft.refused],
        "requests_honoured": draft.honoured,
        "engine_refused": len(refused_by_engine),
        "people": [{"user_id": uid, "name": users[uid].display_name,
                    "contracted_minutes": h["target_minutes"], "rostered_minutes": h["rostered_minutes"],
                    "nights": draft.summary.get("nights", {}).get(uid, 0),
                    "weekend_shifts": draft.summary.get("weekends", {}).get(uid, 0)}
                   for uid, h in sorted(draft.summary.get("hours", {}).items())],
    }


def _judge(draft: Draft, problem: Problem, ctx) -> list:
    """The rules engine over each person's drafted shifts plus their other shifts within four weeks: the drafted
    assignments it blocks, with its verdicts."""
    ids = [u.id for u in problem.people]
    lo, hi = ctx["lo"].astimezone(UTC) - REACH, ctx["hi"].astimezone(UTC) + REACH
    existing = load_shifts(ids, lo, hi)
    leave = load_leave(ids, lo, hi)
    profiles = ctx["profiles"]
    blocked = judge(draft, {t.id: t for t in problem.types}, problem.tz,
                          lambda uid: (profiles[uid].rule_sets, profiles[uid].opted_out),
                          existing=existing, leave=leave)
    out = []
    for i, a in enumerate(draft.assignments):
        verdicts = [v for v in blocked.get(a.user_id, []) if ("draft", i) in v.shift_keys]
        if verdicts:
            out.append((a, verdicts))
    return out

