"""A team's working time over a period: everyone's verdicts in bulk, the coordinator's team report, and the hooks
that mark the rota grid and report on a period when it is published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from core import audit, timeutil
from core.accounts import Membership, User
from core.db import db
from core.kept import kept
from rota import services
from rota.compliance import rules
from rota.compliance.profiles import profiles_for, zone_name
from rota.compliance.rotas import MARGIN, load_leave, load_shifts, screened_rotas
from rota.compliance.rules import Verdict
from rota.compliance.verdicts import verdict_json


def verdicts_for_people(user_ids, lo: datetime, hi: datetime, *, team=None) -> dict[int, list[Verdict]]:
    """Bulk: every person's verdicts involving their shifts that start in [lo, hi) — two queries for the shifts and
    leave of everyone, then the pure engine per person."""

    user_ids = list(user_ids)
    if not user_ids:
        return {}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    return _judge(*_profiles(users, user_ids, team), lo, hi)


def _profiles(users: dict, user_ids: list[int], team) -> tuple[dict, int | None]:
    profiles, brk = profiles_for([users[uid] for uid in user_ids if uid in users], team)
    return {uid: profiles[uid] for uid in user_ids if uid in profiles}, brk


def _judge(profiles: dict, brk: int | None, lo: datetime, hi: datetime) -> dict[int, list[Verdict]]:
    # The focus is the shifts starting in [lo, hi); they end at most a day later. Only people whose reference-period
    # rules could fire somewhere have their whole margin read (``rotas_around``).
    shifts, leave, near = screened_rotas(profiles, lo, hi + timedelta(days=1), break_minutes=brk, screen_from=1)
    out = {}
    for uid, prof in profiles.items():
        mine = shifts.get(uid, [])
        out[uid] = rules.evaluate(mine, prof.rule_sets, leave=leave.get(uid, []), opted_out=prof.opted_out,
                                  focus=[s.identity for s in mine if lo <= s.starts_at < hi],
                                  skip=rules.LONG_CHECKS if uid in near else ())
    return out


GRID_MARKER_ENTRIES = 256  # grid pages whose verdicts each process keeps (a few KB each)


def grid_verdicts(people: dict, lo: datetime, hi: datetime, team) -> dict[int, list[Verdict]]:
    """:func:`verdicts_for_people` for a grid page, kept per process under what they are worked out from: the
    change stamps of every team whose writes can change those people's rota within the rules' margin
    (``rota.services.PEOPLE_STAMPS``: their shifts in any team, their leave, shift types, zones), their rule profiles
    as read now (settings, opt-out, staff group and grade, trust severities) and the team's break. A grid opened again
    with nothing changed is marked without reading or judging anyone's shifts; any such change is a new entry.
    ``people``: id -> the person as the grid read them (their staff group and grade decide which rules apply).

    The stamps are read before the rows: a write committed in between is then judged under the older stamps, which
    no later request reads again (stamps only move on), never the other way round."""
    user_ids = sorted(people)
    if not user_ids:
        return {}
    day = timedelta(days=1)  # _judge reads shifts overlapping [lo - MARGIN, hi + day + MARGIN); none is longer
    stamps = services.PEOPLE_STAMPS[-1](user_ids, lo - MARGIN - day, hi + day + MARGIN) \
        if services.PEOPLE_STAMPS else None
    profiles, brk = _profiles(people, user_ids, team)
    if stamps is None:
        return _judge(profiles, brk, lo, hi)
    texts: dict[int, str] = {}  # shared profiles are written out once
    for prof in profiles.values():
        if id(prof) not in texts:
            texts[id(prof)] = repr((prof.rule_sets, prof.opted_out))
    key = (getattr(team, "id", None), lo, hi, tuple(user_ids))
    inputs = (stamps, brk, tuple((uid, texts[id(prof)]) for uid, prof in profiles.items()))
    return kept("grid_marker_verdicts", key, inputs, lambda: _judge(profiles, brk, lo, hi), GRID_MARKER_ENTRIES)


def publish_report(period, shifts) -> dict:
    """``rota.services.PUBLISH_CHECKS`` hook: a compliance report per person for the period (it never blocks)."""
    people = sorted({s.assignee_id for s in shifts if getattr(s, "assignee_id", None)})
    if not people:
        return {"compliance": []}
    lo, hi = timeutil.day_bounds(period.first_day, period.last_day, zone_name(period.team))
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
    by_person = grid_verdicts({c.user.id: c.user for c in cells}, min(starts), max(ends), team)
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
    tz = zone_name(team)
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
