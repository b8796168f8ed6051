"""The measures as tables (the same rows feed the page, its charts, the CSV downloads and the site comparison)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from core.spreadsheet import safe_cell
from insights.service import TeamMeasures


@dataclass
class Table:
    key: str  # the CSV's name
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    summary: str = ""  # one sentence, read before the chart


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        value = f"{value:.1f}".rstrip("0").rstrip(".") if unit != "£" else f"{value:.2f}"
    return f"{value}{unit}" if unit not in ("£",) else f"£{value}"


def _change(now, before) -> str:
    if now is None or before is None:
        return ""
    d = round(float(now) - float(before), 1)
    return "no change" if d == 0 else (f"+{d:g}" if d > 0 else f"{d:g}")


def _pair_rows(spec, cur: dict, prev: dict) -> list[list]:
    return [[label, _fmt(cur.get(key), unit), _fmt(prev.get(key), unit), _change(cur.get(key), prev.get(key))]
            for label, key, unit in spec]


PAIR_COLUMNS = ["Measure", "This period", "Previous period", "Change"]

COVER = [("Slots (shifts starting in the period)", "slots", ""),
         ("Filled at publication", "filled_at_publication_rate", "%"),
         ("Filled 24 h before", "filled_24h_before_rate", "%"),
         ("Filled at start", "filled_at_start_rate", "%"),
         ("Gaps unfilled at start", "unfilled_at_start", "")]
OPEN = [("Open shifts created", "created", ""), ("Filled before start", "filled", ""),
        ("Fill rate", "fill_rate", "%"), ("Short-notice gaps (< 24 h)", "short_notice", ""),
        ("Time to fill, median (min)", "time_to_fill_median_min", ""),
        ("Time to fill, 90th percentile (min)", "time_to_fill_p90_min", "")]
SWAPS = [("Requests", "requests", ""), ("Swaps", "swaps", ""), ("Offers", "offers", ""),
         ("Approved", "approved", ""), ("Auto-approved share", "auto_approved_share", "%"),
         ("Refused", "refused", ""), ("Time to decision, median (min)", "decision_median_min", ""),
         ("Time to decision, 90th percentile (min)", "decision_p90_min", "")]
BROADCASTS = [("Broadcasts", "broadcasts", ""), ("People asked", "recipients", ""),
              ("Reached in the app", "in_app", ""), ("Reached by push", "push", ""), ("Reached by SMS", "sms", ""),
              ("Read rate (in-app)", "read_rate", "%"), ("Acknowledgement rate", "ack_rate", "%"),
              ("SMS segments", "sms_segments", ""), ("Estimated SMS cost (pence)", "sms_cost_pence", "")]
WORKING = [("Blocking verdicts avoided (changes refused)", "blocking_avoided", ""),
           ("Warnings accepted", "warnings_accepted", ""), ("Overrides", "overrides", ""),
           ("Nights spread (max − min per person)", "nights_spread", ""),
           ("Weekends spread (max − min per person)", "weekends_spread", "")]
HANDOVER = [("Handed over", "handed_over", ""), ("Accepted", "accepted", ""),
            ("Time to acceptance, median (min)", "acceptance_median_min", ""),
            ("Time to acceptance, 90th percentile (min)", "acceptance_p90_min", ""),
            ("Overdue", "overdue", ""), ("Carried forward unreviewed", "carried_unreviewed", "")]
HOW_LABELS = {"app": "Claimed in the app", "card": "Channel card", "sms": "SMS reply",
              "coordinator": "Coordinator assigned"}
WHERE_LABELS = {"own": "Own ward", "bank": "Staff bank", "neighbour": "Neighbouring ward"}


def team_tables(cur: TeamMeasures, prev: TeamMeasures) -> list[Table]:
    c, p = cur.cover, prev.cover
    tables = [
        Table("cover", "Cover", PAIR_COLUMNS, _pair_rows(COVER, c, p),
              f"{_fmt(c.get('filled_at_start_rate'), '%')} of {c.get('slots', 0)} shifts were filled at their start "
              f"(previous period {_fmt(p.get('filled_at_start_rate'), '%')}); "
              f"{c.get('unfilled_at_start', 0)} gaps were left unfilled."),
        Table("open-shifts", "Open shifts", PAIR_COLUMNS, _pair_rows(OPEN, cur.open_shifts, prev.open_shifts),
              f"{cur.open_shifts.get('filled', 0)} of {cur.open_shifts.get('created', 0)} open shifts were filled; "
              f"half within {_fmt(cur.open_shifts.get('time_to_fill_median_min'))} minutes, nine in ten within "
              f"{_fmt(cur.open_shifts.get('time_to_fill_p90_min'))}."),
        Table("fill-routes", "How open shifts were filled", ["Route", "This period", "Previous period"],
              [[HOW_LABELS[k], cur.open_shifts["by_how"][k], prev.open_shifts["by_how"][k]] for k in HOW_LABELS]
              + [[WHERE_LABELS[k], cur.open_shifts["by_where"][k], prev.open_shifts["by_where"][k]]
                 for k in WHERE_LABELS],
              _routes_summary(cur)),
        Table("swaps", "Swaps and offers", PAIR_COLUMNS, _pair_rows(SWAPS, cur.swaps, prev.swaps),
              f"{cur.swaps.get('requests', 0)} requests, {_fmt(cur.swaps.get('auto_approved_share'), '%')} of "
              f"approvals automatic; {cur.swaps.get('refused', 0)} refused."),
        Table("refusals", "Refusals by reason", ["Reason", "Refusals"], [list(r) for r in cur.swaps["refusal_reasons"]],
              f"{len(cur.swaps['refusal_reasons'])} different reasons given."),
        Table("broadcasts", "Broadcasts", PAIR_COLUMNS, _pair_rows(BROADCASTS, cur.broadcasts, prev.broadcasts),
              f"{cur.broadcasts.get('recipients', 0)} people asked: {cur.broadcasts.get('in_app', 0)} in the app, "
              f"{cur.broadcasts.get('push', 0)} by push, {cur.broadcasts.get('sms', 0)} by SMS; read rate "
              f"{_fmt(cur.broadcasts.get('read_rate'), '%')}."),
        Table("working-time", "Working time", PAIR_COLUMNS,
              _pair_rows(WORKING, cur.working_time, prev.working_time),
              f"{cur.working_time.get('blocking_avoided', 0)} changes refused by a blocking rule, "
              f"{cur.working_time.get('overrides', 0)} overrides and {cur.working_time.get('warnings_accepted', 0)} "
              f"warnings accepted."),
        Table("refused-rules", "Changes refused, by rule", ["Rule", "Changes refused"],
              [list(r) for r in cur.working_time["blocking_by_rule"]],
              f"{len(cur.working_time['blocking_by_rule'])} different rules refused changes (a change breaking two "
              f"rules counts under each)."),
        Table("overrides", "Override reasons", ["Reason (numbers removed)", "Overrides"],
              [list(r) for r in cur.working_time["override_reasons"]],
              f"{len(cur.working_time['override_reasons'])} different reasons given."),
        Table("handover", "Handover", PAIR_COLUMNS, _pair_rows(HANDOVER, cur.handover, prev.handover),
              f"{cur.handover.get('accepted', 0)} of {cur.handover.get('handed_over', 0)} handovers accepted; half "
              f"within {_fmt(cur.handover.get('acceptance_median_min'))} minutes; "
              f"{cur.handover.get('overdue', 0)} overdue."),
    ]
    if cur.people is not None:
        owed = [p for p in cur.people if p["contracted_hours"] is not None]
        under = sum(1 for p in owed if p["hours_vs_contracted"] < 0)
        tables.append(Table("hours", "Hours against contracted hours per person",
                            ["Person", "Shifts", "Hours", "Contracted hours", "Difference"],
                            [[p["name"], p["shifts"], _fmt(p["hours"]), _fmt(p["contracted_hours"]),
                              _fmt(p["hours_vs_contracted"])] for p in cur.people],
                            f"{len(cur.people)} people worked; {under} of the {len(owed)} on the team worked fewer "
                            f"hours than contracted for the period."))
        tables.append(Table("people", "Hours, nights and weekends per person",
                            ["Person", "Shifts", "Hours", "Nights", "Weekends"],
                            [[p["name"], p["shifts"], _fmt(p["hours"]), p["nights"], p["weekends"]]
                             for p in cur.people],
                            f"{len(cur.people)} people worked; nights spread "
                            f"{_fmt(cur.working_time.get('nights_spread'))}, weekends spread "
                            f"{_fmt(cur.working_time.get('weekends_spread'))}."))
    return tables


def _routes_summary(cur: TeamMeasures) -> str:
    how = cur.open_shifts["by_how"]
    where = cur.open_shifts["by_where"]
    return (f"{how['app']} claimed in the app, {how['card']} from a channel card, {how['sms']} by SMS reply, "
            f"{how['coordinator']} assigned by a coordinator; {where['own']} from the ward, {where['bank']} from the "
            f"bank, {where['neighbour']} from neighbouring wards.")


# ------------------------------------------------------------------------------------------------- the site

# (key, label, where it is, higher is better) — the columns of the site comparison, sortable: every number of the team
# page that is one per team (route counts, reason lists and per-person rows stay on the team page and in the API)
SITE_COLUMNS = [
    ("fill_at_start", "Filled at start %", ("cover", "filled_at_start_rate"), True),
    ("fill_at_publication", "Filled at publication %", ("cover", "filled_at_publication_rate"), True),
    ("fill_24h", "Filled 24 h before %", ("cover", "filled_24h_before_rate"), True),
    ("unfilled", "Gaps unfilled", ("cover", "unfilled_at_start"), False),
    ("created", "Open shifts created", ("open_shifts", "created"), False),
    ("fill_rate", "Open shifts filled %", ("open_shifts", "fill_rate"), True),
    ("time_to_fill", "Time to fill, median (min)", ("open_shifts", "time_to_fill_median_min"), False),
    ("time_to_fill_p90", "Time to fill, 90th percentile (min)", ("open_shifts", "time_to_fill_p90_min"), False),
    ("short_notice", "Short-notice gaps", ("open_shifts", "short_notice"), False),
    ("swap_requests", "Swap and offer requests", ("swaps", "requests"), False),
    ("auto_share", "Auto-approved %", ("swaps", "auto_approved_share"), True),
    ("decision", "Time to decision, median (min)", ("swaps", "decision_median_min"), False),
    ("decision_p90", "Time to decision, 90th percentile (min)", ("swaps", "decision_p90_min"), False),
    ("swaps_refused", "Swaps refused", ("swaps", "refused"), False),
    ("reach_in_app", "Reached in the app", ("broadcasts", "in_app"), True),
    ("reach_push", "Reached by push", ("broadcasts", "push"), True),
    ("reach_sms", "Reached by SMS", ("broadcasts", "sms"), True),
    ("read_rate", "Broadcast read %", ("broadcasts", "read_rate"), True),
    ("ack_rate", "Acknowledged %", ("broadcasts", "ack_rate"), True),
    ("sms_segments", "SMS segments", ("broadcasts", "sms_segments"), False),
    ("sms_cost", "SMS cost (pence)", ("broadcasts", "sms_cost_pence"), False),
    ("blocked", "Blocking verdicts avoided", ("working_time", "blocking_avoided"), False),
    ("warnings", "Warnings accepted", ("working_time", "warnings_accepted"), False),
    ("overrides", "Overrides", ("working_time", "overrides"), False),
    ("handover_median", "Handover acceptance, median (min)", ("handover", "acceptance_median_min"), False),
    ("handover_p90", "Handover acceptance, 90th percentile (min)", ("handover", "acceptance_p90_min"), False),
    ("handover_overdue", "Handovers overdue", ("handover", "overdue"), False),
    ("carried_unreviewed", "Carried forward unreviewed", ("handover", "carried_unreviewed"), False),
]
DEFAULT_SORT = "fill_at_start"


def site_value(m: TeamMeasures, key: str):
    for k, _label, (group, name), _better in SITE_COLUMNS:
        if k == key:
            return getattr(m, group).get(name)
    raise KeyError(key)


def site_rows(teams, results: dict[int, TeamMeasures], sort: str = DEFAULT_SORT, worst_first: bool = True):
    """[(team, [values...])] sorted by ``sort``, worst first (empty values last)."""
    spec = {k: better for k, _l, _w, better in SITE_COLUMNS}
    sort = sort if sort in spec else DEFAULT_SORT
    higher_better = spec[sort]
    rows = [(t, [site_value(results[t.id], k) for k, *_ in SITE_COLUMNS]) for t in teams]
    index = [k for k, *_ in SITE_COLUMNS].index(sort)
    known = [r for r in rows if r[1][index] is not None]
    unknown = sorted((r for r in rows if r[1][index] is None), key=lambda r: r[0].name)
    worst_is_low = higher_better == worst_first
    known.sort(key=lambda r: (r[1][index], r[0].name), reverse=not worst_is_low)
    return known + unknown, sort


def site_table(rows) -> Table:
    return Table("site", "Teams side by side", ["Team", "Site"] + [label for _k, label, *_ in SITE_COLUMNS],
                 [[t.name, t.site or ""] + [_fmt(v) for v in values] for t, values in rows])


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([safe_cell(c) for c in row])
    return buf.getvalue()

