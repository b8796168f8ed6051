"""Working-time rule sets as data, and pure functions that check a person's shifts against them.

No Flask, no database: callers (``rota.compliance``) turn shifts and leave into :class:`WorkShift` / :class:`LeaveSpan`
and get :class:`Verdict` objects back.

Conventions (``docs/compliance.md`` and the domain guide):

* every duration, rest gap and window is real elapsed time (epoch seconds), so a night across the October clock
  change is 13 h 30 min long, not 12 h 30 min;
* nights (23:00–06:00) and weekends (Sat 00:01 – Sun 23:59) are classified in the shift's own local zone;
* "consecutive days" key a shift to the local date on which it starts;
* sliding windows (72 h in 168 h, reference-period averages) are anchored at every shift start and at every shift
  end, so they find every breach a calendar-week window would, and more;
* averages divide by the weeks of the reference period that were not leave, and honour the WTR opt-out.

Rule sets are tables: each :class:`Rule` has an id (as in the domain guide), a *check* (which evaluator), a default
severity (block|warn), a source and its thresholds. A trust or team changes severities, or adds local rules (for
example "max 3 consecutive long days"), without touching code: see :func:`customise`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from core.timeutil import (
    DEFAULT_ZONE,
    AmbiguousLocalTime,
    NonexistentLocalTime,
    localize,
    utc_offset_at,
    wall_clock_instant,
    zone,
)
from rota.verdicts import BLOCK, SEVERITIES, WARN, Verdict  # noqa: F401  (the agreed interface, re-exported)

HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY



# ------------------------------------------------------------------------------------------------ data types


@dataclass(frozen=True)
class WorkShift:
    """A shift as the rules see it. ``key`` identifies it (the shift id, or any hashable for a what-if shift)."""

    starts_at: datetime  # aware; any zone, compared as instants
    ends_at: datetime
    kind: str = "day"  # day | night | on_call (rostered label; nights are *classified* from the times)
    tz: str = DEFAULT_ZONE
    name: str = "shift"  # shown in messages: "your Late ending Tue 21:30"
    id: int = 0  # 0 for a hypothetical shift
    key: object = None
    break_minutes: int | None = None  # rostered break, when the team records one

    @property
    def identity(self):
        return self.key if self.key is not None else ("id", self.id) if self.id else ("at", self.starts_at)

    @property
    def on_call(self) -> bool:
        return self.kind == "on_call"


@dataclass(frozen=True)
class LeaveSpan:
    first_day: date  # local dates, inclusive
    last_day: date


@dataclass(frozen=True)
class Rule:
    id: str
    check: str  # evaluator name, see CHECKS
    severity: str
    source: str
    params: dict = field(default_factory=dict, hash=False)
    title: str = ""


@dataclass(frozen=True)
class RuleSet:
    name: str
    title: str
    rules: tuple[Rule, ...]

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


# --------------------------------------------------------------------------------------------- the tables

_WTR_SRC = "Working Time Regulations 1998 (SI 1998/1833)"
_TCS_SRC = "NHS Employers, 'Rota rules at a glance'; TCS for doctors in training (England) 2016, Schedule 03"
_TCS19 = " as amended 2019"

# Thresholds. Hospital work is a "special case" (reg 21): daily/weekly rest and breaks may be varied with
# compensatory rest, so those are warnings by default; the 2016 contract's limits are contractual, so blocking.
WTR = RuleSet("WTR", "Working Time Regulations 1998 (all staff)", (
    Rule("WTR-avg48", "average_hours", BLOCK, _WTR_SRC + ", reg 4",
         {"max_avg_hours": 48, "reference_weeks": 26, "opt_out_allowed": True},
         "Average working week (over the 17-week reference period; 26 weeks for special cases such as hospitals)"),
    Rule("WTR-night8", "night_average", BLOCK, _WTR_SRC + ", reg 6",
         {"max_hours_per_24h": 8, "reference_weeks": 17, "night_start": 23, "night_end": 6, "min_night_hours": 3,
          "night_shifts_per_week": 1},
         "A night worker's normal hours average at most 8 in 24"),
    Rule("WTR-rest11", "rest_between", WARN, _WTR_SRC + ", reg 10", {"min_rest_hours": 11},
         "11 hours' rest between working days"),
    Rule("WTR-weekly", "weekly_rest", WARN, _WTR_SRC + ", reg 11",
         {"min_rest_hours": 24, "fortnightly": False, "fortnight_rest_hours": 48, "fortnight_rests": 2},
         "24 hours' uninterrupted rest each week (Monday to Sunday), or 2 × 24 h / 48 h each fortnight"),
    Rule("WTR-break", "break", WARN, _WTR_SRC + ", reg 12", {"over_hours": 6, "min_break_minutes": 20},
         "A 20-minute break when working more than 6 hours"),
))


def _tcs(name: str, title: str, *, long_max: int, consec_max: int, rest46_after: int, weekend_one_in: int,
         source: str) -> RuleSet:
    return RuleSet(name, title, (
        Rule("TCS-72in168", "max_in_window", BLOCK, source, {"max_hours": 72, "window_hours": 168},
             "At most 72 hours' work in any 168 consecutive hours"),
        Rule("TCS-avg48", "average_hours", BLOCK, source,
             {"max_avg_hours": 48, "opted_out_max_avg_hours": 56, "reference_weeks": 26, "opt_out_allowed": False},
             "Average working week over the rota cycle (56 h with a WTR opt-out)"),
        Rule("TCS-max13", "max_shift_length", BLOCK, source, {"max_hours": 13},
             "No shift longer than 13 hours"),
        Rule("TCS-long4", "consecutive_run", BLOCK, source,
             {"filter": "long", "long_over_hours": 10, "max_run": long_max, "rest_after_hours": 48},
             f"At most {long_max} long shifts (over 10 h) on consecutive days, then 48 hours' rest"),
        Rule("TCS-consec7", "consecutive_run", BLOCK, source,
             {"filter": "any", "max_run": consec_max, "rest_after_hours": 48},
             f"At most {consec_max} shifts on consecutive days, then 48 hours' rest"),
        Rule("TCS-nights4", "consecutive_run", BLOCK, source,
             {"filter": "night", "max_run": 4, "rest_after_hours": None, "night_start": 23, "night_end": 6,
              "min_night_hours": 3},
             "At most 4 night shifts in a row"),
        Rule("TCS-rest46", "rest_after_nights", BLOCK, source,
             {"min_run": rest46_after, "min_rest_hours": 46, "night_start": 23, "night_end": 6, "min_night_hours": 3},
             "46 hours' rest after a night shift or run of nights" if rest46_after == 1
             else f"46 hours' rest after {rest46_after} or more nights in a row"),
        Rule("TCS-rest11", "rest_between", BLOCK, source, {"min_rest_hours": 11},
             "11 hours' rest between shifts"),
        Rule("TCS-weekend", "weekends", BLOCK, source, {"one_in": weekend_one_in, "cycle_weeks": 26},
             f"At most 1 weekend in {weekend_one_in} worked"),
        Rule("TCS-oncall", "on_call", BLOCK, source,
             {"max_hours": 24, "max_per_7_days": 3, "day_after_max_hours": 10},
             "On-call: at most 24 h, no consecutive on-calls except Saturday and Sunday, at most 3 in 7 days, "
             "at most 10 h work the day after"),
    ))


TCS2016 = _tcs("TCS2016", "Doctors in training, England: 2016 terms as amended 2019", long_max=4, consec_max=7,
               rest46_after=1, weekend_one_in=3, source=_TCS_SRC + _TCS19)
TCS2016v1 = _tcs("TCS2016v1", "Doctors in training, England: 2016 terms, original (v1) thresholds", long_max=5,
                 consec_max=8, rest46_after=3, weekend_one_in=2, source=_TCS_SRC + " (2016, before the 2019 changes)")

RULE_SETS: dict[str, RuleSet] = {rs.name: rs for rs in (WTR, TCS2016, TCS2016v1)}

# Local rules a trust or team may add (ids start with "LOCAL-"); they reuse the same checks.
LOCAL_RULE_TEMPLATES = {
    "LOCAL-long3": Rule("LOCAL-long3", "consecutive_run", WARN, "Local trust rule",
                        {"filter": "long", "long_over_hours": 10, "max_run": 3, "rest_after_hours": None},
                        "At most 3 long days in a row"),
}


def local_rule(spec: dict) -> Rule:
    """Build a local rule from a stored spec: ``{"id": "LOCAL-long3", "max_run": 3, "severity": "warn", ...}``."""
    rule_id = str(spec.get("id", ""))
    base = LOCAL_RULE_TEMPLATES.get(rule_id) or Rule(rule_id, spec.get("check", "consecutive_run"), WARN,
                                                       "Local trust rule", {})
    params = {**base.params, **{k: v for k, v in spec.items()
                                if k not in ("id", "check", "severity", "title", "source")}}
    return Rule(rule_id, base.check, spec.get("severity", base.severity), spec.get("source", base.source), params,
                spec.get("title", base.title))


def customise(rule_set: RuleSet, *, severities: dict | None = None, disabled: Iterable[str] = (),
              params: dict | None = None, extra: Sequence[Rule] = (), name: str | None = None) -> RuleSet:
    """A copy of ``rule_set`` with severities changed (``{"WTR-rest11": "block"}``), rules switched off,
    thresholds changed (``{"WTR-weekly": {"fortnightly": True}}``) and local rules added."""
    severities, params, off = severities or {}, params or {}, set(disabled)
    rules = []
    for r in rule_set.rules:
        if r.id in off:
            continue
        sev = severities.get(r.id, r.severity)
        rules.append(replace(r, severity=sev if sev in SEVERITIES else r.severity,
                             params={**r.params, **params.get(r.id, {})}))
    rules.extend(e for e in extra if e.id not in off)
    return RuleSet(name or rule_set.name, rule_set.title, tuple(rules))


# ------------------------------------------------------------------------------------------ time helpers


@lru_cache(maxsize=65536)
def _local_instant(tz: str, day_ordinal: int, hour: int, minute: int = 0) -> int:
    """Epoch seconds of a local wall-clock time (the earlier instant if it is ambiguous)."""
    return int(wall_clock_instant(datetime.combine(date.fromordinal(day_ordinal), time(hour, minute)), tz).timestamp())


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
LONG_CHECKS = frozenset({"average_hours", "night_average"})  # these look back over a whole reference period


@lru_cache(maxsize=65536)
def _day_offset(tz: str, utc_day: int) -> int | None:
    """The zone's UTC offset in seconds throughout UTC day ``utc_day`` (days since 1970-01-01), or None on a day the
    offset changes (the callers then take the slow, exact path through ``astimezone``)."""
    first, last = utc_offset_at(utc_day * DAY, tz), utc_offset_at(utc_day * DAY + DAY - 1, tz)
    return int(first.total_seconds()) if first == last else None


def _const_offset(tz: str, s: int, e: int) -> int | None:
    """The UTC offset in force for the whole of [s, e), or None if it changes (or may change) inside it."""
    o = _day_offset(tz, s // DAY)
    if o is None:
        return None
    for d in range(s // DAY + 1, (e - 1) // DAY + 1):
        if _day_offset(tz, d) != o:
            return None
    return o


def _epoch(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the rules need instants (UTC or with an offset)")
    return int(dt.timestamp())


def fmt_duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    sign = "-" if minutes < 0 else ""
    h, m = divmod(abs(minutes), 60)
    if h and m:
        return f"{sign}{h} h {m} min"
    return f"{sign}{h} h" if h else f"{sign}{m} min"


def _hours(seconds: float) -> float:
    return round(seconds / HOUR, 2)


class _S:
    """A shift prepared once per evaluation: epoch seconds, and local facts computed when a rule first asks (a focused
    what-if never needs the local times of shifts far from the change)."""

    __slots__ = ("src", "s", "e", "tz", "on_call", "_night", "_weekend", "_ls", "_le", "day", "_when")

    def __init__(self, src: WorkShift):
        self.src = src
        self.s = _epoch(src.starts_at)
        self.e = _epoch(src.ends_at)
        self.tz = src.tz
        self.on_call = src.on_call
        self._night: dict | None = None
        self._weekend = None
        self._ls = self._le = self._when = None
        o = _day_offset(self.tz, self.s // DAY)  # the local date the shift starts on, as an ordinal
        self.day = (self.s + o) // DAY + _EPOCH_ORDINAL if o is not None else self.loc_s.date().toordinal()

    @property
    def loc_s(self) -> datetime:
        if self._ls is None:
            self._ls = self.src.starts_at.astimezone(zone(self.tz))
        return self._ls

    @property
    def loc_e(self) -> datetime:
        if self._le is None:
            self._le = self.src.ends_at.astimezone(zone(self.tz))
        return self._le

    @property
    def dur(self) -> int:
        return self.e - self.s

    def night_seconds(self, start_h: int, end_h: int) -> int:
        """Real seconds of this shift inside local night time (e.g. 23:00–06:00), across every night it touches."""
        key = (start_h, end_h)
        if self._night is None:
            self._night = {}
        got = self._night.get(key)
        if got is None:
            o = _const_offset(self.tz, self.s, self.e)
            if o is not None:  # one UTC offset throughout: wall-clock arithmetic on integers is exact
                ls, le = self.s + o, self.e + o
                got = 0
                for d in range(ls // DAY - 1, (le - 1) // DAY + 1):
                    ns = d * DAY + start_h * HOUR
                    ne = (d + 1 if end_h <= start_h else d) * DAY + end_h * HOUR
                    if ne > ls and ns < le:
                        got += min(le, ne) - max(ls, ns)
                self._night[key] = got
        if got is None:
            got = 0
            last = self.loc_e.date().toordinal()
            for d in range(self.day - 1, last + 1):
                ns = _local_instant(self.tz, d, start_h)
                ne = _local_instant(self.tz, d + 1 if end_h <= start_h else d, end_h)
                got += max(0, min(self.e, ne) - max(self.s, ns))
            self._night[key] = got
        return got

    def end_day(self) -> int:
        """Ordinal of the local date the shift ends on."""
        o = _day_offset(self.tz, self.e // DAY)
        return (self.e + o) // DAY + _EPOCH_ORDINAL if o is not None else self.loc_e.date().toordinal()

    def weekend(self) -> int | None:
        """Ordinal of the Saturday of the weekend this shift works in (any work Sat 00:01 – Sun 23:59), or None."""
        last = self.end_day()
        if self._weekend is None and (self.day + 6) % 7 < 4 and (last + 6) % 7 < 5 and self.e - self.s < 3 * DAY:
            self._weekend = -1  # Monday to Thursday start, ends by Friday: no weekend work
        if self._weekend is None:
            found = -1
            for d in range(self.day - 1, last + 1):
                if date.fromordinal(d).weekday() != 5:
                    continue
                ws = _local_instant(self.tz, d, 0, 1)
                we = _local_instant(self.tz, d + 1, 23, 59)
                if self.s < we and self.e > ws:
                    found = d
                    break
            self._weekend = found
        return None if self._weekend < 0 else self._weekend

    def when(self, end: bool = False, with_date: bool = True) -> str:
        if self._when is None:
            self._when = {}
        got = self._when.get((end, with_date))
        if got is None:
            t = self.loc_e if end else self.loc_s
            hm = f"{t.hour:02d}:{t.minute:02d}"
            got = f"{_DAYS[t.weekday()]} {t.day} {_MONTHS[t.month]} {hm}" if with_date else f"{_DAYS[t.weekday()]} {hm}"
            self._when[(end, with_date)] = got
        return got

    def label(self) -> str:
        return self.src.name or "shift"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day_label(ordinal: int) -> str:
    d = date.fromordinal(ordinal)
    return f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month]}"


class _Ctx:
    """Everything shared by the rules of one evaluation."""

    def __init__(self, shifts: Sequence[WorkShift], leave: Sequence[LeaveSpan], opted_out: bool, focus=None,
                 memo: dict | None = None):
        if memo is None:
            made = (_S(s) for s in shifts)
        else:  # the same WorkShift objects judged again (one person's rota, shift after shift): prepared once
            made = (memo.get(id(s)) or memo.setdefault(id(s), _S(s)) for s in shifts)
        prepared = sorted(made, key=lambda x: (x.s, x.e))
        self.all = prepared
        self.work = [x for x in prepared if not x.on_call]  # rostered shifts (on-call has its own rule)
        self.opted_out = opted_out
        self.starts = [x.s for x in prepared]
        # Running maximum, so the list stays sorted even if a what-if adds a shift that overlaps another.
        self.ends, top = [], -(2**62)
        for x in prepared:
            top = max(top, x.e)
            self.ends.append(top)
        self.prefix = [0]
        for x in prepared:
            self.prefix.append(self.prefix[-1] + x.dur)
        self.tz = prepared[0].tz if prepared else DEFAULT_ZONE
        self.leave_days = sorted({d for span in leave
                                  for d in range(span.first_day.toordinal(), span.last_day.toordinal() + 1)})
        self.cache: dict = {}
        # A what-if check only reports findings that involve the changed shifts: skip the rest early.
        self.focus = None if focus is None else set(focus)
        self.focus_spans = [] if focus is None else [(x.s, x.e) for x in prepared if x.src.identity in self.focus]
        if self.focus_spans:
            self.flo = min(a for a, _ in self.focus_spans)
            self.fhi = max(b for _, b in self.focus_spans)
        self.fast_touch = self.focus_spans[0] if len(self.focus_spans) == 1 else None

    def near(self, rule: Rule, work: bool = False) -> list[_S]:
        """The shifts a day-scale rule needs: in a focused check, those within the rule's reach (``reach_days``)
        of the focus; otherwise all. ``work``: rostered shifts only (no on-call)."""
        return self._slice(reach_days(rule))[1 if work else 0]

    def span(self, rule: Rule) -> tuple[int, int]:
        """``near(rule)`` as indexes [i, j) into ``all`` (rules with the same span share cached work)."""
        return self._slice(reach_days(rule))[2]

    def clipped(self, rule: Rule) -> tuple[bool, bool]:
        """Whether ``near(rule)`` left shifts out before / after the ones it kept."""
        i, j = self.span(rule)
        return i > 0, j < len(self.all)

    def _slice(self, days: int | None):
        key = ("near", days)
        got = self.cache.get(key)
        if got is None:
            i, j = self._bounds(None if days is None else days * DAY)
            kept = self.all[i:j]
            got = (kept, self.work if len(kept) == len(self.all) else [x for x in kept if not x.on_call], (i, j))
            self.cache[key] = got
        return got

    def _bounds(self, reach: int | None) -> tuple[int, int]:
        """Indexes [i, j) of the shifts overlapping the focus widened by ``reach`` seconds each way (all of them when
        not focused or no reach is given)."""
        if self.focus is None or reach is None:
            return 0, len(self.all)
        if not self.focus_spans:
            return 0, 0
        return self.between(self.flo - reach, self.fhi + reach)

    def between(self, a: int, b: int) -> tuple[int, int]:
        """Indexes [i, j) into ``all`` of the shifts that overlap [a, b)."""
        return bisect.bisect_right(self.ends, a), bisect.bisect_left(self.starts, b)

    def around_focus(self, reach: int) -> list[_S]:
        """Shifts that overlap the focus widened by ``reach`` seconds each way (all of them when not focused)."""
        i, j = self._bounds(reach)
        return self.all[i:j]

    def wants(self, shifts: Iterable[_S]) -> bool:
        return self.focus is None or any(x.src.identity in self.focus for x in shifts)

    def touches(self, a: int, b: int) -> bool:
        if self.focus is None:
            return True
        if self.fast_touch is not None:
            return self.fast_touch[0] < b and self.fast_touch[1] > a
        return any(s < b and e > a for s, e in self.focus_spans)

    def window_sums(self, length: int) -> list[tuple[int, int, int]]:
        """(a, b, seconds worked) for every candidate window of this length (shared by rule sets)."""
        got = self.cache.get(("win", length))
        if got is None:
            got = [(a, b, self.worked(a, b)) for a, b in _windows(self, length) if self.touches(a, b)]
            self.cache[("win", length)] = got
        return got

    def worked(self, a: int, b: int) -> int:
        """Seconds of work in [a, b) (shifts never overlap, so starts and ends sort together)."""
        i, j = self.between(a, b)
        if i >= j:
            return 0
        total = self.prefix[j] - self.prefix[i]
        first, last = self.all[i], self.all[j - 1]
        if first.s < a:
            total -= a - first.s
        if last.e > b:
            total -= last.e - b
        return total

    def leave_in(self, a: int, b: int) -> int:
        """Number of whole leave days whose local date starts within [a, b)."""
        if not self.leave_days:
            return 0
        lo = datetime.fromtimestamp(a, zone(self.tz)).date().toordinal()
        hi = datetime.fromtimestamp(b - 1, zone(self.tz)).date().toordinal()
        return bisect.bisect_right(self.leave_days, hi) - bisect.bisect_left(self.leave_days, lo)


def _verdict(rule: Rule, rs: RuleSet, *, observed: str, limit: str, message: str, shifts: Sequence[_S],
             kind: str = "maximum", observed_value=None, limit_value=None, unit: str = "hours") -> Verdict:
    shifts = sorted(shifts, key=lambda x: x.s)
    return Verdict(rule.id, rule.severity, observed, limit, message, tuple(x.src.id for x in shifts), rs.name,
                   rule.source, kind, observed_value, limit_value, unit,
                   shifts[0].src.starts_at.astimezone(UTC) if shifts else None,
                   tuple(x.src.identity for x in shifts))


def _windows(ctx: _Ctx, length: int, shifts: Sequence[_S] | None = None):
    """Candidate windows [a, a+length): anchored at every shift start and ending at every shift end (in a focused
    check, only the shifts close enough for such a window to touch the focus)."""
    shifts = ctx.around_focus(length) if shifts is None else shifts
    seen = set()
    for x in shifts:
        for a in (x.s, x.e - length):
            if a not in seen:
                seen.add(a)
                yield a, a + length


def _merge_breaches(breaches):
    """Breaches are (a, b, value, ...) windows; overlapping ones collapse into one finding (the worst)."""
    breaches.sort(key=lambda t: t[0])
    groups: list[list] = []
    for br in breaches:
        if groups and br[0] < groups[-1][-1][1]:
            groups[-1].append(br)
        else:
            groups.append([br])
    return [max(g, key=lambda t: t[2]) for g in groups], groups


def _in_window(ctx: _Ctx, a: int, b: int) -> list[_S]:
    i = bisect.bisect_right(ctx.ends, a)
    j = bisect.bisect_left(ctx.starts, b)
    return ctx.all[i:j]


# ----------------------------------------------------------------------------------------------- checks


def check_max_in_window(rule, rs, ctx):
    p = rule.params
    limit, length = p["max_hours"] * HOUR, int(p["window_hours"] * HOUR)
    breaches = [t for t in ctx.window_sums(length) if t[2] > limit]
    worst, groups = _merge_breaches(breaches)
    out = []
    for (a, b, w), group in zip(worst, groups, strict=True):
        involved = {id(x): x for g in group for x in _in_window(ctx, g[0], g[1])}.values()
        first = _in_window(ctx, a, b)[0]
        days = int(round(p["window_hours"] / 24))
        out.append(_verdict(rule, rs, observed=fmt_duration(w), limit=fmt_duration(limit), shifts=list(involved),
                            observed_value=_hours(w), limit_value=p["max_hours"],
                            message=f"{fmt_duration(w)} of work in the {days} days from your {first.label()} starting "
                                    f"{first.when()} (maximum {fmt_duration(limit)} in any {days} days)."))
    return out


def check_average_hours(rule, rs, ctx):
    p = rule.params
    if ctx.opted_out and p.get("opt_out_allowed"):
        return []
    max_avg = p.get("opted_out_max_avg_hours", p["max_avg_hours"]) if ctx.opted_out else p["max_avg_hours"]
    weeks = p["reference_weeks"]
    length = weeks * WEEK
    breaches = []
    cap = max_avg * HOUR * weeks
    if ctx.prefix[-1] <= cap and not ctx.leave_days:
        return []
    for a, b, w in ctx.window_sums(length):
        if w <= cap and not ctx.leave_days:
            continue
        work_weeks = (length / DAY - ctx.leave_in(a, b)) / 7
        if work_weeks <= 0:
            continue
        avg = w / work_weeks
        if avg > max_avg * HOUR:
            breaches.append((a, b, avg))
    worst, groups = _merge_breaches(breaches)
    out = []
    opt = " (you have opted out of the 48-hour week)" if ctx.opted_out else ""
    for (a, b, avg), group in zip(worst, groups, strict=True):
        involved = {id(x): x for g in group for x in _in_window(ctx, g[0], g[1])}.values()
        first = _in_window(ctx, a, b)[0]
        out.append(_verdict(rule, rs, observed=f"{fmt_duration(avg)} a week", limit=f"{max_avg} h a week",
                            shifts=list(involved), observed_value=_hours(avg), limit_value=max_avg,
                            message=f"Your average week would be {fmt_duration(avg)} over the {weeks} weeks from "
                                    f"{_day_label(first.day)} (maximum average {max_avg} h){opt}."))
    return out


def _is_night(x: _S, p: dict) -> bool:
    return not x.on_call and x.night_seconds(p.get("night_start", 23), p.get("night_end", 6)) \
        >= p.get("min_night_hours", 3) * HOUR


def check_night_average(rule, rs, ctx):
    p = rule.params
    weeks = p["reference_weeks"]
    length = weeks * WEEK
    limit = p["max_hours_per_24h"]
    nights = [x for x in ctx.around_focus(length) if _is_night(x, p)]
    if not nights:
        return []
    night_starts = [x.s for x in nights]
    breaches = []
    for a, b in _windows(ctx, length, nights):
        if not ctx.touches(a, b):
            continue
        n = bisect.bisect_left(night_starts, b) - bisect.bisect_left(night_starts, a)
        if n < p["night_shifts_per_week"] * weeks:  # not a night worker in this reference period
            continue
        days = length / DAY
        # Reg 6(3): divide by the days of the period less the weekly rest days (and, here, leave days).
        denom = days - days / 7 - ctx.leave_in(a, b)
        if denom <= 0:
            continue
        per_day = ctx.worked(a, b) / denom
        if per_day > limit * HOUR:
            breaches.append((a, b, per_day))
    worst, groups = _merge_breaches(breaches)
    out = []
    for (a, b, per_day), group in zip(worst, groups, strict=True):
        involved = {id(x): x for g in group for x in _in_window(ctx, g[0], g[1])}.values()
        first = _in_window(ctx, a, b)[0]
        out.append(_verdict(rule, rs, observed=f"{fmt_duration(per_day)} a day", limit=f"{limit} h a day",
                            shifts=list(involved), observed_value=_hours(per_day), limit_value=limit,
                            message=f"As a night worker your normal hours would average {fmt_duration(per_day)} "
                                    f"in 24 over the {weeks} weeks from {_day_label(first.day)} (maximum {limit} h; "
                                    f"the opt-out does not apply to this)."))
    return out


def check_rest_between(rule, rs, ctx):
    need = rule.params["min_rest_hours"] * HOUR
    out = []
    work = ctx.near(rule, work=True)
    for prev, nxt in zip(work, work[1:], strict=False):
        gap = nxt.s - prev.e
        if gap < need and ctx.wants((prev, nxt)):
            gap = max(gap, 0)  # overlapping shifts (refused elsewhere) leave no rest at all
            out.append(_verdict(rule, rs, kind="minimum", observed=fmt_duration(gap), limit=fmt_duration(need),
                                shifts=[prev, nxt], observed_value=_hours(gap), limit_value=need / HOUR,
                                message=f"Only {fmt_duration(gap)} rest between your {prev.label()} ending "
                                        f"{prev.when(end=True)} and your {nxt.label()} starting "
                                        f"{nxt.when(with_date=nxt.day - prev.loc_e.date().toordinal() > 1)} "
                                        f"(minimum {fmt_duration(need)})."))
    return out


def _rests_within(ctx: _Ctx, a: int, b: int) -> list[int]:
    """Uninterrupted rest periods inside [a, b) (work clipped to it), in seconds."""
    rests, cursor = [], a
    for x in _in_window(ctx, a, b):
        if x.s > cursor:
            rests.append(x.s - cursor)
        cursor = max(cursor, x.e)
    if b > cursor:
        rests.append(b - cursor)
    return rests


def check_weekly_rest(rule, rs, ctx):
    p = rule.params
    near = ctx.near(rule)
    if not near:
        return []
    tz = ctx.tz
    first = date.fromordinal(near[0].day - 1)
    monday = first - timedelta(days=first.weekday())
    last = near[-1].loc_e.date()
    out = []
    span = 14 if p.get("fortnightly") else 7
    if span == 14 and (monday.toordinal() // 7) % 2:  # fortnights are fixed pairs of weeks, whoever asks
        monday -= timedelta(days=7)
    d = monday
    while d <= last:
        a = _local_instant(tz, d.toordinal(), 0)
        b = _local_instant(tz, d.toordinal() + span, 0)
        involved = _in_window(ctx, a, b) if ctx.touches(a, b) else None
        if involved:
            rests = _rests_within(ctx, a, b)
            longest = max(rests, default=0)
            if span == 7:
                ok, need = longest >= p["min_rest_hours"] * HOUR, p["min_rest_hours"] * HOUR
                what = f"{fmt_duration(need)} break"
                period = f"the week starting {_day_label(d.toordinal())}"
            else:
                need = p["fortnight_rest_hours"] * HOUR
                enough = [r for r in rests if r >= p["min_rest_hours"] * HOUR]
                ok = longest >= need or len(enough) >= p["fortnight_rests"]
                what = f"{fmt_duration(need)} break (or two breaks of {p['min_rest_hours']} h)"
                period = f"the fortnight starting {_day_label(d.toordinal())}"
            if not ok:
                out.append(_verdict(rule, rs, kind="minimum", observed=fmt_duration(longest), limit=fmt_duration(need),
                                    shifts=involved, observed_value=_hours(longest), limit_value=need / HOUR,
                                    message=f"No {what} in {period}: your longest break is "
                                            f"{fmt_duration(longest)}."))
        d += timedelta(days=span)
    return out


def check_break(rule, rs, ctx):
    p = rule.params
    out = []
    for x in ctx.near(rule, work=True):
        if x.dur > p["over_hours"] * HOUR and x.src.break_minutes is not None \
                and x.src.break_minutes < p["min_break_minutes"] and ctx.wants((x,)):
            out.append(_verdict(rule, rs, kind="minimum", observed=f"{x.src.break_minutes} min",
                                limit=f"{p['min_break_minutes']} min", shifts=[x],
                                observed_value=x.src.break_minutes / 60, limit_value=p["min_break_minutes"] / 60,
                                message=f"Your {x.label()} starting {x.when()} lasts {fmt_duration(x.dur)} but has "
                                        f"only a {x.src.break_minutes}-minute break rostered (minimum "
                                        f"{p['min_break_minutes']} min when working more than {p['over_hours']} h)."))
    return out


def check_max_shift_length(rule, rs, ctx):
    limit = rule.params["max_hours"] * HOUR
    return [_verdict(rule, rs, observed=fmt_duration(x.dur), limit=fmt_duration(limit), shifts=[x],
                     observed_value=_hours(x.dur), limit_value=limit / HOUR,
                     message=f"Your {x.label()} starting {x.when()} lasts {fmt_duration(x.dur)} "
                             f"(no shift may be longer than {fmt_duration(limit)}).")
            for x in ctx.near(rule, work=True) if x.dur > limit and ctx.wants((x,))]


def _qualifies(x: _S, p: dict) -> bool:
    f = p.get("filter", "any")
    if f == "any":
        return True
    if x.on_call:
        return False
    if f == "long":
        return x.dur > p.get("long_over_hours", 10) * HOUR
    if f == "night":
        return _is_night(x, p)
    return x.src.kind == f


def _runs(ctx: _Ctx, rule: Rule, p: dict) -> list[list[_S]]:
    """Shifts that qualify, grouped into runs on consecutive local start dates (cached per kind of shift)."""
    key = ("runs", ctx.span(rule), p.get("filter", "any"), p.get("long_over_hours"), p.get("night_start"),
           p.get("night_end"), p.get("min_night_hours"))
    got = ctx.cache.get(key)
    if got is None:
        got = _find_runs(ctx.near(rule), p)
        # A run cut off at the edge of ``near`` may be longer than it looks: if it reaches close to the focus,
        # find the runs again over everything.
        close, (before, after) = 3 * DAY, ctx.clipped(rule)
        if got and ((before and max(x.e for x in got[0]) > ctx.flo - close)
                    or (after and got[-1][0].s < ctx.fhi + close)):
            got = _find_runs(ctx.all, p)
        ctx.cache[key] = got
    return got


def _find_runs(shifts: Sequence[_S], p: dict) -> list[list[_S]]:
    runs: list[list[_S]] = []
    last_day = None
    for x in shifts:
        if not _qualifies(x, p):
            continue
        if runs and (x.day == last_day or x.day == last_day + 1):
            runs[-1].append(x)
        else:
            runs.append([x])
        last_day = x.day
    return runs


_WHAT = {"any": "shifts", "long": "long shifts", "night": "night shifts"}


def _next_after(ctx: _Ctx, end: int, exclude: set) -> _S | None:
    for x in ctx.all[bisect.bisect_left(ctx.starts, end):]:
        if id(x) not in exclude:
            return x
    return None


def check_consecutive_run(rule, rs, ctx):
    p = rule.params
    cap = p["max_run"]
    what = _WHAT.get(p.get("filter", "any"), "shifts")
    out = []
    for run in _runs(ctx, rule, p):
        days = run[-1].day - run[0].day + 1
        if days > cap and ctx.wants(run):
            out.append(_verdict(rule, rs, observed=f"{days} days", limit=f"{cap} days", shifts=run, unit="count",
                                observed_value=days, limit_value=cap,
                                message=f"{days} {what} in a row ({_day_label(run[0].day)} to "
                                        f"{_day_label(run[-1].day)}); the maximum is {cap}."))
        rest = p.get("rest_after_hours")
        if rest and days >= cap:
            end = max(x.e for x in run)
            nxt = _next_after(ctx, end, {id(x) for x in run})
            if nxt is not None and nxt.s - end < rest * HOUR and ctx.wants([*run, nxt]):
                gap = nxt.s - end
                out.append(_verdict(rule, rs, kind="minimum", observed=fmt_duration(gap), limit=f"{rest} h",
                                    shifts=[*run, nxt], observed_value=_hours(gap), limit_value=rest,
                                    message=f"Only {fmt_duration(gap)} rest after {days} {what} in a row (ending "
                                            f"{run[-1].when(end=True)}) before your {nxt.label()} starting "
                                            f"{nxt.when()} (minimum {rest} h)."))
    return out


def check_rest_after_nights(rule, rs, ctx):
    p = {**rule.params, "filter": "night"}
    need = p["min_rest_hours"] * HOUR
    out = []
    for run in _runs(ctx, rule, p):
        if len({x.day for x in run}) < p["min_run"]:
            continue
        end = max(x.e for x in run)
        nxt = _next_after(ctx, end, {id(x) for x in run})
        if nxt is not None and nxt.s - end < need and ctx.wants([*run, nxt]):
            gap = nxt.s - end
            n = len(run)
            nights = "night" if n == 1 else f"{n} nights in a row"
            out.append(_verdict(rule, rs, kind="minimum", observed=fmt_duration(gap), limit=fmt_duration(need),
                                shifts=[*run, nxt], observed_value=_hours(gap), limit_value=need / HOUR,
                                message=f"Only {fmt_duration(gap)} rest after your {nights} ending "
                                        f"{run[-1].when(end=True)} before your {nxt.label()} starting {nxt.when()} "
                                        f"(minimum {fmt_duration(need)} after nights)."))
    return out


def check_weekends(rule, rs, ctx):
    p = rule.params
    one_in, cycle = p["one_in"], p["cycle_weeks"]
    allowed = weekends_allowed(rule)
    by_weekend: dict[int, list[_S]] = {}
    for x in ctx.near(rule):
        w = x.weekend()
        if w is not None:
            by_weekend.setdefault(w, []).append(x)
    worked = sorted(by_weekend)
    breaches = [(worked[i], worked[i] + 7 * cycle, j - i, worked[i:j])
                for i, j in weekend_windows(worked, cycle) if j - i > allowed]
    worst, groups = _merge_breaches(breaches)
    out = []
    for (sat, _end, n, _sats), group in zip(worst, groups, strict=True):
        involved = [x for g in group for s in g[3] for x in by_weekend[s]]
        involved = list({id(x): x for x in involved}.values())
        out.append(_verdict(rule, rs, observed=f"{n} of {cycle} weekends", limit=f"{allowed} of {cycle} weekends",
                            shifts=involved, unit="count", observed_value=n, limit_value=allowed,
                            message=f"You would work {n} of the {cycle} weekends from {_day_label(sat)} (maximum "
                                    f"1 weekend in {one_in}, so {allowed} in {cycle})."))
    return out


def check_on_call(rule, rs, ctx):
    p = rule.params
    calls = [x for x in ctx.near(rule) if x.on_call]
    out = []
    cap = p["max_hours"] * HOUR
    for x in calls:
        if x.dur > cap:
            out.append(_verdict(rule, rs, observed=fmt_duration(x.dur), limit=fmt_duration(cap), shifts=[x],
                                observed_value=_hours(x.dur), limit_value=p["max_hours"],
                                message=f"Your on-call starting {x.when()} lasts {fmt_duration(x.dur)} "
                                        f"(maximum {fmt_duration(cap)})."))
    for a, b in zip(calls, calls[1:], strict=False):
        if b.day == a.day + 1 and not (date.fromordinal(a.day).weekday() == 5):
            out.append(_verdict(rule, rs, observed="2 in a row", limit="none in a row (except Sat + Sun)",
                                shifts=[a, b], unit="count", observed_value=2, limit_value=1,
                                message=f"On-call on consecutive days ({_day_label(a.day)} and {_day_label(b.day)}); "
                                        f"only Saturday and Sunday on-calls may follow each other."))
    days = [x.day for x in calls]
    reported_upto = -1
    for i, x in enumerate(calls):
        j = bisect.bisect_left(days, x.day + 7)
        if j - i > p["max_per_7_days"] and j - 1 > reported_upto:
            reported_upto = j - 1
            out.append(_verdict(rule, rs, observed=f"{j - i} in 7 days", limit=f"{p['max_per_7_days']} in 7 days",
                                shifts=calls[i:j], unit="count", observed_value=j - i,
                                limit_value=p["max_per_7_days"],
                                message=f"{j - i} on-calls in the 7 days from {_day_label(x.day)} "
                                        f"(maximum {p['max_per_7_days']})."))
    after_cap = p["day_after_max_hours"] * HOUR
    by_day: dict[int, list[_S]] = {}
    for x in ctx.near(rule, work=True):
        by_day.setdefault(x.day, []).append(x)
    for x in calls:
        nxt = by_day.get(x.day + 1, [])
        total = sum(y.dur for y in nxt)
        if total > after_cap:
            out.append(_verdict(rule, rs, observed=fmt_duration(total), limit=fmt_duration(after_cap),
                                shifts=[x, *nxt], observed_value=_hours(total), limit_value=p["day_after_max_hours"],
                                message=f"{fmt_duration(total)} of work on {_day_label(x.day + 1)}, the day after your "
                                        f"on-call (maximum {fmt_duration(after_cap)})."))
    return out


CHECKS = {
    "max_in_window": check_max_in_window,
    "average_hours": check_average_hours,
    "night_average": check_night_average,
    "rest_between": check_rest_between,
    "weekly_rest": check_weekly_rest,
    "break": check_break,
    "max_shift_length": check_max_shift_length,
    "consecutive_run": check_consecutive_run,
    "rest_after_nights": check_rest_after_nights,
    "weekends": check_weekends,
    "on_call": check_on_call,
}


# ------------------------------------------------------------------------------------------------ entry points


def evaluate(shifts: Iterable[WorkShift], rule_sets: Iterable[RuleSet | str] = ("WTR",), *,
             leave: Iterable[LeaveSpan] = (), opted_out: bool = False, focus: Iterable | None = None,
             skip: Iterable[str] = (), prepared: dict | None = None) -> list[Verdict]:
    """Every verdict for one person's shifts (which must not overlap) under the given rule sets.

    ``focus`` (shift identities) limits the work to findings that involve those shifts: the same answer as
    ``involving(evaluate(...), focus)`` (up to how overlapping windows are merged), only faster. ``skip``: checks
    the caller has shown cannot fire (``LONG_CHECKS`` for someone whose busiest reference period is within them).
    ``prepared``: a dict the caller keeps between evaluations that pass the same ``WorkShift`` objects again (and
    keeps them alive meanwhile): each is prepared for the rules once."""
    rule_sets = [RULE_SETS[rs] if isinstance(rs, str) else rs for rs in rule_sets]
    ctx = _Ctx(list(shifts), list(leave), opted_out, focus, prepared)
    out: list[Verdict] = []
    if not ctx.all:
        return out
    for rs in rule_sets:
        for rule in rs.rules:
            check = CHECKS.get(rule.check)
            if check is not None and rule.check not in skip:
                out.extend(check(rule, rs, ctx))
    if ctx.focus is not None:
        out = involving(out, ctx.focus)
    out.sort(key=lambda v: (v.starts_at or datetime.min.replace(tzinfo=UTC), v.rule_id, v.rule_set))
    return out


def reach_days(rule: Rule) -> int | None:
    """How many days either side of a changed shift a rule needs to see to judge it (None for the reference-period
    rules in ``LONG_CHECKS``, and for any check this table does not know)."""
    p, check = rule.params, rule.check
    days = lambda hours: math.ceil((hours or 0) / 24)  # noqa: E731
    if check == "rest_between":
        return days(p["min_rest_hours"]) + 2
    if check == "weekly_rest":
        return 16 if p.get("fortnightly") else 9
    if check in ("break", "max_shift_length"):
        return 2
    if check == "consecutive_run":  # a longer run is still found, its length counted up to this far
        return p["max_run"] + 3 + days(p.get("rest_after_hours"))
    if check == "rest_after_nights":
        return p["min_run"] + 3 + days(p["min_rest_hours"])
    if check == "on_call":
        return 9
    if check == "max_in_window":
        return days(p["window_hours"]) + 2
    if check == "weekends":
        return 7 * p["cycle_weeks"] + 9
    return None


def near_days(rule_sets: Sequence[RuleSet]) -> int:
    """How far from a change the day-scale rules look, for these rule sets (at least 9 days)."""
    return max([9, *(d for rs in rule_sets for r in rs.rules if r.check not in LONG_CHECKS
                     and (d := reach_days(r)) is not None)])


def involving(verdicts: Iterable[Verdict], keys: Iterable) -> list[Verdict]:
    """Only the verdicts that involve one of the shifts with these identities (what a change is to blame for)."""
    keys = set(keys)
    return [v for v in verdicts if keys.intersection(v.shift_keys)]


def counts_in_run(shift: WorkShift, params: dict) -> bool:
    """Whether ``shift`` counts towards a ``consecutive_run`` / ``rest_after_nights`` rule with these params (a long
    shift, a night, or any shift), classified exactly as the checks do (real elapsed time, local night hours)."""
    return _qualifies(_S(shift), params)


def weekend_of(shift: WorkShift) -> date | None:
    """The Saturday of the weekend ``shift`` works in (any work Sat 00:01 – Sun 23:59 local), as the ``weekends``
    check counts it; None when it touches no weekend."""
    sat = _S(shift).weekend()
    return None if sat is None else date.fromordinal(sat)


def weekend_windows(saturdays: list[int], cycle_weeks: int):
    """Each run of ``cycle_weeks`` weeks that starts on a worked weekend, as (first, end) indexes into ``saturdays``
    (the worked weekends' Saturdays, ordinals, sorted): how ``check_weekends`` and ``position`` both count."""
    for i, sat in enumerate(saturdays):
        yield i, bisect.bisect_left(saturdays, sat + 7 * cycle_weeks)


def weekends_allowed(rule: Rule) -> int:
    """How many weekends a ``weekends`` rule allows in any ``cycle_weeks`` consecutive weeks (1 in 3 over 26: 9)."""
    return math.ceil(rule.params["cycle_weeks"] / rule.params["one_in"])


def local_datetime(day: date, at: time, tz: str) -> datetime:
    """A local wall-clock time as an aware datetime; refuses times that do not exist or are ambiguous there."""
    naive = datetime.combine(day, at)
    try:
        return localize(naive, tz)
    except NonexistentLocalTime:
        raise ValueError(f"{naive:%d %b %Y %H:%M} does not exist in {tz} (the clocks go forward)") from None
    except AmbiguousLocalTime:
        raise ValueError(f"{naive:%d %b %Y %H:%M} is ambiguous in {tz} (the clocks go back): "
                         "give a UTC offset") from None


# ------------------------------------------------------------------------------------------- a person's position


@dataclass(frozen=True)
class Measure:
    """One number of a person's working-time position with the limit it is held against (``kind`` "maximum": at
    most the limit; "minimum": at least). ``value``/``limit`` in ``unit`` ("hours", "count"); texts for people."""

    rule_id: str
    title: str
    value: float | None
    limit: float
    unit: str
    kind: str
    observed: str
    limit_text: str

    @property
    def within(self) -> bool:
        if self.value is None:
            return True
        return self.value <= self.limit if self.kind == "maximum" else self.value >= self.limit


@dataclass(frozen=True)
class WeekHours:
    monday: date
    hours: float  # real elapsed hours worked in that local Monday-to-Monday week (168 h, or 167/169 at a clock change)
    week_hours: float  # how long that week really was


@dataclass(frozen=True)
class Position:
    measures: tuple[Measure, ...]
    weeks: tuple[WeekHours, ...]
    weekly_limit: float | None  # the average-week limit drawn on the chart (48, or 56 opted out); None if none applies
    peak_limit: float | None  # 72 h in any 168 (doctors in training), None otherwise
    worked: float = 0.0  # hours of work inside the period (real elapsed time, on-call excluded as in the checks)

    @property
    def worked_text(self) -> str:
        """"103 h 30 min": the hours worked in the period, as the page shows them."""
        return fmt_duration(self.worked * HOUR)


def position(shifts: Iterable[WorkShift], rule_sets: Iterable[RuleSet | str], *, first_day: date, last_day: date,
             tz: str, leave: Iterable[LeaveSpan] = (), opted_out: bool = False) -> Position:
    """Where one person stands against their rules between two local days (inclusive): the numbers behind the
    verdicts, each with its limit, and the hours of each local week for a chart. Same conventions as the checks:
    real elapsed time (a week with a clock change lasts 167 or 169 hours), shifts keyed to the local day they start,
    nights and weekends classified locally, leave days taken out of averages. Only shifts overlapping the period
    count, and only the part inside it (a night across the period's edge counts its hours on each side)."""
    rule_sets = [RULE_SETS[rs] if isinstance(rs, str) else rs for rs in rule_sets]
    lo = _local_instant(tz, first_day.toordinal(), 0)
    hi = _local_instant(tz, last_day.toordinal() + 1, 0)
    ctx = _Ctx(list(shifts), list(leave), opted_out)
    inside = [x for x in ctx.all if x.e > lo and x.s < hi and lo <= x.s]
    work = [x for x in inside if not x.on_call]
    rules = {r.id: r for rs in rule_sets for r in rs.rules}
    out: list[Measure] = []

    days = last_day.toordinal() - first_day.toordinal() + 1
    leave_days = sum(1 for d in ctx.leave_days if first_day.toordinal() <= d <= last_day.toordinal())
    worked = ctx.worked(lo, hi) if ctx.all else 0
    avg_rule = rules.get("TCS-avg48") or (None if opted_out else rules.get("WTR-avg48"))
    weekly_limit = None
    if avg_rule is not None:
        p = avg_rule.params
        weekly_limit = p.get("opted_out_max_avg_hours", p["max_avg_hours"]) if opted_out else p["max_avg_hours"]
        work_weeks = (days - leave_days) / 7
        avg = worked / work_weeks if work_weeks > 0 else None
        out.append(Measure(avg_rule.id, "Average week", None if avg is None else _hours(avg), weekly_limit, "hours",
                           "maximum", "–" if avg is None else f"{fmt_duration(avg)} a week",
                           f"{weekly_limit} h a week (average over {p['reference_weeks']} weeks)"))
    peak_rule = rules.get("TCS-72in168")
    peak_limit = None
    if peak_rule is not None:
        p = peak_rule.params
        peak_limit = p["max_hours"]
        length = int(p["window_hours"] * HOUR)
        peak = max((ctx.worked(a, b) for a, b in _windows(ctx, length, inside)), default=0)
        out.append(Measure(peak_rule.id, f"Most hours in any {p['window_hours']} hours", _hours(peak), peak_limit,
                           "hours", "maximum", fmt_duration(peak), f"{peak_limit} h"))
    length_rule = rules.get("TCS-max13")
    if length_rule is not None and work:
        longest = max(x.dur for x in work)
        out.append(Measure(length_rule.id, "Longest shift", _hours(longest), length_rule.params["max_hours"], "hours",
                           "maximum", fmt_duration(longest), f"{length_rule.params['max_hours']} h"))
    for rid, title in (("TCS-long4", "Long shifts (over 10 h) in a row"), ("TCS-nights4", "Nights in a row"),
                       ("TCS-consec7", "Shifts on consecutive days")):
        r = rules.get(rid)
        if r is None:
            continue
        runs = _find_runs(inside, r.params)
        most = max((run[-1].day - run[0].day + 1 for run in runs), default=0)
        out.append(Measure(rid, title, most, r.params["max_run"], "count", "maximum", str(most),
                           str(r.params["max_run"])))
    wk = rules.get("TCS-weekend")
    if wk is not None:
        # As check_weekends counts them: the most weekends worked in any cycle_weeks running weeks, here those
        # windows that hold a weekend of these dates (the margin read around them covers the windows).
        one_in, cycle = wk.params["one_in"], wk.params["cycle_weeks"]
        allowed = weekends_allowed(wk)
        worked_sats = sorted({w for x in ctx.all if (w := x.weekend()) is not None})
        on_page = {w for x in inside if (w := x.weekend()) is not None}
        most = max((j - i for i, j in weekend_windows(worked_sats, cycle)
                    if on_page.intersection(worked_sats[i:j])), default=0)
        out.append(Measure(wk.id, "Weekends worked", most, allowed, "count", "maximum",
                           f"{most} in {cycle} weeks", f"{allowed} in {cycle} weeks (1 in {one_in})"))
    rest_rule = rules.get("TCS-rest11") or rules.get("WTR-rest11")
    if rest_rule is not None:
        need = rest_rule.params["min_rest_hours"]
        gaps = [max(b.s - a.e, 0) for a, b in zip(work, work[1:], strict=False)]
        least = min(gaps) if gaps else None
        out.append(Measure(rest_rule.id, "Shortest rest between shifts", None if least is None else _hours(least),
                           need, "hours", "minimum", "–" if least is None else fmt_duration(least), f"{need} h"))

    weeks: list[WeekHours] = []
    monday = first_day - timedelta(days=first_day.weekday())
    while monday <= last_day:
        a = _local_instant(tz, monday.toordinal(), 0)
        b = _local_instant(tz, monday.toordinal() + 7, 0)
        weeks.append(WeekHours(monday, _hours(ctx.worked(a, b)) if ctx.all else 0.0, _hours(b - a)))
        monday += timedelta(days=7)
    return Position(tuple(out), tuple(weeks), weekly_limit, peak_limit, _hours(worked))
