"""The working-time rules (``rota.rules``): every rule at its limit and one minute over, v1 vs 2019, clock changes.

Pure functions: no app, no database. Times are written as local wall-clock times in Europe/London.
"""

from datetime import date, time, timedelta

import pytest

from rota.compliance import rules
from rota.compliance.rules import LeaveSpan, WorkShift, customise, evaluate, local_datetime

TZ = "Europe/London"
MIN = timedelta(minutes=1)
MON = date(2026, 6, 1)  # a Monday in summer, far from both clock changes
_ids = iter(range(1, 10**9))


def shift(day: date, hhmm: str, hours: float = 8, *, kind: str = "day", name: str | None = None, plus=timedelta(0),
          break_minutes=None) -> WorkShift:
    h, m = map(int, hhmm.split(":"))
    start = local_datetime(day, time(h, m), TZ)
    sid = next(_ids)
    return WorkShift(start, start + timedelta(hours=hours) + plus, kind=kind, tz=TZ,
                     name=name or {"day": "Early", "night": "Night", "on_call": "On-call"}[kind], id=sid, key=sid,
                     break_minutes=break_minutes)


def days(start: date, n: int, hhmm: str = "08:00", hours: float = 8, step: int = 1, **kw) -> list[WorkShift]:
    return [shift(start + timedelta(days=i * step), hhmm, hours, **kw) for i in range(n)]


def ids(verdicts, rule_id, *, rule_set=None, kind=None):
    return [v for v in verdicts if v.rule_id == rule_id and (rule_set is None or v.rule_set == rule_set)
            and (kind is None or v.kind == kind)]


def with_params(name, **params):
    return customise(rules.RULE_SETS[name], params=params)


# ----------------------------------------------------------------------------------- every rule at its limit

LONG = 10 + 1 / 60  # a long shift is more than 10 h


def case_72(over):
    return days(MON, 6, "07:00", 12)[:-1] + [shift(MON + timedelta(days=5), "07:00", 12, plus=over)]


def case_avg(over, weeks=2):
    out = []
    for w in range(weeks):  # 4 x 12 h = 48 h a week
        out += days(MON + timedelta(weeks=w), 4, "08:00", 12)
    last = out.pop()
    return out + [WorkShift(last.starts_at, last.ends_at + over, id=last.id, key=last.key, name="Long day")]


def case_run(n, hours=8.0):
    return days(MON, n, "08:00", hours)


def case_rest_after_run(n, rest, hours=8.0):
    run = days(MON, n, "08:00", hours)
    end = run[-1].ends_at
    nxt = WorkShift(end + rest, end + rest + timedelta(hours=8), id=next(_ids), name="Late")
    return run + [nxt]


def case_nights(n):
    return days(MON, n, "20:00", 10, kind="night")


def case_rest_after_nights(n, rest):
    run = case_nights(n)
    end = run[-1].ends_at
    return run + [WorkShift(end + rest, end + rest + timedelta(hours=8), id=next(_ids), name="Early")]


def case_rest(rest):
    late = shift(MON, "13:00", 8.5, name="Late")
    return [late, WorkShift(late.ends_at + rest, late.ends_at + rest + timedelta(hours=8), id=next(_ids),
                            name="Early")]


def case_weekends(n, cycle_weekends=6):
    # n worked weekends (Saturday day shifts) among the first weeks, one shift on a weekday of every other week
    sats = [MON + timedelta(days=5 + 7 * i) for i in range(n)]
    others = [MON + timedelta(days=2 + 7 * i) for i in range(cycle_weekends)]
    return sorted([shift(d, "08:00") for d in sats + others], key=lambda s: s.starts_at)


def case_oncall_length(over):
    return [shift(MON, "09:00", 24, kind="on_call", plus=over)]


def case_oncall_per_week(n):
    return [shift(MON + timedelta(days=2 * i), "09:00", 12, kind="on_call") for i in range(n)]


def case_day_after(over):
    oc = shift(MON, "17:00", 12, kind="on_call")
    return [oc, shift(MON + timedelta(days=1), "08:00", 10, plus=over, name="Long day")]


def case_max13(over):
    return [shift(MON, "08:00", 13, plus=over, name="Long day")]


def case_break(hours_over, brk):
    return [shift(MON, "08:00", 6, plus=hours_over, break_minutes=brk)]


CASES = [
    # (rule set, rule id, kind, shifts at the limit, shifts one minute over)
    ("TCS2016", "TCS-72in168", "maximum", case_72(timedelta(0)), case_72(MIN)),
    ("TCS2016", "TCS-max13", "maximum", case_max13(timedelta(0)), case_max13(MIN)),
    ("TCS2016", "TCS-long4", "maximum", case_run(4, LONG), case_run(5, LONG)),
    ("TCS2016v1", "TCS-long4", "maximum", case_run(5, LONG), case_run(6, LONG)),
    ("TCS2016", "TCS-long4", "minimum", case_rest_after_run(4, timedelta(hours=48), LONG),
     case_rest_after_run(4, timedelta(hours=48) - MIN, LONG)),
    ("TCS2016", "TCS-consec7", "maximum", case_run(7), case_run(8)),
    ("TCS2016v1", "TCS-consec7", "maximum", case_run(8), case_run(9)),
    ("TCS2016", "TCS-consec7", "minimum", case_rest_after_run(7, timedelta(hours=48)),
     case_rest_after_run(7, timedelta(hours=48) - MIN)),
    ("TCS2016", "TCS-nights4", "maximum", case_nights(4), case_nights(5)),
    ("TCS2016", "TCS-rest46", "minimum", case_rest_after_nights(1, timedelta(hours=46)),
     case_rest_after_nights(1, timedelta(hours=46) - MIN)),
    ("TCS2016v1", "TCS-rest46", "minimum", case_rest_after_nights(3, timedelta(hours=46)),
     case_rest_after_nights(3, timedelta(hours=46) - MIN)),
    ("TCS2016", "TCS-rest11", "minimum", case_rest(timedelta(hours=11)), case_rest(timedelta(hours=11) - MIN)),
    ("WTR", "WTR-rest11", "minimum", case_rest(timedelta(hours=11)), case_rest(timedelta(hours=11) - MIN)),
    ("TCS2016", "TCS-oncall", "maximum", case_oncall_length(timedelta(0)), case_oncall_length(MIN)),
    ("TCS2016", "TCS-oncall", "maximum", case_oncall_per_week(3), case_oncall_per_week(4)),
    ("TCS2016", "TCS-oncall", "maximum", case_day_after(timedelta(0)), case_day_after(MIN)),
    ("WTR", "WTR-break", "minimum", case_break(MIN, 20), case_break(MIN, 19)),
]


@pytest.mark.parametrize("rule_set,rule_id,kind,at_limit,over", CASES,
                         ids=[f"{c[0]}:{c[1]}:{c[2]}:{i}" for i, c in enumerate(CASES)])
def test_rule_at_limit_is_allowed_and_one_step_over_is_not(rule_set, rule_id, kind, at_limit, over):
    assert ids(evaluate(at_limit, [rule_set]), rule_id, kind=kind) == []
    found = ids(evaluate(over, [rule_set]), rule_id, kind=kind)
    assert len(found) == 1, found
    v = found[0]
    assert v.rule_set == rule_set and v.message and v.observed != v.limit
    assert v.severity == rules.RULE_SETS[rule_set].rule(rule_id).severity
    assert all(v.shift_ids)  # every shift involved is named


@pytest.mark.parametrize("rule_set,over,limit", [("TCS2016", 96 * 60 + 1, "48 h a week")])
def test_tcs_average_over_the_rota_cycle_and_with_opt_out(rule_set, over, limit):
    rs = with_params(rule_set, **{"TCS-avg48": {"reference_weeks": 2}})
    assert ids(evaluate(case_avg(timedelta(0)), [rs]), "TCS-avg48") == []
    [v] = ids(evaluate(case_avg(MIN), [rs]), "TCS-avg48")
    assert v.limit == limit and v.observed == "48 h a week"  # 48 h 0.5 min rounds to the minute
    assert v.observed_value > 48
    # a WTR opt-out raises the contractual average to 56 h
    assert ids(evaluate(case_avg(MIN), [rs], opted_out=True), "TCS-avg48") == []
    eight_more = case_avg(timedelta(hours=16))
    assert ids(evaluate(eight_more, [rs], opted_out=True), "TCS-avg48") == []
    [v] = ids(evaluate(case_avg(timedelta(hours=16) + MIN), [rs], opted_out=True), "TCS-avg48")
    assert v.limit == "56 h a week"


def test_wtr_average_honours_opt_out_and_leave():
    rs = with_params("WTR", **{"WTR-avg48": {"reference_weeks": 2}})
    assert ids(evaluate(case_avg(timedelta(0)), [rs]), "WTR-avg48") == []
    assert len(ids(evaluate(case_avg(MIN), [rs]), "WTR-avg48")) == 1
    assert ids(evaluate(case_avg(MIN), [rs], opted_out=True), "WTR-avg48") == []
    # One week's work (48 h) and a week of leave: leave does not dilute the average.
    one_week = days(MON, 4, "08:00", 12)
    leave = [LeaveSpan(MON + timedelta(days=7), MON + timedelta(days=13))]
    assert ids(evaluate(one_week, [rs], leave=leave), "WTR-avg48") == []
    heavy = one_week + [shift(MON + timedelta(days=4), "08:00", 1)]
    assert ids(evaluate(heavy, [rs]), "WTR-avg48") == []  # 49 h over two weeks: fine
    [v] = ids(evaluate(heavy, [rs], leave=leave), "WTR-avg48")  # 49 h in the one week worked: not fine
    assert v.observed == "49 h a week"


def test_default_reference_periods_are_in_the_tables():
    assert rules.WTR.rule("WTR-avg48").params["reference_weeks"] == 26  # hospital work is a special case
    assert rules.WTR.rule("WTR-night8").params["reference_weeks"] == 17
    assert rules.TCS2016.rule("TCS-avg48").params["opted_out_max_avg_hours"] == 56


def test_night_worker_average_has_no_opt_out():
    # 17 weeks x 4 nights x 12 h = 816 h; 17 x 7 - 17 weekly rest days = 102 days -> exactly 8 h a day
    nights = []
    for w in range(17):
        nights += days(MON + timedelta(weeks=w), 4, "20:00", 12, kind="night")
    assert ids(evaluate(nights, ["WTR"]), "WTR-night8") == []
    last = nights[-1]
    over = nights[:-1] + [WorkShift(last.starts_at, last.ends_at + MIN, kind="night", id=last.id, key=last.key)]
    [v] = ids(evaluate(over, ["WTR"], opted_out=True), "WTR-night8")
    assert v.limit == "8 h a day" and v.severity == "block"
    # the same hours worked by day: not a night worker
    by_day = []
    for w in range(17):
        by_day += days(MON + timedelta(weeks=w), 4, "08:00", 12)
    by_day[-1] = WorkShift(by_day[-1].starts_at, by_day[-1].ends_at + MIN, id=by_day[-1].id)
    assert ids(evaluate(by_day, ["WTR"]), "WTR-night8") == []


@pytest.mark.parametrize("end,night", [("02:00", True), ("01:59", False)])
def test_a_night_shift_has_three_hours_between_23_and_06(end, night):
    h, m = map(int, end.split(":"))
    start = local_datetime(MON, time(20), TZ)
    stop = local_datetime(MON + timedelta(days=1), time(h, m), TZ)
    one = WorkShift(start, stop, id=1)
    nxt = WorkShift(stop + timedelta(hours=40), stop + timedelta(hours=48), id=2)
    assert bool(ids(evaluate([one, nxt], ["TCS2016"]), "TCS-rest46")) is night


@pytest.mark.parametrize("nights,needs_rest", [(1, False), (2, False), (3, True)])
def test_v1_wants_46_hours_only_after_three_nights(nights, needs_rest):
    short = case_rest_after_nights(nights, timedelta(hours=30))
    assert bool(ids(evaluate(short, ["TCS2016v1"]), "TCS-rest46")) is needs_rest
    assert ids(evaluate(short, ["TCS2016"]), "TCS-rest46")  # 2019: after every night


@pytest.mark.parametrize("rule_set,worked,breach", [
    ("TCS2016", 2, False), ("TCS2016", 3, True), ("TCS2016v1", 3, False), ("TCS2016v1", 4, True)])
def test_weekend_frequency_1_in_3_since_2019_and_1_in_2_before(rule_set, worked, breach):
    rs = with_params(rule_set, **{"TCS-weekend": {"cycle_weeks": 6}})
    found = ids(evaluate(case_weekends(worked), [rs]), "TCS-weekend")
    assert bool(found) is breach
    if breach:
        assert found[0].observed == f"{worked} of 6 weekends"


@pytest.mark.parametrize("start,end,weekend", [
    ("Fri 20:00", "Sat 00:00", False), ("Fri 20:00", "Sat 00:02", True),
    ("Sun 23:59", "Mon 08:00", False), ("Sun 23:58", "Mon 08:00", True)])
def test_weekend_means_any_work_from_saturday_0001_to_sunday_2359(start, end, weekend):
    dayno = {"Fri": 4, "Sat": 5, "Sun": 6, "Mon": 7}

    def at(s):
        d, hm = s.split()
        h, m = map(int, hm.split(":"))
        return local_datetime(MON + timedelta(days=dayno[d]), time(h, m), TZ)

    s = WorkShift(at(start), at(end), id=1)
    rs = with_params("TCS2016", **{"TCS-weekend": {"cycle_weeks": 1, "one_in": 3}})
    # one weekend in a one-weekend cycle is allowed once (ceil(1/3) = 1): add the next weekend too to breach
    nxt = shift(MON + timedelta(days=12), "08:00")
    assert bool(ids(evaluate([s, nxt], [with_params("TCS2016", **{"TCS-weekend": {"cycle_weeks": 2,
                                                                                     "one_in": 3}})]),
                    "TCS-weekend")) is weekend
    assert rs.rule("TCS-weekend").params["cycle_weeks"] == 1


def test_on_call_consecutive_only_saturday_and_sunday():
    mon_tue = [shift(MON, "09:00", 12, kind="on_call"), shift(MON + timedelta(days=1), "09:00", 12, kind="on_call")]
    sat_sun = [shift(MON + timedelta(days=5), "09:00", 12, kind="on_call"),
               shift(MON + timedelta(days=6), "09:00", 12, kind="on_call")]
    [v] = ids(evaluate(mon_tue, ["TCS2016"]), "TCS-oncall")
    assert "consecutive days" in v.message
    assert ids(evaluate(sat_sun, ["TCS2016"]), "TCS-oncall") == []


def _week_with_gap(monday: date, gap: timedelta) -> list[WorkShift]:
    """10 h shifts with 10 h between them all week, except one break of ``gap`` on Wednesday."""
    out = []
    t = local_datetime(monday, time(0), TZ)
    end = local_datetime(monday + timedelta(days=7), time(0), TZ) + timedelta(hours=10)
    inserted = False
    while t < end:
        out.append(WorkShift(t, t + timedelta(hours=10), id=next(_ids)))
        t += timedelta(hours=20)
        if not inserted and t >= local_datetime(monday + timedelta(days=2), time(0), TZ):
            t += gap - timedelta(hours=10)
            inserted = True
    return out


@pytest.mark.parametrize("gap,breach", [(timedelta(hours=24), False), (timedelta(hours=24) - MIN, True)])
def test_weekly_rest_24_hours_in_each_monday_to_sunday_week(gap, breach):
    found = ids(evaluate(_week_with_gap(MON, gap), ["WTR"]), "WTR-weekly")
    assert bool([v for v in found if "week starting Mon 1 Jun" in v.message]) is breach
    if breach:
        assert "23 h 59 min" in found[0].message


def test_weekly_rest_fortnightly_option():
    rs = with_params("WTR", **{"WTR-weekly": {"fortnightly": True}})
    # Fortnightly the law asks for 2 x 24 h or one 48 h break: one 24 h break in the fortnight is not enough.
    monday = date(2026, 6, 1)
    if (monday.toordinal() // 7) % 2:  # fortnights are fixed pairs of weeks: start on the first of a pair
        monday += timedelta(days=7)
    shifts = _week_with_gap(monday, timedelta(hours=24)) + _week_with_gap(monday + timedelta(days=7),
                                                                         timedelta(hours=10))
    shifts = _dedupe(shifts)
    assert ids(evaluate(shifts, [rs]), "WTR-weekly")
    two = _dedupe(_week_with_gap(monday, timedelta(hours=24)) + _week_with_gap(monday + timedelta(days=7),
                                                                              timedelta(hours=24)))
    assert ids(evaluate(two, [rs]), "WTR-weekly") == []


def _dedupe(shifts):
    out = []
    for s in sorted(shifts, key=lambda s: s.starts_at):
        if out and s.starts_at < out[-1].ends_at:
            continue
        out.append(s)
    return out


# ---------------------------------------------------------------------------------------------- clock changes

SPRING = date(2026, 3, 29)  # Sunday: 01:00 GMT -> 02:00 BST (a 23-hour day)
AUTUMN = date(2026, 10, 25)  # Sunday: 02:00 BST -> 01:00 GMT (a 25-hour day)


def at(day: date, hhmm: str) -> object:
    h, m = map(int, hhmm.split(":"))
    return local_datetime(day, time(h, m), TZ)


def ws(day, start, end_day, end, **kw):
    kw.setdefault("id", next(_ids))
    return WorkShift(at(day, start), at(end_day, end), **kw)


def test_rest_across_spring_forward_is_an_hour_shorter_than_the_clock_says():
    sat = SPRING - timedelta(days=1)
    late = ws(sat, "13:00", sat, "21:30", name="Late")
    early = ws(SPRING, "08:30", SPRING, "16:30", name="Early")  # 11 h on the wall clock, 10 h really
    [v] = ids(evaluate([late, early], ["WTR"]), "WTR-rest11")
    assert v.observed == "10 h"
    assert v.message == ("Only 10 h rest between your Late ending Sat 28 Mar 21:30 and your Early starting Sun 08:30 "
                         "(minimum 11 h).")


def test_rest_across_fall_back_is_an_hour_longer_than_the_clock_says():
    sat = AUTUMN - timedelta(days=1)
    late = ws(sat, "13:00", sat, "21:30", name="Late")
    early = ws(AUTUMN, "07:30", AUTUMN, "15:30", name="Early")  # 10 h on the wall clock, 11 h really
    assert ids(evaluate([late, early], ["WTR", "TCS2016"]), "WTR-rest11") == []
    assert ids(evaluate([late, early], ["WTR", "TCS2016"]), "TCS-rest11") == []


def test_night_over_fall_back_lasts_13_h_30_min():
    night = ws(AUTUMN - timedelta(days=1), "19:30", AUTUMN, "08:00", kind="night", name="Night")
    [v] = ids(evaluate([night], ["TCS2016"]), "TCS-max13")
    assert v.observed == "13 h 30 min"
    spring = ws(SPRING - timedelta(days=1), "19:30", SPRING, "08:00", kind="night", name="Night")
    assert ids(evaluate([spring], ["TCS2016"]), "TCS-max13") == []
    assert spring.ends_at.timestamp() - spring.starts_at.timestamp() == 11.5 * 3600


@pytest.mark.parametrize("next_start,breach", [("07:00", False), ("06:59", True)])
def test_46_hours_after_nights_across_spring_forward_in_real_time(next_start, breach):
    fri = SPRING - timedelta(days=2)
    night = ws(fri, "20:00", fri + timedelta(days=1), "08:00", kind="night", name="Night")  # ends 08:00 GMT Sat
    nxt = ws(SPRING + timedelta(days=1), next_start, SPRING + timedelta(days=1), "15:00", name="Early")  # Mon BST
    assert bool(ids(evaluate([night, nxt], ["TCS2016"]), "TCS-rest46")) is breach


@pytest.mark.parametrize("next_start,breach", [("05:00", False), ("04:59", True)])
def test_46_hours_after_nights_across_fall_back_in_real_time(next_start, breach):
    fri = AUTUMN - timedelta(days=2)
    night = ws(fri, "20:00", fri + timedelta(days=1), "08:00", kind="night", name="Night")  # ends 08:00 BST Sat
    nxt = ws(AUTUMN + timedelta(days=1), next_start, AUTUMN + timedelta(days=1), "13:00", name="Early")  # Mon GMT
    assert bool(ids(evaluate([night, nxt], ["TCS2016"]), "TCS-rest46")) is breach


def test_nights_in_a_row_across_both_clock_changes_counted_by_local_start_date():
    for sunday in (SPRING, AUTUMN):
        run = [ws(sunday + timedelta(days=i), "20:00", sunday + timedelta(days=i + 1), "06:00", kind="night")
               for i in range(-2, 3)]
        [v] = ids(evaluate(run, ["TCS2016"]), "TCS-nights4")
        assert v.observed == "5 days"


def test_72_hours_in_168_is_real_time_across_fall_back():
    # six 12 h days ending on the long Sunday: on the wall clock 72 h, really 72 h (days do not cross 01:00), but
    # a night across the change adds an hour: 5 x 12 h + a 12.5 h wall-clock night that is 13.5 h long = 73.5 h.
    mon = AUTUMN - timedelta(days=6)
    shifts = [ws(mon + timedelta(days=i), "07:00", mon + timedelta(days=i), "19:00") for i in range(5)]
    shifts.append(ws(AUTUMN - timedelta(days=1), "19:30", AUTUMN, "08:00", kind="night"))
    [v] = ids(evaluate(shifts, ["TCS2016"]), "TCS-72in168")
    assert v.observed == "73 h 30 min"


def test_weekly_rest_week_of_spring_forward_is_167_hours():
    sat = SPRING - timedelta(days=1)
    # A break from Sat 20:00 GMT to Sun 20:30 BST is 24.5 h on the clock but 23.5 h really.
    shifts = [ws(sat - timedelta(days=i), "08:00", sat - timedelta(days=i), "20:00") for i in range(6)]
    shifts.append(ws(SPRING, "20:30", SPRING + timedelta(days=1), "08:00"))
    [v] = ids(evaluate(shifts, ["WTR"]), "WTR-weekly")
    assert v.observed == "23 h 30 min"


def test_consecutive_days_are_keyed_to_the_local_start_date():
    # In summer 00:30 local is 23:30 UTC the day before: keyed by UTC these would be 8 days in a row.
    run = days(MON, 7, "08:00", 8)
    eighth = shift(MON + timedelta(days=8), "00:30", 8)  # Tue 00:30 local, Mon 23:30 UTC
    found = ids(evaluate(run + [eighth], ["TCS2016"]), "TCS-consec7", kind="maximum")
    assert found == []


def test_local_times_that_do_not_exist_or_are_ambiguous_are_refused():
    with pytest.raises(ValueError, match="does not exist"):
        local_datetime(SPRING, time(1, 30), TZ)
    with pytest.raises(ValueError, match="ambiguous"):
        local_datetime(AUTUMN, time(1, 30), TZ)


# ---------------------------------------------------------------------------------------------- rule sets


def test_v1_and_2019_thresholds_differ_where_the_guide_says():
    pairs = {"TCS-long4": "max_run", "TCS-consec7": "max_run", "TCS-rest46": "min_run", "TCS-weekend": "one_in"}
    for rid, key in pairs.items():
        assert rules.TCS2016.rule(rid).params[key] != rules.TCS2016v1.rule(rid).params[key], rid
    assert {r.id for r in rules.TCS2016.rules} == {r.id for r in rules.TCS2016v1.rules}


def test_every_rule_in_the_guide_is_in_a_table_with_a_source_and_severity():
    guide = {"WTR-avg48", "WTR-night8", "WTR-rest11", "WTR-weekly", "WTR-break", "TCS-72in168", "TCS-avg48",
             "TCS-max13", "TCS-long4", "TCS-consec7", "TCS-nights4", "TCS-rest46", "TCS-rest11", "TCS-weekend",
             "TCS-oncall"}
    have = {r.id for rs in rules.RULE_SETS.values() for r in rs.rules}
    assert guide == have
    for rs in rules.RULE_SETS.values():
        for r in rs.rules:
            assert r.severity in ("block", "warn") and r.source and r.check in rules.CHECKS
    assert {r.severity for r in rules.WTR.rules if r.id in ("WTR-rest11", "WTR-weekly", "WTR-break")} == {"warn"}
    assert {r.severity for r in rules.TCS2016.rules} == {"block"}


def test_a_trust_can_change_severity_switch_off_and_add_a_local_rule():
    four_long = case_run(4, 12.5)
    rs = customise(rules.WTR, severities={"WTR-rest11": "block"}, disabled=["WTR-weekly"],
                   extra=[rules.local_rule({"id": "LOCAL-long3", "max_run": 3})])
    assert rs.rule("WTR-rest11").severity == "block" and rs.rule("WTR-weekly") is None
    [v] = ids(evaluate(four_long, [rs]), "LOCAL-long3")
    assert v.severity == "warn" and v.message.startswith("4 long shifts in a row")
    assert ids(evaluate(case_run(3, 12.5), [rs]), "LOCAL-long3") == []


def test_message_reads_like_the_guide_example():
    tue = date(2026, 3, 3)
    late = shift(tue, "13:00", 8.5, name="Late")
    early = shift(tue + timedelta(days=1), "07:00", 8, name="Early")
    [v] = evaluate([late, early], ["WTR"])
    assert v.message == ("Only 9 h 30 min rest between your Late ending Tue 3 Mar 21:30 and your Early starting "
                         "Wed 07:00 (minimum 11 h).")
    assert (v.rule_id, v.severity, v.observed, v.limit) == ("WTR-rest11", "warn", "9 h 30 min", "11 h")
    assert v.shift_ids == (late.id, early.id)


def test_involving_keeps_only_verdicts_about_the_given_shifts():
    a, b = case_rest(timedelta(hours=9))
    c, d = [shift(MON + timedelta(days=10), "08:00"), shift(MON + timedelta(days=10), "20:00")]
    verdicts = evaluate([a, b, c, d], ["WTR"])
    assert len(ids(verdicts, "WTR-rest11")) == 2
    assert [v.shift_ids for v in rules.involving(verdicts, [d.identity])] == [(c.id, d.id)]


def test_an_overlapping_what_if_shift_counts_its_hours_and_leaves_no_rest():
    a = shift(MON, "08:00", 12)
    b = shift(MON, "14:00", 12)  # overlaps a by 6 h
    verdicts = evaluate([a, b] + days(MON + timedelta(days=1), 5, "07:00", 12), ["TCS2016", "WTR"])
    [rest] = ids(verdicts, "WTR-rest11")[:1]
    assert rest.observed == "0 min" and "Only 0 min rest" in rest.message
    assert ids(verdicts, "TCS-72in168")  # 12 + 12 + 5 x 12 = 84 h in the week
