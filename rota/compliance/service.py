"""Working-time compliance service: which rules apply to whom, what-if checks, and the hooks that make every
assignment, publish and grid go through the engine.

Other modules call :func:`verdicts_for_change` for what-if checks (swaps, claims, eligibility) and rely on the
engine being registered in ``rota.assignment.CHANGE_CHECKS`` so every assignment is checked. The rules themselves are
pure functions in :mod:`rota.rules`; this module loads a person's real shifts and leave and chooses their rule sets:

* doctors in training (``user.is_doctor_in_training``) get TCS2016 (as amended 2019) + WTR, everyone else WTR;
* a team's settings may name other rule sets, change severities, switch rules off, add local rules (e.g.
  "LOCAL-long3": at most 3 long days in a row), pick the fortnightly weekly-rest pattern, set the rota cycle;
* a person's settings may record the WTR opt-out, name rule sets and add local rules;
* trust-wide severities come from configuration ``COMPLIANCE_SEVERITIES`` (``{"WTR-rest11": "block"}``) and
  ``COMPLIANCE_DISABLED_RULES``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import and_, bindparam, or_, select, text

from core import audit, timeutil
from core.accounts import Membership, Team, TeamRole, User
from core.db import db, epoch_seconds
from core.errors import Forbidden, RuleViolation
from rota import assignment
from rota.assignment import clean_reason
from rota.compliance import rules
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from rota.compliance.rules import LeaveSpan, RuleSet, Verdict, WorkShift  # noqa: F401  (Verdict is the agreed interface)
from rota.models import Leave, Shift, ShiftState, ShiftType

# How far either side of a change the real rota is read: the longest reference period plus a week.
MARGIN = timedelta(weeks=27)
# Below this many people, reading each whole margin is cheaper than the extra screening query (see focus_rotas).
SCREEN_FROM = 8


# -------------------------------------------------------------------------------------------- rule choice


@dataclass
class Profile:
    """The rules that apply to one person in one team."""

    rule_sets: list[RuleSet]
    opted_out: bool = False
    break_minutes: int | None = None
    names: list[str] = field(default_factory=list)


def _settings(user, team):

    if team is None:
        return db.session.scalar(select(PersonComplianceSettings).where(
            PersonComplianceSettings.user_id == user.id)), None
    # Both rows in one round trip: the team, with its settings and the person's (either may be missing).

    row = db.session.execute(
        select(PersonComplianceSettings, TeamComplianceSettings).select_from(Team)
        .outerjoin(TeamComplianceSettings, TeamComplianceSettings.team_id == Team.id)
        .outerjoin(PersonComplianceSettings, PersonComplianceSettings.user_id == user.id)
        .where(Team.id == team.id)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def home_team(user):
    ms = sorted(getattr(user, "memberships", []) or [], key=lambda m: m.id)
    return ms[0].team if ms else None


def default_rule_set_names(user) -> list[str]:
    return ["TCS2016", "WTR"] if getattr(user, "is_doctor_in_training", False) else ["WTR"]


def trust_overrides() -> tuple[dict[str, str], set[str]]:
    """The trust's configuration: severities it sets (``COMPLIANCE_SEVERITIES``) and rules it switched off
    (``COMPLIANCE_DISABLED_RULES``)."""
    config = current_app.config if has_app_context() else {}
    return dict(config.get("COMPLIANCE_SEVERITIES") or {}), set(config.get("COMPLIANCE_DISABLED_RULES") or ())


def may_see_person(viewer, person) -> bool:
    """A person's working-time checks and settings: themselves, coordinators of one of their teams, administrators."""

    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return False
    if viewer.is_admin or viewer.id == person.id:
        return True
    # One query (is the person on a team the viewer coordinates?) rather than loading both people's memberships.
    managed = select(Membership.team_id).where(Membership.user_id == viewer.id,
                                               Membership.role == TeamRole.coordinator)
    return db.session.scalar(select(Membership.id).where(Membership.user_id == person.id,
                                                         Membership.team_id.in_(managed)).limit(1)) is not None


def today_for(person) -> date:
    """Today's date in the person's home team's zone."""
    team = home_team(person)
    return datetime.now(timeutil.zone(getattr(team, "timezone", None) or timeutil.DEFAULT_ZONE)).date()


def profile_for(user, team=None, *, rule_sets: Iterable[str] | None = None, person_row=None, team_row=None,
                loaded: bool = False) -> Profile:
    """Rule sets for ``user`` (in ``team``, default their first team), with the team's and person's overrides.
    ``rule_sets`` names sets to use instead of the person's own (a coordinator comparing, e.g. ["TCS2016v1"])."""
    team = team if team is not None else home_team(user)
    if not loaded:
        person_row, team_row = _settings(user, team)
    severities, disabled = trust_overrides()
    params: dict = {}
    extra_specs: list = []
    names = None
    if team_row is not None:
        severities.update(team_row.severities or {})
        disabled.update(team_row.disabled_rules or ())
        extra_specs.extend(team_row.extra_rules or ())
        names = team_row.rule_sets or None
        if team_row.weekly_rest_fortnightly:
            params["WTR-weekly"] = {"fortnightly": True}
        if team_row.rota_cycle_weeks:
            for rid in ("TCS-avg48", "TCS-weekend"):
                key = "reference_weeks" if rid == "TCS-avg48" else "cycle_weeks"
                params[rid] = {key: team_row.rota_cycle_weeks}
    opted_out = False
    if person_row is not None:
        opted_out = bool(person_row.wtr_opt_out)
        extra_specs.extend(person_row.extra_rules or ())
        names = person_row.rule_sets or names
    names = list(rule_sets) if rule_sets else (names or default_rule_set_names(user))
    sets = [rules.customise(rules.RULE_SETS[n], severities=severities, disabled=disabled, params=params)
            for n in names if n in rules.RULE_SETS]
    extra = [rules.local_rule(s) for s in extra_specs if isinstance(s, dict) and str(s.get("id", "")).strip()]
    if extra and not rule_sets:
        sets.append(rules.customise(rules.RuleSet("LOCAL", "Local rules", ()), severities=severities,
                                    disabled=disabled, extra=extra))
    return Profile(sets, opted_out, team_row.break_minutes if team_row is not None else None,
                   [s.name for s in sets])


# ------------------------------------------------------------------------------------------- loading shifts


def _rows_query(user_ids, lo: datetime, hi: datetime):

    return (select(Shift.assignee_id, Shift.id, Shift.starts_at, Shift.ends_at, ShiftType.kind, ShiftType.name,
                   Team.timezone)
            .join(Team, Team.id == Shift.team_id)
            .outerjoin(ShiftType, ShiftType.id == Shift.shift_type_id)
            .where(Shift.assignee_id.in_(list(user_ids)), Shift.state != ShiftState.cancelled,
                   Shift.starts_at < hi, Shift.ends_at > lo)
            .order_by(Shift.starts_at))


def _work_shift(sid, starts, ends, kind, name, tz, break_minutes=None) -> WorkShift:
    kind = getattr(kind, "value", kind) or "day"
    return WorkShift(starts, ends, kind=kind, tz=tz or timeutil.DEFAULT_ZONE, name=name or "shift", id=sid or 0,
                     key=sid, break_minutes=break_minutes if (ends - starts) > timedelta(hours=6) else None)


def load_shifts(user_ids, lo: datetime, hi: datetime, *, break_minutes=None) -> dict[int, list[WorkShift]]:
    out: dict[int, list[WorkShift]] = {uid: [] for uid in user_ids}
    for uid, sid, starts, ends, kind, name, tz in db.session.execute(_rows_query(user_ids, lo, hi)):
        out.setdefault(uid, []).append(_work_shift(sid, starts, ends, kind, name, tz, break_minutes))
    return out


def _long_limits(prof: Profile) -> list[tuple[int, float]] | None:
    """The person's reference-period rules (``rules.LONG_CHECKS``) as (seconds, cap): such a rule can only be
    breached if some stretch of that many seconds holds more than ``cap`` seconds of work (when there is no leave in
    it). None when a rule's reach is unknown, so the whole margin must be read."""
    out = []
    for rs in prof.rule_sets:
        for r in rs.rules:
            p = r.params
            if r.check == "average_hours":
                if prof.opted_out and p.get("opt_out_allowed"):
                    continue
                hours = p.get("opted_out_max_avg_hours", p["max_avg_hours"]) if prof.opted_out \
                    else p["max_avg_hours"]
                out.append((p["reference_weeks"] * rules.WEEK, hours * rules.HOUR * p["reference_weeks"]))
            elif r.check == "night_average":
                days = 7 * p["reference_weeks"]
                out.append((days * rules.DAY, p["max_hours_per_24h"] * rules.HOUR * (days - days / 7)))
            elif rules.reach_days(r) is None:
                return None
    return out


def peak_work(user_ids, lo: datetime, hi: datetime, lengths: Iterable[int]) -> dict[int, dict[int, float]]:
    """For each person and each length (seconds), an upper bound on the work inside any window of that length among
    their shifts overlapping [lo, hi): the most work *starting* within length + 24 h (no shift is longer). One lean
    query (start and duration as numbers, computed by the database) and a sliding sum per person."""

    lengths = sorted(set(lengths))
    out: dict[int, dict[int, float]] = {uid: dict.fromkeys(lengths, 0.0) for uid in user_ids}
    if not lengths or not out:
        return out
    if db.session.get_bind().dialect.name == "postgresql":
        return _peak_work_postgresql(out, lo, hi, lengths)
    start = epoch_seconds(Shift.starts_at)
    stmt = (select(Shift.assignee_id, start, epoch_seconds(Shift.ends_at) - start)
            .where(Shift.assignee_id.in_(list(out)), Shift.state != ShiftState.cancelled,
                   Shift.starts_at < hi, Shift.ends_at > lo)
            .order_by(Shift.assignee_id, Shift.starts_at))
    rows: dict[int, list] = {}
    for uid, s, d in db.session.execute(stmt):
        rows.setdefault(uid, []).append((float(s), float(d)))
    for uid, items in rows.items():
        for length in lengths:
            frame, best, total, i = length + rules.DAY, 0.0, 0.0, 0
            for s, d in items:
                total += d
                while items[i][0] <= s - frame:
                    total -= items[i][1]
                    i += 1
                best = max(best, total)
            out[uid][length] = best
    return out


def _peak_work_postgresql(out: dict, lo: datetime, hi: datetime, lengths: list[int]) -> dict:
    """:func:`peak_work` with the sliding sums done by PostgreSQL's window functions: one row per person."""

    sums = ", ".join(
        f"SUM(EXTRACT(EPOCH FROM ends_at - starts_at)) OVER (PARTITION BY assignee_id ORDER BY starts_at "
        f"RANGE BETWEEN INTERVAL '{int(n) + rules.DAY} seconds' PRECEDING AND CURRENT ROW) AS s{i}"
        for i, n in enumerate(lengths))
    peaks = ", ".join(f"MAX(s{i})" for i in range(len(lengths)))
    stmt = text(f"SELECT u, {peaks} FROM (SELECT assignee_id AS u, {sums} FROM shifts "  # noqa: S608 (numbers only)
                "WHERE assignee_id IN :ids AND state != 'cancelled' AND starts_at < :hi AND ends_at > :lo) AS t "
                "GROUP BY u").bindparams(bindparam("ids", expanding=True))
    for uid, *values in db.session.execute(stmt, {"ids": list(out), "lo": lo, "hi": hi}):
        out[uid] = {n: float(v or 0) for n, v in zip(lengths, values, strict=True)}
    return out


def focus_rotas(profiles: dict[int, Profile], added: WorkShift | list[WorkShift], *, break_minutes=None,
                ) -> tuple[dict[int, list[WorkShift]], dict[int, list[LeaveSpan]]]:
    """Each person's shifts and leave around ``added`` (one shift or several), for a focused what-if.

    The reference-period rules (the average week, night work) need ``MARGIN`` either side; but when a person has no
    leave there and their busiest stretch of each rule's length (``peak_work``), plus the new shifts, stays within
    that rule's limit, those rules cannot fire on any slice of their rota, so only the reach of their other rules is
    read (``rules.near_days``: about 10 days for WTR) — the same verdicts from a fraction of the rows."""
    added = added if isinstance(added, list) else [added]
    extra = sum((a.ends_at - a.starts_at).total_seconds() for a in added)
    return rotas_around(profiles, min(a.starts_at for a in added), max(a.ends_at for a in added), extra=extra,
                        break_minutes=break_minutes)


def rotas_around(profiles: dict[int, Profile], first: datetime, last: datetime, *, extra: float = 0.0,
                 break_minutes=None, screen_from: int | None = None,
                 ) -> tuple[dict[int, list[WorkShift]], dict[int, list[LeaveSpan]]]:
    """Each person's shifts and leave that can matter to verdicts about [first, last) (``focus_rotas``' screening):
    the whole ``MARGIN`` either side, or only their short rules' reach when their reference-period rules cannot
    fire even with ``extra`` seconds more work. Three queries (leave, peaks, shifts) whoever is in which group."""
    ids = list(profiles)
    lo, hi = first - MARGIN, last + MARGIN
    leave = load_leave(ids, lo, hi)
    limits = {uid: _long_limits(prof) for uid, prof in profiles.items()}
    reaches = {uid: rules.near_days(prof.rule_sets) + 2 for uid, prof in profiles.items()}
    # Worth screening only if the short rules look less far than the margin (a 26-week weekend cycle does not).
    screen = [uid for uid in ids if limits[uid] is not None and not leave.get(uid)
              and timedelta(days=reaches[uid]) < MARGIN] if len(ids) >= (screen_from or SCREEN_FROM) else []
    peaks = peak_work(screen, lo, hi, {n for uid in screen for n, _ in limits[uid]}) if screen else {}
    by_reach: dict[int, list[int]] = {}
    for uid in ids:
        near = uid in peaks and all(peaks[uid][n] + extra <= cap for n, cap in limits[uid])
        reach = reaches[uid] if near else None
        by_reach.setdefault(reach, []).append(uid)
    spans = []
    for reach, group in by_reach.items():
        margin = MARGIN if reach is None else timedelta(days=reach)
        spans.append((group, first - margin, last + margin))
    return load_shift_spans(spans, break_minutes=break_minutes), leave


def load_shift_spans(spans: list[tuple[list[int], datetime, datetime]], *, break_minutes=None,
                     ) -> dict[int, list[WorkShift]]:
    """``load_shifts`` for several groups of people, each over its own [lo, hi), in one query."""
    if len(spans) == 1:
        return load_shifts(*spans[0], break_minutes=break_minutes)
    stmt = _rows_query([uid for group, _, _ in spans for uid in group], min(lo for _, lo, _ in spans),
                       max(hi for _, _, hi in spans))
    stmt = stmt.where(or_(*(and_(Shift.assignee_id.in_(group), Shift.starts_at < hi, Shift.ends_at > lo)
                            for group, lo, hi in spans)))
    out: dict[int, list[WorkShift]] = {uid: [] for group, _, _ in spans for uid in group}
    for uid, sid, starts, ends, kind, name, tz in db.session.execute(stmt):
        out[uid].append(_work_shift(sid, starts, ends, kind, name, tz, break_minutes))
    return out


def load_leave(user_ids, lo: datetime, hi: datetime) -> dict[int, list[LeaveSpan]]:

    out: dict[int, list[LeaveSpan]] = {uid: [] for uid in user_ids}
    stmt = select(Leave.user_id, Leave.first_day, Leave.last_day).where(
        Leave.user_id.in_(list(user_ids)), Leave.first_day <= (hi + timedelta(days=1)).date(),
        Leave.last_day >= (lo - timedelta(days=1)).date())
    for uid, first, last in db.session.execute(stmt):
        out.setdefault(uid, []).append(LeaveSpan(first, last))
    return out


def _as_work_shift(obj, index: int, team=None, break_minutes=None) -> WorkShift:
    """A Shift, or any shift-like object (starts_at, ends_at, team/shift_type optional), as the rules see it."""
    st = getattr(obj, "shift_type", None)
    t = getattr(obj, "team", None) or (getattr(st, "team", None) if st is not None else None) or team
    sid = getattr(obj, "id", None) or 0
    kind = getattr(obj, "kind", None) or (getattr(st, "kind", None) if st is not None else None) or "day"
    name = getattr(obj, "name", None) or (getattr(st, "name", None) if st is not None else None) or "new shift"
    ws = _work_shift(sid, obj.starts_at, obj.ends_at, kind, name, getattr(t, "timezone", None), break_minutes)
    return ws if sid else replace(ws, key=("new", index))


def _ident(obj):
    return obj if isinstance(obj, int) else getattr(obj, "id", None)


def verdicts_for_change(user, *, add=(), remove=(), rule_sets=None) -> list[Verdict]:
    """Verdicts for ``user``'s rota if ``add`` (Shift objects or shift-like objects with starts_at/ends_at/team/
    shift_type) were added and ``remove`` (Shift objects or ids) taken away. Changes nothing. Only verdicts that
    involve an added shift are returned (pre-existing problems are not blamed on the change)."""
    return check_change(user, add=add, remove=remove, rule_sets=rule_sets)[1]


def verdicts_for_shifts(user, shifts) -> dict[int, list[Verdict]]:
    """``verdicts_for_change(user, add=(shift,))`` for each of ``shifts`` on its own (the open-shifts page): one
    profile per team and one read of the person's rota and leave for them all, each shift then judged on exactly the
    rows ``check_change`` would have read for it."""
    shifts = list(shifts)
    if not shifts:
        return {}
    teams = {getattr(getattr(s, "team", None), "id", None): getattr(s, "team", None) for s in shifts}
    # Every team's settings row and the person's in one round trip (not one per team).
    rows = {tid: (person, team_row) for tid, person, team_row in db.session.execute(
        select(Team.id, PersonComplianceSettings, TeamComplianceSettings).select_from(Team)
        .outerjoin(TeamComplianceSettings, TeamComplianceSettings.team_id == Team.id)
        .outerjoin(PersonComplianceSettings, PersonComplianceSettings.user_id == user.id)
        .where(Team.id.in_([tid for tid in teams if tid is not None])))} if any(t is not None for t in teams) else {}
    profiles: dict = {}
    for tid, team in teams.items():
        if tid is None:
            profiles[tid] = profile_for(user, team)
        else:
            person_row, team_row = rows.get(tid, (None, None))
            profiles[tid] = profile_for(user, team, person_row=person_row, team_row=team_row, loaded=True)
    lo = min(s.starts_at for s in shifts) - MARGIN
    hi = max(s.ends_at for s in shifts) + MARGIN
    rows = db.session.execute(_rows_query([user.id], lo, hi)).all()
    spans = load_leave([user.id], lo, hi)[user.id]
    built: dict = {}  # break minutes -> the rows as WorkShifts (a team's break setting shapes them)
    out = {}
    for shift in shifts:
        team = getattr(shift, "team", None)
        prof = profiles[getattr(team, "id", None)]
        brk = prof.break_minutes
        if brk not in built:
            built[brk] = [_work_shift(sid, a, b, kind, name, tz, brk) for _, sid, a, b, kind, name, tz in rows]
        added = _as_work_shift(shift, 0, team, brk)
        first, last = added.starts_at - MARGIN, added.ends_at + MARGIN
        current = [s for s in built[brk] if s.starts_at < last and s.ends_at > first and s.id != added.id]
        leave = [lv for lv in spans if lv.first_day <= (last + timedelta(days=1)).date()
                 and lv.last_day >= (first - timedelta(days=1)).date()]
        out[shift.id] = rules.evaluate([*current, added], prof.rule_sets, leave=leave, opted_out=prof.opted_out,
                                       focus=[added.identity])
    return out


def check_change(user, *, add=(), remove=(), rule_sets=None) -> tuple[Profile | None, list[Verdict]]:
    """:func:`verdicts_for_change`, also returning the rules that were applied."""
    add = list(add)
    if not add:
        return None, []
    team = getattr(add[0], "team", None)
    prof = profile_for(user, team, rule_sets=rule_sets)
    added = [_as_work_shift(obj, i, team, prof.break_minutes) for i, obj in enumerate(add)]
    gone = {_ident(r) for r in remove} - {None}
    added_ids = {s.id for s in added if s.id}
    rotas, leaves = focus_rotas({user.id: prof}, added, break_minutes=prof.break_minutes)
    current = [s for s in rotas[user.id] if s.id not in gone and s.id not in added_ids]
    leave = leaves[user.id]
    return prof, rules.evaluate([*current, *added], prof.rule_sets, leave=leave, opted_out=prof.opted_out,
                                focus=[s.identity for s in added])


def verdicts_between(user, first_day: date, last_day: date, *, rule_sets=None, team=None) -> tuple[Profile, list]:
    """Verdicts over ``user``'s real shifts that start between two local days (inclusive)."""
    prof = profile_for(user, team, rule_sets=rule_sets)
    tz = _zone_name(team or home_team(user))
    lo, hi = timeutil.day_bounds(first_day, last_day, tz)
    shifts = load_shifts([user.id], lo - MARGIN, hi + MARGIN, break_minutes=prof.break_minutes)[user.id]
    leave = load_leave([user.id], lo - MARGIN, hi + MARGIN)[user.id]
    inside = [s.identity for s in shifts if lo <= s.starts_at < hi]
    return prof, rules.evaluate(shifts, prof.rule_sets, leave=leave, opted_out=prof.opted_out, focus=inside)


def position_between(user, first_day: date, last_day: date, *, rule_sets=None, team=None) -> rules.Position:
    """The person's working-time position between two local days (inclusive): the rules engine's numbers, each with
    its limit, and hours per local week (``rules.position``), over their real shifts and leave."""
    prof = profile_for(user, team, rule_sets=rule_sets)
    tz = _zone_name(team or home_team(user))
    lo, hi = timeutil.day_bounds(first_day, last_day, tz)
    shifts = load_shifts([user.id], lo - MARGIN, hi + MARGIN, break_minutes=prof.break_minutes)[user.id]
    leave = load_leave([user.id], lo - MARGIN, hi + MARGIN)[user.id]
    return rules.position(shifts, prof.rule_sets, first_day=first_day, last_day=last_day, tz=tz, leave=leave,
                          opted_out=prof.opted_out)


def _zone_name(team) -> str:
    return getattr(team, "timezone", None) or timeutil.DEFAULT_ZONE


def profiles_for(users, team, *, rule_sets=None) -> tuple[dict[int, Profile], int | None]:
    """Everyone's rule profile in ``team`` with two queries (their own settings rows, the team's), and the team's
    rostered break. Without a person's own settings a profile depends only on their staff group, so it is shared."""

    persons = {p.user_id: p for p in db.session.scalars(
        select(PersonComplianceSettings).where(PersonComplianceSettings.user_id.in_([u.id for u in users])))}
    team_row = None
    if team is not None:
        team_row = db.session.scalar(select(TeamComplianceSettings).where(TeamComplianceSettings.team_id == team.id))
    shared: dict[tuple, Profile] = {}

    def profile(user) -> Profile:
        row = persons.get(user.id)
        if row is not None or team is None:  # no team: each person's home team decides
            return profile_for(user, team, rule_sets=rule_sets, person_row=row, team_row=team_row, loaded=True)
        key = tuple(default_rule_set_names(user))
        if key not in shared:
            shared[key] = profile_for(user, team, rule_sets=rule_sets, team_row=team_row, loaded=True)
        return shared[key]

    return {u.id: profile(u) for u in users}, (team_row.break_minutes if team_row is not None else None)


def verdicts_for_people(user_ids, lo: datetime, hi: datetime, *, team=None) -> dict[int, list[Verdict]]:
    """Bulk: every person's verdicts involving their shifts that start in [lo, hi) — two queries for the shifts and
    leave of everyone, then the pure engine per person."""

    user_ids = list(user_ids)
    if not user_ids:
        return {}
    users = list(db.session.scalars(select(User).where(User.id.in_(user_ids))))
    profiles, brk = profiles_for(users, team)
    found = [uid for uid in user_ids if uid in profiles]
    # The focus is the shifts starting in [lo, hi); they end at most a day later. Only people whose reference-period
    # rules could fire somewhere have their whole margin read (``rotas_around``).
    shifts, leave = rotas_around({uid: profiles[uid] for uid in found}, lo, hi + timedelta(days=1),
                                 break_minutes=brk, screen_from=1)
    out = {}
    for uid in found:
        prof, mine = profiles[uid], shifts.get(uid, [])
        out[uid] = rules.evaluate(mine, prof.rule_sets, leave=leave.get(uid, []), opted_out=prof.opted_out,
                                  focus=[s.identity for s in mine if lo <= s.starts_at < hi])
    return out


def verdicts_for_candidates(shift, users, *, giving_up: dict | None = None, rule_sets=None) -> dict[int, list]:
    """Bulk what-if for eligibility and broadcasts: for each user, the verdicts if they took ``shift`` (and gave up
    ``giving_up[user.id]``). Same answers as :func:`verdicts_for_change` per user, with a fixed handful of queries
    for everyone."""
    users = list(users)
    if not users:
        return {}
    giving_up = giving_up or {}
    team = getattr(shift, "team", None)
    profiles, brk = profiles_for(users, team, rule_sets=rule_sets)
    added = _as_work_shift(shift, 0, team, brk)
    rotas, leave = focus_rotas(profiles, added, break_minutes=brk)
    out = {}
    for user in users:
        prof = profiles[user.id]
        gone = {_ident(r) for r in giving_up.get(user.id, ())} - {None}
        mine = [s for s in rotas.get(user.id, []) if s.id not in gone and s.id != added.id]
        out[user.id] = rules.evaluate([*mine, added], prof.rule_sets, leave=leave.get(user.id, []),
                                      opted_out=prof.opted_out, focus=[added.identity])
    return out


# --------------------------------------------------------------------------------------------------- hooks


def verdict_json(v: Verdict) -> dict:
    d = v.as_dict()
    d["starts_at"] = v.starts_at.isoformat() if v.starts_at else None
    return d


def check_assignment(shift, user, *, actor, override_reason=None, exclude_ids=(), **_ignored) -> list[Verdict]:
    """``rota.assignment.CHANGE_CHECKS`` hook: refuse a blocking breach unless a coordinator overrides with a reason."""
    verdicts = verdicts_for_change(user, add=[shift], remove=list(exclude_ids or ()))
    try:
        shift.compliance_verdicts = verdicts  # for the caller to show (warnings, overridden rules)
    except AttributeError:
        pass
    if not verdicts:
        return verdicts
    blocking = [v for v in verdicts if v.blocking]
    warnings = [v for v in verdicts if not v.blocking]
    reason = clean_reason(override_reason)
    team = shift.team
    summary = {"user_id": user.id, "shift_id": shift.id}
    if blocking:
        if not reason:
            assignment.hold_refusal(shift, user, blocking, actor=actor)
            first = blocking[0].message
            more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
            raise RuleViolation(
                f"{user.display_name} cannot take this shift: {first}{more}",
                errors={"working_time": [v.message for v in blocking]},
                extra={"code": "working_time", "verdicts": [verdict_json(v) for v in verdicts],
                       "overridable": bool(team is not None and team.can_manage(actor))})
        if team is None or not team.can_manage(actor):
            raise Forbidden("Only a coordinator of this team can override a working-time rule.",
                            extra={"code": "override_not_allowed",
                                   "verdicts": [verdict_json(v) for v in verdicts]})
        audit.record("compliance.overridden", actor=actor, entity=shift,
                     summary={**summary, "rule_ids": ",".join(sorted({v.rule_id for v in blocking})),
                              "reason": reason})
    if warnings:
        audit.record("compliance.warned", actor=actor, entity=shift,
                     summary={**summary, "rule_ids": ",".join(sorted({v.rule_id for v in warnings}))})
    return verdicts


def publish_report(period, shifts) -> dict:
    """``rota.services.PUBLISH_CHECKS`` hook: a compliance report per person for the period (it never blocks)."""
    people = sorted({s.assignee_id for s in shifts if getattr(s, "assignee_id", None)})
    if not people:
        return {"compliance": []}
    lo, hi = timeutil.day_bounds(period.first_day, period.last_day, _zone_name(period.team))
    by_person = verdicts_for_people(people, lo, hi, team=period.team)
    report = []
    for uid in people:
        vs = by_person.get(uid, [])
        report.append({"user_id": uid, "blocking": sum(v.blocking for v in vs),
                       "warnings": sum(not v.blocking for v in vs), "verdicts": [verdict_json(v) for v in vs]})
    audit.record("compliance.publish_report", entity=period, team_id=period.team_id,
                 summary={"people": len(report), "with_blocking": sum(1 for r in report if r["blocking"]),
                          "with_warnings": sum(1 for r in report if r["warnings"])})
    return {"compliance": report}


def grid_markers(team, cells) -> None:
    """``rota.services.GRID_CELL_HOOKS`` hook: mark each cell whose shifts break a rule ("⚠ TCS-72in168")."""
    cells = [c for c in cells if getattr(c, "user", None) is not None and getattr(c, "shifts", None)]
    if not cells:
        return
    starts = [s.starts_at for c in cells for s in c.shifts]
    ends = [s.ends_at for c in cells for s in c.shifts]
    by_person = verdicts_for_people({c.user.id for c in cells}, min(starts), max(ends), team=team)
    for c in cells:
        ids = {s.id for s in c.shifts}
        seen = []
        for v in by_person.get(c.user.id, []):
            if ids.intersection(v.shift_ids):
                label = ("⛔ " if v.blocking else "⚠ ") + v.rule_id
                if label not in seen:
                    seen.append(label)
        c.markers.extend(seen)


@dataclass(frozen=True)
class TeamRow:
    """One team member's working time over a period, for the coordinator's team report."""

    user: object
    worked: float  # hours of work inside the period (rules engine, real elapsed time)
    average: rules.Measure | None  # the average-week measure with its limit, None if no average-week rule applies
    blocking: int
    warnings: int

    @property
    def problems(self) -> int:
        return self.blocking + self.warnings

    @property
    def status(self) -> str:
        if not self.problems:
            return "within limits"
        return "1 problem" if self.problems == 1 else f"{self.problems} problems"


def team_working_time(team, first_day: date, last_day: date) -> list[TeamRow]:
    """Every member of ``team``: hours worked, average week against its limit, blocking and warning verdicts between
    two local days (inclusive), in the team's zone. The worst first (most blocking, then warnings, then hours).
    A fixed number of queries whatever the team's size (members, settings, shifts, leave), then the rules engine."""
    users = list(db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                    .where(Membership.team_id == team.id)))
    ids = [u.id for u in users]
    profiles, break_minutes = profiles_for(users, team)
    tz = _zone_name(team)
    lo, hi = timeutil.day_bounds(first_day, last_day, tz)
    shifts = load_shifts(ids, lo - MARGIN, hi + MARGIN, break_minutes=break_minutes)
    leaves = load_leave(ids, lo - MARGIN, hi + MARGIN)
    rows = []
    for person in users:
        prof, mine, leave = profiles[person.id], shifts[person.id], leaves[person.id]
        inside = [s.identity for s in mine if lo <= s.starts_at < hi]
        verdicts = rules.evaluate(mine, prof.rule_sets, leave=leave, opted_out=prof.opted_out, focus=inside)
        pos = rules.position(mine, prof.rule_sets, first_day=first_day, last_day=last_day, tz=tz, leave=leave,
                             opted_out=prof.opted_out)
        avg = next((x for x in pos.measures if x.title == "Average week"), None)
        rows.append(TeamRow(person, pos.worked, avg, sum(v.blocking for v in verdicts),
                            sum(not v.blocking for v in verdicts)))
    rows.sort(key=lambda r: (-r.blocking, -r.warnings, -r.worked, r.user.display_name))
    return rows
