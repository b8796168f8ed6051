"""The grid's working-time markers read only what can matter to the weeks shown, and give the verdicts a full read
of the 27-week margin gives (``verdicts_for_people`` -> ``rotas_around``).

A generated ward (seeded; rerun one with ``GRID_MARKERS_SEED=<seed>``) of light, heavy (over 48 h a week on
average), night-working and on-leave people, with random extra shifts and short rests, over 46 weeks across the
March and October clock changes; the 4-week windows compared contain a clock change.
"""

import os
import random
from datetime import date, time, timedelta
from types import SimpleNamespace

import pytest

from core.db import db
from rota.compliance import rules
from rota.compliance.profiles import profiles_for
from rota.compliance.rotas import MARGIN, load_leave, load_shifts, rotas_around
from rota.compliance.rules import local_datetime
from rota.compliance.team_report import grid_markers, verdicts_for_people
from rota.compliance.verdicts import verdicts_for_change, verdicts_for_shifts
from rota.models import Leave, LeaveKind, Shift, ShiftState
from tests import factories

TZ = "Europe/London"


def _ward(make, rng: random.Random):
    w = factories.ward(make, name="Ward 9C", coordinator="Cora Coordinator",
                       people=[dict(display_name=f"Nurse {i:02d}") for i in range(12)],
                       types=[factories.EARLY, factories.NIGHT_20_12H])
    team, people, early, night = w.team, w.staff, w.types["E"], w.types["N"]
    first = date(2026, 1, 5)
    rows = []
    for k, person in enumerate(people):
        style = k % 4  # 0 light, 1 heavy, 2 nights, 3 light with leave
        busy_until = None
        for d in range(7 * 46):
            day = first + timedelta(days=d)
            wd = day.weekday()
            if style == 1 and wd < 4:
                start, hours, st = local_datetime(day, time(7, 30), TZ), 12.5, early
            elif style == 2 and wd in (0, 1, 2):
                start, hours, st = local_datetime(day, time(20), TZ), 12, night
            elif style in (0, 3) and wd < 3:
                start, hours, st = local_datetime(day, time(7), TZ), 8.5, early
            elif rng.random() < 0.12:  # an extra late or a quick return: short rests, long runs
                start, hours, st = local_datetime(day, time(rng.choice([13, 15, 17])), TZ), rng.choice([8, 10]), early
            else:
                continue
            end = start + timedelta(hours=hours)
            if busy_until is not None and start < busy_until:
                continue
            busy_until = end
            rows.append(Shift(team_id=team.id, shift_type_id=st.id, starts_at=start, ends_at=end,
                              assignee_id=person.id, state=ShiftState.scheduled))
        if style == 3:
            db.session.add(Leave(user_id=person.id, kind=LeaveKind.annual, first_day=date(2026, 2, 9),
                                 last_day=date(2026, 2, 13)))
    db.session.add_all(rows)
    db.session.commit()
    return team, people


def _full(team, people, lo, hi):
    """The reference: every person's whole margin read, as the grid did before."""
    users = list(people)
    profiles, brk = profiles_for(users, team)
    shifts = load_shifts(list(profiles), lo - MARGIN, hi + MARGIN, break_minutes=brk)
    leave = load_leave(list(profiles), lo - MARGIN, hi + MARGIN)
    return {uid: rules.evaluate(shifts[uid], profiles[uid].rule_sets, leave=leave[uid],
                                opted_out=profiles[uid].opted_out,
                                focus=[s.identity for s in shifts[uid] if lo <= s.starts_at < hi])
            for uid in profiles}


@pytest.mark.parametrize("window_start", [date(2026, 3, 16), date(2026, 10, 12)])
def test_grid_markers_from_the_window_equal_those_from_the_whole_margin(make, window_start):
    seed = int(os.environ.get("GRID_MARKERS_SEED", random.randrange(1 << 30)))
    print(f"reproduce with GRID_MARKERS_SEED={seed}")
    team, people = _ward(make, random.Random(seed))
    lo = local_datetime(window_start, time(0), TZ)
    hi = local_datetime(window_start + timedelta(days=28), time(0), TZ)
    ids = [p.id for p in people]

    focused = verdicts_for_people(ids, lo, hi, team=team)
    assert focused == _full(team, people, lo, hi), f"seed {seed}"
    found = {v.rule_id for vs in focused.values() for v in vs}
    assert "WTR-avg48" in found, found  # the long rule still fires for the heavy people

    profiles, _ = profiles_for(people, team)
    rotas, _ = rotas_around(profiles, lo, hi + timedelta(days=1))
    assert min(len(r) for r in rotas.values()) < 30 < max(len(r) for r in rotas.values())  # short reads, and full

    # the markers the grid shows, from cells of the shown weeks
    shown = db.session.scalars(db.select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                      Shift.starts_at < hi)).all()
    cells = [SimpleNamespace(user=next(p for p in people if p.id == s.assignee_id), shifts=[s], markers=[])
             for s in shown]
    grid_markers(team, cells)
    full = _full(team, people, min(s.starts_at for s in shown), max(s.ends_at for s in shown))
    for c in cells:
        want = []
        for v in full[c.user.id]:
            label = ("⛔ " if v.blocking else "⚠ ") + v.rule_id
            if c.shifts[0].id in v.shift_ids and label not in want:
                want.append(label)
        assert c.markers == want, (seed, c.shifts[0].starts_at)
    assert any(c.markers for c in cells)


def test_open_shifts_judged_together_get_the_one_by_one_verdicts(make):
    """The open-shifts page judges every open shift against one read of the person's rota
    (``verdicts_for_shifts``); each answer must be what ``verdicts_for_change`` gives for that shift alone."""
    seed = int(os.environ.get("GRID_MARKERS_SEED", random.randrange(1 << 30)))
    print(f"reproduce with GRID_MARKERS_SEED={seed}")
    rng = random.Random(seed)
    team, people = _ward(make, rng)
    gaps = []
    for _ in range(12):  # open shifts across the spring clock change and far apart (different margins)
        day = date(2026, 3, 1) + timedelta(days=rng.randint(0, 240))
        start = local_datetime(day, time(rng.choice([7, 13, 20])), TZ)
        gaps.append(Shift(team_id=team.id, starts_at=start, ends_at=start + timedelta(hours=rng.choice([8, 12.5])),
                          state=ShiftState.open))
    db.session.add_all(gaps)
    db.session.commit()
    for person in people[:4]:  # light, heavy, nights, on leave
        together = verdicts_for_shifts(person, gaps)
        for gap in gaps:
            assert together[gap.id] == verdicts_for_change(person, add=(gap,)), (seed, person.id, gap.id)
    assert any(v for vs in (verdicts_for_shifts(p, gaps) for p in people[:4]) for v in vs.values())
