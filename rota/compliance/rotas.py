"""A person's real rota as the rules engine sees it: their shifts (as ``WorkShift``) and leave around a change or a
period, read with as few rows as the verdicts need (``focus_rotas``, ``rotas_around``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import and_, bindparam, or_, select, text

from core import timeutil
from core.accounts import Team
from core.db import db, epoch_seconds
from rota.compliance import rules
from rota.compliance.profiles import Profile
from rota.compliance.rules import LeaveSpan, WorkShift
from rota.models import Leave, Shift, ShiftKind, ShiftState, ShiftType

# How far either side of a change the real rota is read: the longest reference period plus a week.
MARGIN = timedelta(weeks=27)
# Below this many people, reading each whole margin is cheaper than the extra screening query (see focus_rotas).
SCREEN_FROM = 8


def shift_rows_query(user_ids, lo: datetime, hi: datetime):
    return _shift_rows(Shift.assignee_id.in_(list(user_ids)), lo, hi)


def _shift_rows(who, lo, hi):
    """(assignee, id, start, end, kind, type name, zone) of the shifts ``who`` picks that overlap [lo, hi)."""
    return (select(Shift.assignee_id, Shift.id, Shift.starts_at, Shift.ends_at, ShiftType.kind, ShiftType.name,
                   Team.timezone)
            .join(Team, Team.id == Shift.team_id)
            .outerjoin(ShiftType, ShiftType.id == Shift.shift_type_id)
            .where(who, Shift.state != ShiftState.cancelled, Shift.starts_at < hi, Shift.ends_at > lo)
            .order_by(Shift.starts_at))


@cache
def _persons_rows():
    """``shift_rows_query`` of one person, built once (building it cost about as much as running it)."""
    return _shift_rows(Shift.assignee_id == bindparam("user_id"), bindparam("lo"), bindparam("hi"))


def person_rows(user_id: int, lo: datetime, hi: datetime) -> list:
    """One person's rows of ``shift_rows_query`` over [lo, hi), in start order."""
    return db.session.execute(_persons_rows(), {"user_id": user_id, "lo": lo, "hi": hi}).all()


_SIX_HOURS = timedelta(hours=6)
_KIND_VALUES = {k: k.value for k in ShiftKind}  # an enum's ``.value`` is a descriptor call: looked up once


def work_shift(sid, starts, ends, kind, name, tz, break_minutes=None) -> WorkShift:
    kind = _KIND_VALUES.get(kind) or getattr(kind, "value", kind) or "day"
    return WorkShift(starts, ends, kind=kind, tz=tz or timeutil.DEFAULT_ZONE, name=name or "shift", id=sid or 0,
                     key=sid, break_minutes=break_minutes if (ends - starts) > _SIX_HOURS else None)


def as_work_shift(obj, index: int, team=None, break_minutes=None) -> WorkShift:
    """A Shift, or any shift-like object (starts_at, ends_at, team/shift_type optional), as the rules see it."""
    st = getattr(obj, "shift_type", None)
    t = getattr(obj, "team", None) or (getattr(st, "team", None) if st is not None else None) or team
    sid = getattr(obj, "id", None) or 0
    kind = getattr(obj, "kind", None) or (getattr(st, "kind", None) if st is not None else None) or "day"
    name = getattr(obj, "name", None) or (getattr(st, "name", None) if st is not None else None) or "new shift"
    ws = work_shift(sid, obj.starts_at, obj.ends_at, kind, name, getattr(t, "timezone", None), break_minutes)
    return ws if sid else replace(ws, key=("new", index))


@cache
def _peoples_rows():
    """``shift_rows_query`` of several people, built once and run with their ids (an expanding parameter)."""
    return _shift_rows(Shift.assignee_id.in_(bindparam("user_ids", expanding=True)), bindparam("lo"), bindparam("hi"))


def load_shifts(user_ids, lo: datetime, hi: datetime, *, break_minutes=None) -> dict[int, list[WorkShift]]:
    out: dict[int, list[WorkShift]] = {uid: [] for uid in user_ids}
    rows = db.session.execute(_peoples_rows(), {"user_ids": list(out), "lo": lo, "hi": hi})
    for uid, sid, starts, ends, kind, name, tz in rows:
        out.setdefault(uid, []).append(work_shift(sid, starts, ends, kind, name, tz, break_minutes))
    return out


@cache
def _peoples_leave():
    """Built once: the leave of several people that touches a span of days (a day either side)."""
    return select(Leave.user_id, Leave.first_day, Leave.last_day).where(
        Leave.user_id.in_(bindparam("user_ids", expanding=True)), Leave.first_day <= bindparam("last_day"),
        Leave.last_day >= bindparam("first_day"))


def load_leave(user_ids, lo: datetime, hi: datetime) -> dict[int, list[LeaveSpan]]:
    out: dict[int, list[LeaveSpan]] = {uid: [] for uid in user_ids}
    rows = db.session.execute(_peoples_leave(), {"user_ids": list(out), "last_day": (hi + timedelta(days=1)).date(),
                                                 "first_day": (lo - timedelta(days=1)).date()})
    for uid, first, last in rows:
        out.setdefault(uid, []).append(LeaveSpan(first, last))
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
        out[uid] = sliding_peaks(items, lengths)
    return out


def sliding_peaks(items: list[tuple[float, float]], lengths: Iterable[int]) -> dict[int, float]:
    """``peak_work`` of one person from their (start epoch seconds, duration seconds) in start order."""
    out = {}
    for length in lengths:
        frame, best, total, i = length + rules.DAY, 0.0, 0.0, 0
        for s, d in items:
            total += d
            while items[i][0] <= s - frame:
                total -= items[i][1]
                i += 1
            best = max(best, total)
        out[length] = best
    return out


def short_reach(prof: Profile, work: list[tuple[float, float]], extra: float, screened: dict) -> timedelta | None:
    """``screened_rotas``' screening over rows already read (``work``: a person's shifts as (start epoch seconds,
    duration seconds) in start order, over a span covering the change's margin, so its peaks are upper bounds): the
    short rules' reach when their busiest stretch of each reference-period rule's length, plus ``extra`` seconds,
    stays within that rule's limit; else None. ``screened`` keeps each profile's limits and peaks between calls."""
    if id(prof) not in screened:
        limits = _long_limits(prof)
        reach = timedelta(days=rules.near_days(prof.rule_sets) + 2)
        screened[id(prof)] = None if limits is None or reach >= MARGIN else (
            reach, limits, sliding_peaks(work, {n for n, _ in limits}))
    got = screened[id(prof)]
    if got is None:
        return None
    reach, limits, peaks = got
    return reach if all(peaks[n] + extra <= cap for n, cap in limits) else None


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
    shifts, leave, _ = screened_rotas(profiles, first, last, extra=extra, break_minutes=break_minutes,
                                      screen_from=screen_from)
    return shifts, leave


def screened_rotas(profiles: dict[int, Profile], first: datetime, last: datetime, *, extra: float = 0.0,
                   break_minutes=None, screen_from: int | None = None,
                   ) -> tuple[dict[int, list[WorkShift]], dict[int, list[LeaveSpan]], set[int]]:
    """:func:`rotas_around`, also giving the people whose reference-period rules (``rules.LONG_CHECKS``) were found
    unable to fire: the engine need not run those rules for them (``rules.evaluate``'s ``skip``)."""
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
    near = {uid for reach, group in by_reach.items() if reach is not None for uid in group}
    return load_shift_spans(spans, break_minutes=break_minutes), leave, near


def load_shift_spans(spans: list[tuple[list[int], datetime, datetime]], *, break_minutes=None,
                     ) -> dict[int, list[WorkShift]]:
    """``load_shifts`` for several groups of people, each over its own [lo, hi), in one query."""
    if len(spans) == 1:
        return load_shifts(*spans[0], break_minutes=break_minutes)
    stmt = shift_rows_query([uid for group, _, _ in spans for uid in group], min(lo for _, lo, _ in spans),
                       max(hi for _, _, hi in spans))
    stmt = stmt.where(or_(*(and_(Shift.assignee_id.in_(group), Shift.starts_at < hi, Shift.ends_at > lo)
                            for group, lo, hi in spans)))
    out: dict[int, list[WorkShift]] = {uid: [] for group, _, _ in spans for uid in group}
    for uid, sid, starts, ends, kind, name, tz in db.session.execute(stmt):
        out[uid].append(work_shift(sid, starts, ends, kind, name, tz, break_minutes))
    return out
