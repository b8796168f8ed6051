"""A person's working-time position between two local days: the rules engine's numbers with their limits, and the
verdicts over their real shifts (the position page and its API)."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from core import timeutil
from rota.compliance import rules
from rota.compliance.profiles import Profile, home_team, profile_for, zone_name
from rota.compliance.rotas import MARGIN, load_leave, load_shifts


class RealRota(NamedTuple):
    """A person's profile, zone, the period's UTC bounds, and their shifts and leave within ``MARGIN`` of it."""

    profile: Profile
    tz: str
    lo: datetime
    hi: datetime
    shifts: list
    leave: list


def _real_rota(user, first_day: date, last_day: date, rule_sets, team) -> RealRota:
    prof = profile_for(user, team, rule_sets=rule_sets)
    tz = zone_name(team or home_team(user))
    lo, hi = timeutil.day_bounds(first_day, last_day, tz)
    shifts = load_shifts([user.id], lo - MARGIN, hi + MARGIN, break_minutes=prof.break_minutes)[user.id]
    leave = load_leave([user.id], lo - MARGIN, hi + MARGIN)[user.id]
    return RealRota(prof, tz, lo, hi, shifts, leave)


def verdicts_between(user, first_day: date, last_day: date, *, rule_sets=None, team=None) -> tuple[Profile, list]:
    """Verdicts over ``user``'s real shifts that start between two local days (inclusive)."""
    r = _real_rota(user, first_day, last_day, rule_sets, team)
    inside = [s.identity for s in r.shifts if r.lo <= s.starts_at < r.hi]
    return r.profile, rules.evaluate(r.shifts, r.profile.rule_sets, leave=r.leave, opted_out=r.profile.opted_out,
                                     focus=inside)


def position_between(user, first_day: date, last_day: date, *, rule_sets=None, team=None) -> rules.Position:
    """The person's working-time position between two local days (inclusive): the rules engine's numbers, each with
    its limit, and hours per local week (``rules.position``), over their real shifts and leave."""
    r = _real_rota(user, first_day, last_day, rule_sets, team)
    return rules.position(r.shifts, r.profile.rule_sets, first_day=first_day, last_day=last_day, tz=r.tz,
                          leave=r.leave, opted_out=r.profile.opted_out)
