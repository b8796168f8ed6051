"""Property-based tests of the working-time rules (hypothesis)."""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rota.compliance import rules
from rota.compliance.rules import WorkShift, customise, evaluate

TZ = "Europe/London"
# Short cycles so the average and weekend rules have something to say about a few weeks of shifts.
PARAMS = {"TCS-avg48": {"reference_weeks": 2}, "TCS-weekend": {"cycle_weeks": 3},
          "WTR-avg48": {"reference_weeks": 2}, "WTR-night8": {"reference_weeks": 2}}
SETS = [customise(rules.RULE_SETS[n], params=PARAMS, extra=[rules.local_rule({"id": "LOCAL-long3"})] if n == "WTR"
                  else ()) for n in ("WTR", "TCS2016", "TCS2016v1")]
WEEKDAY_FREE = [customise(rs, disabled=["TCS-weekend", "WTR-weekly", "TCS-oncall"]) for rs in SETS]

# 2026-05-04 (Mon) 00:00 BST: rotas generated from here stay clear of both clock changes even when moved 3 weeks.
BASE = datetime(2026, 5, 3, 23, 0, tzinfo=UTC)

shift_spec = st.tuples(
    st.integers(min_value=0, max_value=60 * 60),  # minutes of rest before the shift
    st.integers(min_value=3 * 60, max_value=14 * 60),  # minutes long
    st.sampled_from(["day", "day", "night", "on_call"]),
)


def build(specs) -> list[WorkShift]:
    out, t = [], BASE
    for i, (gap, minutes, kind) in enumerate(specs):
        t += timedelta(minutes=gap)
        if kind == "on_call":
            minutes = min(minutes * 2, 25 * 60)
        end = t + timedelta(minutes=minutes)
        out.append(WorkShift(t, end, kind=kind, tz=TZ, name=kind, id=i + 1, key=i + 1))
        t = end
    return out


def maxima(verdicts) -> set:
    return {(v.rule_set, v.rule_id) for v in verdicts if v.kind == "maximum"}


def comparable(verdicts) -> list:
    return sorted((v.rule_set, v.rule_id, v.kind, v.observed, v.limit, v.shift_ids) for v in verdicts)


def moved(shifts, delta):
    return [WorkShift(s.starts_at + delta, s.ends_at + delta, kind=s.kind, tz=s.tz, name=s.name, id=s.id, key=s.key)
            for s in shifts]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(shift_spec, min_size=1, max_size=30), data=st.data())
def test_removing_a_shift_never_adds_a_violation_of_a_maximum_rule(specs, data):
    shifts = build(specs)
    before = maxima(evaluate(shifts, SETS))
    gone = data.draw(st.integers(min_value=0, max_value=len(shifts) - 1))
    after = maxima(evaluate(shifts[:gone] + shifts[gone + 1:], SETS))
    assert after <= before


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(shift_spec, min_size=1, max_size=30), weeks=st.integers(min_value=1, max_value=3))
def test_moving_every_shift_by_whole_weeks_away_from_clock_changes_changes_no_verdict(specs, weeks):
    shifts = build(specs)
    assert comparable(evaluate(shifts, SETS)) == comparable(evaluate(moved(shifts, timedelta(weeks=weeks)), SETS))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(shift_spec, min_size=1, max_size=30), days=st.integers(min_value=1, max_value=20))
def test_moving_by_whole_days_changes_nothing_but_weekday_rules(specs, days):
    shifts = build(specs)
    assert comparable(evaluate(shifts, WEEKDAY_FREE)) == \
        comparable(evaluate(moved(shifts, timedelta(days=days)), WEEKDAY_FREE))


@settings(max_examples=100, deadline=None)
@given(specs=st.lists(shift_spec, min_size=1, max_size=20))
def test_every_verdict_names_real_shifts_and_reads_as_a_sentence(specs):
    shifts = build(specs)
    known = {s.id for s in shifts}
    for v in evaluate(shifts, SETS):
        assert set(v.shift_ids) <= known and v.shift_ids
        assert v.severity in ("block", "warn")
        assert (v.message[0].isupper() or v.message[0].isdigit()) and v.message.endswith(".")


# The what-if path (``focus``) skips everything far from the changed shifts; it must find exactly what a full
# evaluation blames on them. Rests up to 4 days apart spread 40 shifts over months, beyond the engine's near horizon.
sparse_spec = st.tuples(
    st.integers(min_value=0, max_value=4 * 24 * 60),
    st.integers(min_value=3 * 60, max_value=14 * 60),
    st.sampled_from(["day", "day", "night", "on_call"]),
)
WINDOWED = {"max_in_window", "average_hours", "night_average", "weekends"}  # overlapping breaches merge differently
FULL_SETS = [rules.RULE_SETS[n] for n in ("WTR", "TCS2016", "TCS2016v1")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(st.one_of(shift_spec, sparse_spec), min_size=1, max_size=40), data=st.data(),
       sets=st.sampled_from([SETS, FULL_SETS, SETS[:1]]))  # SETS[:1]: WTR + a local rule, no weekend cycle
def test_a_focused_check_finds_what_a_full_check_blames_on_the_focus(specs, data, sets):
    shifts = build(specs)
    picked = data.draw(st.lists(st.integers(min_value=0, max_value=len(shifts) - 1), min_size=1, max_size=2,
                                unique=True))
    focus = [shifts[i].identity for i in picked]
    full = rules.involving(evaluate(shifts, sets), focus)
    focused = evaluate(shifts, sets, focus=focus)
    checks = {r.id: r.check for rs in sets for r in rs.rules}
    assert {(v.rule_set, v.rule_id) for v in focused} == {(v.rule_set, v.rule_id) for v in full}
    exact = lambda vs: comparable(v for v in vs if checks[v.rule_id] not in WINDOWED)  # noqa: E731
    assert exact(focused) == exact(full)
