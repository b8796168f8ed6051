"""Each measure of docs/insights.md on a small hand-made history whose right answer is written here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.accounts import TeamRole, add_member
from core.db import db
from tests.conftest import count_queries
from tests.insights.history import T0, at, log, open_and_fill, shift, stype

NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
MARCH = (date(2026, 3, 1), date(2026, 3, 28))


@pytest.fixture
def ward(make):
    coord = make.user(display_name="Cora Coordinator")
    nurses = [make.user(display_name=f"Nurse {c}") for c in "ABC"]
    team = make.team("Ward 7", coordinators=[coord], staff=nurses, site="General")
    return team, coord, nurses


def run(team_ids, first=MARCH[0], last=MARCH[1], **kw):
    from insights import service

    db.session.commit()
    return service.measures(team_ids, service.period_for(first, last, "Europe/London"), now=NOW, **kw)


def test_time_to_fill_is_nearest_rank_median_and_p90_and_routes_are_told_apart(make, ward):
    from notifications.models import Broadcast
    from rota.swaps.models import TeamSwapSettings

    team, coord, (a, b, c) = ward
    bank_team = make.team("Staff bank")
    banker = make.user(display_name="Bank Nurse")
    add_member(bank_team, banker, TeamRole.staff)
    neighbour = make.user(display_name="Next Door")
    add_member(make.team("Ward 8", site="General"), neighbour, TeamRole.staff)
    db.session.add(TeamSwapSettings(team_id=team.id, pool_team_ids=[bank_team.id]))
    start = T0 + timedelta(days=3)
    # filled after 10 min by the nurse herself in the app (own ward)
    open_and_fill(team, start, opened=at(0), filled=at(10), taker=a)
    # after 20 min by a bank nurse answering the SMS (same request recorded the reply)
    open_and_fill(team, start + timedelta(hours=1), opened=at(0), filled=at(20), taker=banker, request_id="r-sms")
    bc = Broadcast(team_id=team.id, audience="team", text="Shift", channels=["sms"])
    db.session.add(bc)
    db.session.flush()
    log("broadcast.sms_reply", at(20), actor=banker, entity=bc, request_id="r-sms")
    # after 90 min, the coordinator put a neighbouring ward's nurse on it
    open_and_fill(team, start + timedelta(hours=2), opened=at(0), filled=at(90), taker=neighbour, actor=coord)
    # opened 6 hours before its start and never filled: short notice
    open_and_fill(team, at(0) + timedelta(hours=6), opened=at(0), opened_action="gap.opened")
    # opened before the period: not counted as created in March
    open_and_fill(team, at(days=-5), opened=at(days=-10), filled=at(days=-9), taker=b)

    m = run([team.id])[team.id].open_shifts

    assert (m["created"], m["filled"], m["short_notice"]) == (4, 3, 1)
    assert m["fill_rate"] == 75.0
    assert m["time_to_fill_median_min"] == 20.0  # ranks ceil(0.5 x 3) = 2 of 10, 20, 90
    assert m["time_to_fill_p90_min"] == 90.0  # rank ceil(0.9 x 3) = 3
    assert m["by_how"] == {"app": 1, "card": 0, "sms": 1, "coordinator": 1}
    assert m["by_where"] == {"own": 1, "bank": 1, "neighbour": 1}


def test_cover_at_publication_24_hours_before_and_at_start(make, ward):
    from rota.models import PeriodState, RotaPeriod, ShiftState

    team, coord, (a, b, c) = ward
    published = at(days=-7)
    period = RotaPeriod(team_id=team.id, first_day=date(2026, 3, 1), last_day=date(2026, 3, 28),
                        state=PeriodState.published, published_at=published)
    db.session.add(period)
    db.session.flush()
    start = at(days=5)
    # A: created with a nurse on it (the assignment is recorded in the same moment): filled throughout
    s_a = shift(team, start, assignee=a, created_at=at(days=-20), period=period)
    log("shift.created", at(days=-20), shift=s_a)
    log("shift.assigned", at(days=-20) + timedelta(milliseconds=300), shift=s_a,
        summary={"to_user_id": a.id})
    # B: created empty before publication, filled 2 days before its start
    s_b = shift(team, start, assignee=b, created_at=at(days=-20), period=period)
    log("shift.created", at(days=-20), shift=s_b)
    log("shift.assigned", start - timedelta(days=2), shift=s_b, actor=b, summary={"to_user_id": b.id})
    # C: someone dropped out 30 hours before; filled 2 hours before the start
    s_c = shift(team, start, assignee=c, created_at=at(days=-20), period=period)
    log("shift.opened", start - timedelta(hours=30), shift=s_c)
    log("shift.assigned", start - timedelta(hours=2), shift=s_c, actor=c, summary={"to_user_id": c.id})
    # D: dropped out 3 days before and never filled
    s_d = shift(team, start + timedelta(hours=8), created_at=at(days=-20), period=period)
    log("shift.opened", start - timedelta(days=3), shift=s_d)
    # E: cancelled: not a slot
    shift(team, start, created_at=at(days=-20), period=period, state=ShiftState.cancelled)

    m = run([team.id])[team.id].cover

    assert m["slots"] == 4 and m["published_slots"] == 4
    assert m["filled_at_publication"] == 3  # A, C, D (B was still empty)
    assert m["filled_24h_before"] == 2  # A, B
    assert m["filled_at_start"] == 3  # A, B, C
    assert m["unfilled_at_start"] == 1  # D
    assert m["filled_at_start_rate"] == 75.0


def test_swaps_volume_auto_share_decision_time_and_refusal_reasons_with_digits_masked(ward):
    from rota.swaps.models import SwapKind, SwapRequest, SwapState

    team, coord, (a, b, c) = ward
    s = shift(team, at(days=10), assignee=a)
    other = shift(team, at(days=11), assignee=b)

    def request(kind, state, minutes, *, auto=False, reason=None):
        swap = kind == SwapKind.swap
        db.session.add(SwapRequest(team_id=team.id, kind=kind, state=state, requester_id=a.id, shift_id=s.id,
                                   shift_version=1, counterpart_shift_id=other.id if swap else None,
                                   counterpart_shift_version=1 if swap else None,
                                   auto_approved=auto, reason=reason, created_at=at(0),
                                   decided_at=at(minutes), expires_at=at(days=9)))

    request(SwapKind.swap, SwapState.approved, 30, auto=True)
    request(SwapKind.offer, SwapState.approved, 60)
    request(SwapKind.offer, SwapState.refused, 120, reason="Bed 12 needs a Band 6")

    m = run([team.id])[team.id].swaps

    assert (m["requests"], m["swaps"], m["offers"]) == (3, 1, 2)
    assert (m["approved"], m["auto_approved"], m["auto_approved_share"]) == (2, 1, 50.0)
    assert (m["decision_median_min"], m["decision_p90_min"]) == (60.0, 120.0)
    assert m["refusal_reasons"] == [("Bed [number removed] needs a Band [number removed]", 1)]


def test_broadcast_reach_read_ack_rates_and_sms_segments_and_cost(make, ward):
    from notifications.models import Broadcast, BroadcastRecipient, Notification, OutboxMessage, OutboxState

    team, coord, (a, b, c) = ward
    d = make.user()
    bc = Broadcast(team_id=team.id, audience="team", text="Can anyone do a late?", channels=["in_app", "sms"],
                   requires_ack=True, created_at=at(0))
    db.session.add(bc)
    db.session.flush()
    people = [a, b, c, d]
    notes = [Notification(user_id=p.id, kind="broadcast", text="x", read_at=at(5) if i < 2 else None)
             for i, p in enumerate(people[:3])]
    db.session.add_all(notes)
    db.session.flush()
    for i, p in enumerate(people):
        db.session.add(BroadcastRecipient(broadcast_id=bc.id, user_id=p.id, code=f"{1000 + i}",
                                          notification_id=notes[i].id if i < 3 else None,
                                          acknowledged_at=at(6) if i == 0 else None,
                                          claimed_at=at(7) if i == 1 else None))
    sms = dict(channel="sms", kind="broadcast", team_id=team.id, broadcast_id=bc.id)
    db.session.add_all([
        OutboxMessage(user_id=a.id, text="x" * 100, suffix="Reply YES 1234", state=OutboxState.sent, **sms),  # 115
        OutboxMessage(user_id=b.id, text="y" * 300, state=OutboxState.delivered, **sms),  # 300 -> ceil(300/153) = 2
        OutboxMessage(user_id=c.id, text="z" * 50, state=OutboxState.failed, **sms),  # not sent: not counted
        OutboxMessage(user_id=d.id, text="push", channel="push", kind="broadcast", broadcast_id=bc.id,
                      state=OutboxState.delivered),
    ])

    m = run([team.id], sms_price_pence=4.0)[team.id].broadcasts

    assert (m["broadcasts"], m["recipients"], m["in_app"], m["read"], m["read_rate"]) == (1, 4, 3, 2, 66.7)
    assert (m["ack_asked"], m["acknowledged"], m["ack_rate"]) == (4, 2, 50.0)
    assert (m["push"], m["sms"], m["sms_segments"], m["sms_cost_pence"]) == (1, 2, 3, 12.0)


def test_working_time_overrides_reasons_and_people_across_the_march_clock_change(ward):
    from rota.models import ShiftKind

    team, coord, (a, b, c) = ward
    s = shift(team, at(days=3), assignee=a)
    log("compliance.warned", at(days=22), shift=s, actor=coord)
    log("compliance.warned", at(days=22), shift=s, actor=coord)
    log("compliance.overridden", at(days=22), shift=s, actor=coord, summary={"reason": "Patient 1234567 continuity"})
    log("cover.overridden", at(days=22), shift=s, actor=coord, summary={"reason": "Short staffed"})
    log("compliance.warned", at(days=2), shift=s, actor=coord)  # before the period
    db.session.delete(s)
    night, day_ = stype(team, "N", ShiftKind.night), stype(team, "E")
    # Saturday 28 March 19:30 GMT: a weekend night
    shift(team, datetime(2026, 3, 28, 19, 30, tzinfo=UTC), hours=12, assignee=a, st=night)
    # Sunday 29 March 23:30 UTC is Monday 00:30 BST: not a weekend in London
    shift(team, datetime(2026, 3, 29, 23, 30, tzinfo=UTC), hours=8, assignee=a, st=day_)
    shift(team, datetime(2026, 3, 25, 8, 0, tzinfo=UTC), hours=8, assignee=b, st=day_)

    m = run([team.id], date(2026, 3, 23), date(2026, 4, 5), people_for={team.id})[team.id]

    assert (m.working_time["warnings_accepted"], m.working_time["overrides"]) == (2, 2)
    assert m.working_time["override_reasons"] == [("Patient [number removed] continuity", 1), ("Short staffed", 1)]
    assert m.people == [
        {"name": "Nurse A", "shifts": 2, "hours": 20.0, "contracted_hours": 75.0, "hours_vs_contracted": -55.0,
         "nights": 1, "weekends": 1},  # 23 March to 5 April: two weeks of 37.5 h (23 h in the Sunday of the change)
        {"name": "Nurse B", "shifts": 1, "hours": 8.0, "contracted_hours": 75.0, "hours_vs_contracted": -67.0,
         "nights": 0, "weekends": 0},
    ]
    assert (m.working_time["nights_spread"], m.working_time["weekends_spread"]) == (1, 1)


def test_people_rows_only_when_asked_for(ward):
    team, coord, (a, b, c) = ward
    shift(team, at(days=1), assignee=a)
    assert run([team.id])[team.id].people is None


def test_handover_acceptance_median_p90_overdue_and_carried_unreviewed(ward):
    from handover.models import Handover, HandoverEntry, HandoverState, HandoverStyle, Patient

    team, coord, (a, b, c) = ward

    def handover(accepted_after=None):
        h = Handover(team_id=team.id, label="Night → Early", style=HandoverStyle.sbar, starts_at=at(0),
                     outgoing_id=a.id, state=HandoverState.accepted if accepted_after else HandoverState.ready,
                     ready_at=at(0), accepted_at=at(accepted_after) if accepted_after else None)
        db.session.add(h)
        db.session.flush()
        return h

    for minutes in (10, 20, 90):
        first = handover(minutes)
    waiting = handover()
    p = Patient(team_id=team.id, hospital_number="X", name="—")
    db.session.add(p)
    db.session.flush()
    old = HandoverEntry(handover_id=first.id, patient_id=p.id, version=1)
    db.session.add(old)
    db.session.flush()
    db.session.add(HandoverEntry(handover_id=waiting.id, patient_id=p.id, version=1, carried_from_id=old.id))

    m = run([team.id])[team.id].handover

    assert (m["handed_over"], m["accepted"]) == (4, 3)
    assert (m["acceptance_median_min"], m["acceptance_p90_min"]) == (20.0, 90.0)
    assert m["overdue"] == 2  # accepted after 90 min (window 60) and one never accepted
    assert m["carried_unreviewed"] == 1


def test_one_team_and_three_teams_take_the_same_number_of_queries(make, ward):
    team, coord, (a, b, c) = ward
    others = [make.team(f"Ward {n}") for n in (20, 21)]
    for n, t in enumerate((team, *others)):
        open_and_fill(t, at(days=3 + n), opened=at(0), filled=at(15), taker=a)
    ids = [team.id] + [t.id for t in others]
    db.session.commit()
    with count_queries() as one:
        run(ids[:1], people_for=set(ids[:1]))
    with count_queries() as three:
        result = run(ids, people_for=set(ids))
    assert len(one) == len(three) == 17  # docs/insights.md: 15, and 2 for the per-person rows
    assert [result[t].open_shifts["time_to_fill_median_min"] for t in ids] == [15.0] * 3


def test_hours_against_contracted_hours_count_the_real_length_of_a_night_across_the_october_change(make, ward):
    from rota.models import ShiftKind
    from rota.requests import settings as requests_settings

    team, coord, (a, b, c) = ward
    requests_settings.set_profile(b, actor=coord, service_start=None, fte=0.6)
    neighbour = make.user(display_name="Next Door")
    night, day_ = stype(team, "N", ShiftKind.night), stype(team, "E")
    # Saturday 24 October 20:00 BST to Sunday 25 October 08:00 GMT: 13 hours, the clocks went back at 02:00
    shift(team, datetime(2026, 10, 24, 19, 0, tzinfo=UTC), hours=13, assignee=a, st=night)
    shift(team, datetime(2026, 10, 27, 8, 0, tzinfo=UTC), hours=8, assignee=a, st=day_)
    shift(team, datetime(2026, 10, 20, 7, 0, tzinfo=UTC), hours=8, assignee=b, st=day_)
    shift(team, datetime(2026, 10, 21, 7, 0, tzinfo=UTC), hours=8, assignee=neighbour, st=day_)

    # 19 October to 1 November: two weeks; a full-time week is the trust's day (7 h 30 min) x 5 = 37.5 h
    people = run([team.id], date(2026, 10, 19), date(2026, 11, 1), people_for={team.id})[team.id].people

    hours = {p["name"]: (p["hours"], p["contracted_hours"], p["hours_vs_contracted"]) for p in people}
    assert hours == {"Nurse A": (21.0, 75.0, -54.0),  # FTE 1 (no profile): 2 x 37.5 h
                     "Nurse B": (8.0, 45.0, -37.0),  # FTE 0.6
                     "Next Door": (8.0, None, None)}  # not on the team: no contract with it


def test_blocking_verdicts_avoided_are_counted_per_team_and_per_rule(make, ward):
    team, coord, (a, b, c) = ward
    other = make.team("Ward 9", site="General")
    s = shift(team, at(days=3), assignee=a)
    t = shift(other, at(days=3))
    refused = dict(actor=coord, outcome="refused")
    log("compliance.refused", at(days=4), shift=s, summary={"rule_ids": "TCS-rest11"}, **refused)
    log("compliance.refused", at(days=5), shift=s, summary={"rule_ids": "TCS-rest11,WTR-48avg"}, **refused)
    log("compliance.refused", at(days=6), shift=s, summary={"rule_ids": "COVER-min"}, **refused)
    log("compliance.refused", at(days=-3), shift=s, summary={"rule_ids": "TCS-rest11"}, **refused)  # February
    log("compliance.refused", at(days=4), shift=t, summary={"rule_ids": "WTR-48avg"}, **refused)

    m = run([team.id, other.id])

    assert m[team.id].working_time["blocking_avoided"] == 3
    assert m[team.id].working_time["blocking_by_rule"] == [("TCS-rest11", 2), ("COVER-min", 1), ("WTR-48avg", 1)]
    assert (m[other.id].working_time["blocking_avoided"], m[other.id].working_time["blocking_by_rule"]) == \
        (1, [("WTR-48avg", 1)])


def test_a_gap_filled_by_sms_days_after_the_period_ends_is_still_an_sms_fill(make, ward):
    """Fills are looked for up to 35 days after the period, and so is the SMS reply that made one: a gap opened on
    27 March for a shift on 10 April, filled by a text on 5 April, is an SMS fill of March."""
    from notifications.models import Broadcast

    team, coord, (a, b, c) = ward
    bc = Broadcast(team_id=team.id, audience="team", text="Shift", channels=["sms"])
    db.session.add(bc)
    db.session.flush()
    reply_at = datetime(2026, 4, 5, 9, 0, tzinfo=UTC)
    open_and_fill(team, datetime(2026, 4, 10, 7, 0, tzinfo=UTC), opened=datetime(2026, 3, 27, 9, 0, tzinfo=UTC),
                  filled=reply_at, taker=a, request_id="r-late")
    log("broadcast.sms_reply", reply_at, actor=a, entity=bc, request_id="r-late")

    m = run([team.id])[team.id].open_shifts

    assert (m["created"], m["filled"]) == (1, 1)
    assert m["by_how"] == {"app": 0, "card": 0, "sms": 1, "coordinator": 0}
