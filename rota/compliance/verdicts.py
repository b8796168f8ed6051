"""What-if checks: the verdicts if a person took a proposed shift (or several, giving others up), and the hook that
makes every assignment go through the engine.

Other modules call :func:`verdicts_for_change` for what-if checks (swaps, claims, eligibility) and rely on
:func:`check_assignment` being registered in ``rota.assignment.CHANGE_CHECKS`` so every assignment is checked.
Nothing here changes the rota."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import bindparam, select

from core import audit
from core.accounts import Team
from core.db import db
from core.errors import Forbidden, RuleViolation
from rota import assignment
from rota.assignment import clean_reason
from rota.compliance import rules
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from rota.compliance.profiles import Profile, profile_for, profiles_for
from rota.compliance.rotas import (
    MARGIN,
    as_work_shift,
    focus_rotas,
    load_leave,
    person_rows,
    short_reach,
    work_shift,
)
from rota.compliance.rules import Verdict


def _ident(obj):
    return obj if isinstance(obj, int) else getattr(obj, "id", None)


def verdicts_for_change(user, *, add=(), remove=(), rule_sets=None) -> list[Verdict]:
    """Verdicts for ``user``'s rota if ``add`` (Shift objects or shift-like objects with starts_at/ends_at/team/
    shift_type) were added and ``remove`` (Shift objects or ids) taken away. Changes nothing. Only verdicts that
    involve an added shift are returned (pre-existing problems are not blamed on the change)."""
    return check_change(user, add=add, remove=remove, rule_sets=rule_sets)[1]


def check_change(user, *, add=(), remove=(), rule_sets=None) -> tuple[Profile | None, list[Verdict]]:
    """:func:`verdicts_for_change`, also returning the rules that were applied."""
    add = list(add)
    if not add:
        return None, []
    team = getattr(add[0], "team", None)
    prof = profile_for(user, team, rule_sets=rule_sets)
    added = [as_work_shift(obj, i, team, prof.break_minutes) for i, obj in enumerate(add)]
    gone = {_ident(r) for r in remove} - {None}
    added_ids = {s.id for s in added if s.id}
    rotas, leaves = focus_rotas({user.id: prof}, added, break_minutes=prof.break_minutes)
    current = [s for s in rotas[user.id] if s.id not in gone and s.id not in added_ids]
    leave = leaves[user.id]
    return prof, rules.evaluate([*current, *added], prof.rule_sets, leave=leave, opted_out=prof.opted_out,
                                focus=[s.identity for s in added])


@cache
def _settings_rows():
    """Each team's compliance settings row beside the person's, for several teams in one statement, built once."""
    return (select(Team.id, PersonComplianceSettings, TeamComplianceSettings).select_from(Team)
            .outerjoin(TeamComplianceSettings, TeamComplianceSettings.team_id == Team.id)
            .outerjoin(PersonComplianceSettings, PersonComplianceSettings.user_id == bindparam("user_id"))
            .where(Team.id.in_(bindparam("team_ids", expanding=True))))


def rota_span(shifts) -> tuple[datetime, datetime]:
    """The stretch of a person's rota that :func:`verdicts_for_shifts` needs for ``shifts``: each one's margin."""
    return min(s.starts_at for s in shifts) - MARGIN, max(s.ends_at for s in shifts) + MARGIN


def verdicts_for_shifts(user, shifts, *, rows=None, leave=None, settings=None) -> dict[int, list[Verdict]]:
    """``verdicts_for_change(user, add=(shift,))`` for each of ``shifts`` on its own (the open-shifts page): one
    profile per team and one read of the person's rota and leave for them all, each shift then judged on exactly the
    rows ``check_change`` would have read for it. ``rows`` (``rotas.person_rows``) and ``leave`` (``LeaveSpan``s):
    the person's rota and leave when the caller has read them already, over at least ``rota_span(shifts)``;
    ``settings``: {team id: (the person's ``PersonComplianceSettings`` row, the team's ``TeamComplianceSettings``
    row), None where there is none} for every team of ``shifts``, when the caller read them with the shifts."""
    shifts = list(shifts)
    if not shifts:
        return {}
    teams = {getattr(getattr(s, "team", None), "id", None): getattr(s, "team", None) for s in shifts}
    team_ids = [tid for tid in teams if tid is not None]
    if settings is None:  # every team's settings row and the person's in one round trip (not one per team)
        settings = {tid: (person, team_row) for tid, person, team_row in db.session.execute(
            _settings_rows(), {"user_id": user.id, "team_ids": team_ids})} if team_ids else {}
    profiles: dict = {}
    for tid, team in teams.items():
        if tid is None:
            profiles[tid] = profile_for(user, team)
        else:
            person_row, team_row = settings.get(tid, (None, None))
            profiles[tid] = profile_for(user, team, person_row=person_row, team_row=team_row, loaded=True)
    if rows is None or leave is None:
        lo, hi = rota_span(shifts)
        rows = person_rows(user.id, lo, hi) if rows is None else rows
        leave = load_leave([user.id], lo, hi)[user.id] if leave is None else leave
    built: dict = {}  # break minutes -> the rows as WorkShifts (a team's break setting shapes them)
    work = [(a.timestamp(), (b - a).total_seconds()) for _, _, a, b, *_ in rows]  # in start order
    screened: dict = {}
    prepared: dict = {}  # the rows as the engine prepares them, once for every shift judged
    out = {}
    for shift in shifts:
        team = getattr(shift, "team", None)
        prof = profiles[getattr(team, "id", None)]
        brk = prof.break_minutes
        if brk not in built:
            built[brk] = [work_shift(sid, a, b, kind, name, tz, brk) for _, sid, a, b, kind, name, tz in rows]
        added = as_work_shift(shift, 0, team, brk)
        first, last = added.starts_at - MARGIN, added.ends_at + MARGIN
        near = [lv for lv in leave if lv.first_day <= (last + timedelta(days=1)).date()
                and lv.last_day >= (first - timedelta(days=1)).date()]
        reach = None if near else short_reach(prof, work, (added.ends_at - added.starts_at).total_seconds(),
                                              screened)
        if reach is not None:  # the reference-period rules cannot fire: only the short rules' reach is judged
            first, last = added.starts_at - reach, added.ends_at + reach
        current = [s for s in built[brk] if s.starts_at < last and s.ends_at > first and s.id != added.id]
        out[shift.id] = rules.evaluate([*current, added], prof.rule_sets, leave=near, opted_out=prof.opted_out,
                                       focus=[added.identity], skip=rules.LONG_CHECKS if reach is not None else (),
                                       prepared=prepared)
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
    added = as_work_shift(shift, 0, team, brk)
    rotas, leave = focus_rotas(profiles, added, break_minutes=brk)
    out = {}
    for user in users:
        prof = profiles[user.id]
        gone = {_ident(r) for r in giving_up.get(user.id, ())} - {None}
        mine = [s for s in rotas.get(user.id, []) if s.id not in gone and s.id != added.id]
        out[user.id] = rules.evaluate([*mine, added], prof.rule_sets, leave=leave.get(user.id, []),
                                      opted_out=prof.opted_out, focus=[added.identity])
    return out


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
