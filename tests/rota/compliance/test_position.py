"""A doctor's working-time position (rules.position): the engine's numbers beside their limits, hand-computed, over
two weeks in Europe/London that span the October clock change (Sun 26 Oct 2025, 02:00 BST -> 01:00 GMT)."""

from __future__ import annotations

from datetime import date, datetime

from rota.compliance import rules
from rota.compliance.rules import LeaveSpan, WorkShift

TZ = "Europe/London"


def at(d: date, hh: int, mm: int = 0) -> datetime:
    return rules.local_datetime(d, datetime.min.time().replace(hour=hh, minute=mm), TZ)


def s(i: int, start: datetime, end: datetime, kind: str = "day") -> WorkShift:
    return WorkShift(start, end, kind=kind, tz=TZ, name=kind.title(), id=i, key=i)


def rota():
    out = [s(i, at(date(2025, 10, d), 8), at(date(2025, 10, d), 20, 30)) for i, d in enumerate((20, 21, 22, 23), 1)]
    out += [
        s(5, at(date(2025, 10, 25), 20), at(date(2025, 10, 26), 8), "night"),  # 13 h: the clocks go back
        s(6, at(date(2025, 10, 26), 20), at(date(2025, 10, 27), 8), "night"),  # 12 h, 4 of them in week 1
        s(7, at(date(2025, 10, 29), 9), at(date(2025, 10, 29), 17)),
        s(8, at(date(2025, 10, 30), 9), at(date(2025, 10, 30), 17)),
        s(9, at(date(2025, 11, 1), 7), at(date(2025, 11, 1), 19, 30)),
    ]
    return out


def _by_id(p):
    return {m.rule_id: m for m in p.measures}


def test_a_doctor_s_position_over_the_october_clock_change():
    p = rules.position(rota(), ["TCS2016", "WTR"], first_day=date(2025, 10, 20), last_day=date(2025, 11, 2), tz=TZ)
    m = _by_id(p)
    # 4 x 12.5 + 13 + 12 + 8 + 8 + 12.5 = 103.5 h over 2 weeks.
    assert (m["TCS-avg48"].value, m["TCS-avg48"].limit, m["TCS-avg48"].within) == (51.75, 48, False)
    assert m["TCS-avg48"].observed == "51 h 45 min a week"
    # Mon 20 08:00 BST + 168 real hours = Mon 27 07:00 GMT: 50 + 13 + 11 = 74 h (72 on a calendar-hour count).
    assert (m["TCS-72in168"].value, m["TCS-72in168"].limit, m["TCS-72in168"].within) == (74, 72, False)
    assert (m["TCS-max13"].value, m["TCS-max13"].within) == (13, True)  # exactly 13 h is allowed
    assert (m["TCS-long4"].value, m["TCS-long4"].limit, m["TCS-long4"].within) == (4, 4, True)
    assert (m["TCS-nights4"].value, m["TCS-nights4"].within) == (2, True)
    assert (m["TCS-consec7"].value, m["TCS-consec7"].limit) == (4, 7)
    # Saturdays 25 Oct and 1 Nov both worked: 2 weekends in 26 weeks, where 1 in 3 allows 9 (the engine's count).
    assert (m["TCS-weekend"].value, m["TCS-weekend"].limit, m["TCS-weekend"].within) == (2, 9, True)
    assert m["TCS-weekend"].observed == "2 in 26 weeks" and m["TCS-weekend"].limit_text == "9 in 26 weeks (1 in 3)"
    # Mon-Thu long days: 20:30 -> 08:00 is 11 h 30 min, the least rest in the fortnight.
    assert (m["TCS-rest11"].value, m["TCS-rest11"].kind, m["TCS-rest11"].within) == (11.5, "minimum", True)
    assert "WTR-avg48" not in m  # one average for a doctor: the contract's (48 h, 56 h opted out)
    # The chart: week 1 lasted 169 real hours and holds 50 + 13 + 4 = 67 h; week 2 holds 8 + 8 + 8 + 12.5.
    assert [(w.monday, w.hours, w.week_hours) for w in p.weeks] == [
        (date(2025, 10, 20), 67.0, 169.0), (date(2025, 10, 27), 36.5, 168.0)]
    assert (p.weekly_limit, p.peak_limit) == (48, 72)


def test_leave_comes_out_of_the_average_and_an_opt_out_raises_the_limit():
    leave = [LeaveSpan(date(2025, 10, 27), date(2025, 11, 2))]  # week 2 on leave (its shifts aside)
    p = rules.position(rota(), ["TCS2016", "WTR"], first_day=date(2025, 10, 20), last_day=date(2025, 11, 2), tz=TZ,
                       leave=leave, opted_out=True)
    avg = _by_id(p)["TCS-avg48"]
    assert (avg.value, avg.limit) == (103.5, 56)  # 103.5 h over the one week not on leave
    assert p.weekly_limit == 56


def test_a_nurse_has_the_working_time_regulations_only():
    p = rules.position(rota(), ["WTR"], first_day=date(2025, 10, 20), last_day=date(2025, 11, 2), tz=TZ)
    assert [m.rule_id for m in p.measures] == ["WTR-avg48", "WTR-rest11"]
    assert p.peak_limit is None
    opted = rules.position(rota(), ["WTR"], first_day=date(2025, 10, 20), last_day=date(2025, 11, 2), tz=TZ,
                           opted_out=True)
    assert [m.rule_id for m in opted.measures] == ["WTR-rest11"] and opted.weekly_limit is None


def test_nothing_worked_is_all_zero_and_no_rest_to_measure():
    p = rules.position([], ["TCS2016", "WTR"], first_day=date(2025, 10, 20), last_day=date(2025, 10, 26), tz=TZ)
    m = _by_id(p)
    assert m["TCS-avg48"].value == 0 and m["TCS-72in168"].value == 0 and m["TCS-rest11"].value is None
    assert [w.hours for w in p.weeks] == [0.0]


def _weekends(n: int) -> list[WorkShift]:
    """A Saturday long day on ``n`` weekends running, from Sat 4 Oct 2025."""
    sats = [date.fromordinal(date(2025, 10, 4).toordinal() + 7 * i) for i in range(n)]
    return [s(100 + i, at(d, 8), at(d, 20)) for i, d in enumerate(sats)]


def test_the_weekend_measure_is_over_exactly_when_the_engine_says_so():
    """Found on the demo at 390 px: "Weekends worked 3 of 4 – over" beside "No working-time problems in these dates".
    The rule is 1 weekend in 3 over 26 weeks (9 of 26); the page's number and limit must be the engine's."""
    first, last = date(2025, 10, 20), date(2025, 11, 16)  # four weekends on the page
    three = [s(200 + i, at(d, 8), at(d, 20)) for i, d in enumerate((date(2025, 10, 25), date(2025, 11, 1),
                                                                      date(2025, 11, 8)))]
    for shifts, over in ((three, False),  # 3 of the page's 4 weekends, but 3 in 26 weeks: allowed
                         (_weekends(10), True)):  # 10 weekends running: over 9 in 26
        p = rules.position(shifts, ["TCS2016"], first_day=first, last_day=last, tz=TZ)
        m = _by_id(p)["TCS-weekend"]
        engine = [v for v in rules.evaluate(shifts, ["TCS2016"]) if v.rule_id == "TCS-weekend"]
        assert (not m.within) == bool(engine) == over, (m, engine)
        assert m.limit == 9 and m.limit_text == "9 in 26 weeks (1 in 3)"
