"""Annual leave arithmetic (issue #18): NHS Agenda for Change entitlement by length of service, part-time, joiners,
carry-over and balances across leave years — every answer computed by hand in the comment beside it."""

from __future__ import annotations

from datetime import date

import pytest

from core.db import db
from core.errors import Forbidden, ValidationFailed
from rota.requests import balance, service, settings
from rota.requests import entitlement as ent
from rota.requests.models import RequestState
from tests import factories

AFC = ent.Rules()  # 1 April, 7 h 30 min days, 27/29/33 + 8 bank holidays


@pytest.mark.parametrize(("start", "year", "minutes"), [
    (None, 2026, 15750),  # (27 + 8) x 7.5 h = 262.5 h
    (date(2022, 4, 2), 2026, 15750),  # 3 y 364 d on 1 Apr 2026: under 5 years
    (date(2021, 4, 1), 2026, 16650),  # exactly 5 years on 1 Apr 2026: (29 + 8) x 7.5 = 277.5 h
    (date(2021, 4, 1), 2025, 15750),  # 4 years on 1 Apr 2025
    (date(2016, 4, 1), 2026, 18450),  # 10 years: (33 + 8) x 7.5 = 307.5 h
    (date(2016, 4, 2), 2026, 16650),  # a day short of 10 years
])
def test_full_time_entitlement_follows_length_of_service(start, year, minutes):
    assert ent.entitlement_minutes(ent.Person(service_start=start), year, AFC) == minutes


def test_part_time_is_pro_rata_to_the_quarter_hour():
    assert ent.entitlement_minutes(ent.Person(fte_thousandths=600), 2026, AFC) == 9450  # 262.5 h x 0.6 = 157.5 h
    assert ent.entitlement_minutes(ent.Person(date(2010, 1, 1), 800), 2026, AFC) == 14760  # 307.5 x 0.8 = 246 h
    # 262.5 h x 0.53 = 139.125 h = 8347.5 min -> 8340 (139 h 00) is 7.5 away, 8355 is 7.5 away: halves go up
    assert ent.entitlement_minutes(ent.Person(fte_thousandths=530), 2026, AFC) == 8355


def test_a_joiner_gets_the_share_of_the_year_left():
    # Joins 1 Oct 2026: 182 of the 365 days of leave year 2026 left; 15750 x 182 / 365 = 7853.4 -> 7860 (131 h)
    assert ent.entitlement_minutes(ent.Person(service_start=date(2026, 10, 1)), 2026, AFC) == 7860
    assert ent.entitlement_minutes(ent.Person(service_start=date(2027, 5, 1)), 2026, AFC) == 0  # not yet started


def test_a_person_with_their_own_days_and_a_trust_with_its_own_table():
    assert ent.entitlement_minutes(ent.Person(days_override=30), 2026, AFC) == (30 + 8) * 450
    trust = ent.Rules(year_start_month=1, year_start_day=1, day_minutes=480, days_under_5=25, bank_holidays=9)
    assert ent.entitlement_minutes(ent.Person(), 2026, trust) == 34 * 480  # (25 + 9) x 8 h = 272 h


def test_leave_years_start_on_the_trusts_day():
    assert ent.leave_year_of(date(2026, 3, 31), AFC) == 2025
    assert ent.leave_year_of(date(2026, 4, 1), AFC) == 2026
    assert ent.year_bounds(2026, AFC) == (date(2026, 4, 1), date(2027, 3, 31))
    jan = ent.Rules(year_start_month=1, year_start_day=1)
    assert ent.leave_year_of(date(2026, 12, 31), jan) == 2026
    assert ent.year_bounds(2028, ent.Rules(year_start_month=3, year_start_day=1)) == (date(2028, 3, 1),
                                                                                       date(2029, 2, 28))


def test_a_request_costs_each_weekday_at_the_persons_fte():
    week = (date(2026, 6, 1), date(2026, 6, 7))  # Mon..Sun: 5 weekdays
    assert ent.request_minutes(*week, ent.Person(), AFC) == 2250  # 37.5 h
    assert ent.request_minutes(*week, ent.Person(fte_thousandths=600), AFC) == 1350  # 22.5 h
    assert ent.request_minutes(date(2026, 6, 6), date(2026, 6, 7), ent.Person(), AFC) == 0  # a weekend
    assert ent.request_minutes(date(2026, 6, 1), date(2026, 6, 1), ent.Person(fte_thousandths=530), AFC) == 240
    assert ent.hours_words(1350) == "22 h 30 min" and ent.hours_words(-90) == "−1 h 30 min"


def test_unused_hours_carry_into_the_next_two_leave_years_and_an_overdraft_carries_nothing():
    # Full time, under 5 years: 15750 a year (262 h 30); cap 2250 (5 x 7 h 30). Leave recorded here from 2024.
    taken = {2024: 14400, 2025: 16650}
    c25 = ent.carry_over(2025, ent.Person(), AFC, first_year=2024, taken=taken, recorded={})
    assert (c25.from_year, c25.unused, c25.minutes) == (2024, 1350, 1350)  # 15750 - 14400 = 22 h 30 left
    c26 = ent.carry_over(2026, ent.Person(), AFC, first_year=2024, taken=taken, recorded={})
    assert (c26.unused, c26.minutes) == (450, 450)  # 15750 + 1350 carried - 16650 = 7 h 30
    assert ent.carry_words(c26) == "carried over from 2025/26: 7 h 30 min (cap 37 h 30 min)"
    # A coordinator says nothing came into 2025: 2025 is overdrawn by 15750 - 16650 = -900; nothing is carried (no
    # borrowing) and the overdraft is shown
    over = ent.carry_over(2026, ent.Person(), AFC, first_year=2024, taken=taken, recorded={2025: 0})
    assert (over.unused, over.minutes, over.overdraft) == (-900, 0, 900)
    assert ent.carry_words(over) == "carried over from 2025/26: 0 h (2025/26 overdrawn by 15 h; cap 37 h 30 min)"
    # Nothing is worked out into the first year recorded here, nor before it
    assert ent.carry_over(2024, ent.Person(), AFC, first_year=2024, taken=taken, recorded={}).minutes == 0
    assert ent.carry_over(2023, ent.Person(), AFC, first_year=2024, taken=taken, recorded={}).minutes == 0


def test_the_carry_over_cap_is_pro_rata_and_bites_and_a_coordinators_figure_wins():
    part = ent.Person(fte_thousandths=600)  # 9450 a year (157 h 30); cap 2250 x 0.6 = 1350 (22 h 30)
    c = ent.carry_over(2026, part, AFC, first_year=2025, taken={2025: 7000}, recorded={})
    assert (c.unused, c.cap, c.minutes) == (2450, 1350, 1350)  # 9450 - 7000 = 40 h 50 unused, 22 h 30 carried
    assert ent.carry_words(c) == "carried over from 2025/26: 22 h 30 min (cap 22 h 30 min)"
    mine = ent.carry_over(2026, part, AFC, first_year=2025, taken={2025: 7000}, recorded={2026: 600})
    assert (mine.worked_out, mine.minutes) == (1350, 600)
    assert ent.carry_words(mine) == ("carried over from 2025/26: 10 h (recorded by a coordinator, which wins; "
                                     "worked out: 22 h 30 min, cap 22 h 30 min)")
    # A trust allowing 10 days: a full-timer with 50 h unused carries all of it (cap 75 h)
    ten = ent.Rules(max_carry_minutes=4500)
    assert ent.carry_over(2026, ent.Person(), ten, first_year=2025, taken={2025: 12750}, recorded={}).minutes == 3000


def test_a_joiner_carries_what_is_left_of_the_share_of_the_year_they_worked():
    # Joins 1 Oct 2025: 182 of 365 days of leave year 2025 -> 15750 x 182 / 365 = 7860 (131 h); took 7000 -> 860
    joiner = ent.Person(service_start=date(2025, 10, 1))
    c = ent.carry_over(2026, joiner, AFC, first_year=2025, taken={2025: 7000}, recorded={})
    assert (c.unused, c.minutes) == (860, 860)
    # Joining in 2026 there is nothing to carry from 2025
    late = ent.Person(service_start=date(2026, 6, 1))
    assert ent.carry_over(2026, late, AFC, first_year=2025, taken={}, recorded={}).minutes == 0


# ---------------------------------------------------------------------------------------- with the database


def _ward(make):
    team, boss, (nurse,), _ = factories.ward(make, people=[dict(display_name="Nora Nurse")], types=())
    return team, boss, nurse


def test_balance_across_two_leave_years_with_carry_over(app, make, today):
    team, boss, nurse = _ward(make)
    settings.set_profile(nurse, actor=boss, service_start=date(2015, 6, 1), fte=1.0)
    settings.set_carry_over(nurse, year=2025, minutes=900, actor=boss)  # 15 h into 2025/26
    db.session.commit()
    # Mon 9 - Fri 13 Mar 2026 (leave year 2025), Mon 13 - Fri 17 Apr 2026 (leave year 2026)
    march = service.request_leave(nurse, actor=nurse, first_day=date(2026, 3, 9), last_day=date(2026, 3, 13))
    april = service.request_leave(nurse, actor=nurse, first_day=date(2026, 4, 13), last_day=date(2026, 4, 17))
    service.approve(march, actor=boss)
    db.session.commit()
    # 2025: 10 years on 1 Apr 2025? No: 9 y 10 m -> 29 days: 37 x 450 = 16650; + 900 carried - 2250 taken
    b25 = balance.balance(nurse, 2025)
    assert (b25.entitlement, b25.carried, b25.taken, b25.pending, b25.remaining) == (16650, 900, 2250, 0, 15300)
    # 2026: 10 y 10 m on 1 Apr 2026 -> 33 days: 41 x 450 = 18450; the April week is still waiting
    b26 = balance.balance(nurse, 2026)
    assert (b26.entitlement, b26.taken, b26.pending, b26.remaining, b26.available) == (18450, 0, 2250, 18450, 16200)
    assert april.state == RequestState.pending


def test_part_time_balance_and_a_request_bigger_than_it_is_refused(app, make, today):
    team, boss, nurse = _ward(make)
    settings.set_profile(nurse, actor=boss, service_start=date(2024, 1, 1), fte=0.6)
    db.session.commit()
    # 0.6 FTE, under 5 years: 9450 min (157 h 30) a year; a fortnight Mon 2 - Fri 13 Feb 2026 = 10 x 4.5 h = 45 h
    q = service.quote(nurse, kind="annual", first_day=date(2026, 2, 2), last_day=date(2026, 2, 13))
    assert (q.minutes, q.before.available, q.after) == (2700, 9450, 6750)
    # Seven weeks (35 weekdays x 270 = 9450) fits exactly; one more day does not
    service.request_leave(nurse, actor=nurse, first_day=date(2026, 1, 12), last_day=date(2026, 2, 27))
    db.session.commit()
    assert balance.balance(nurse, 2025).available == 0
    with pytest.raises(ValidationFailed, match="you have 0 h left"):
        service.request_leave(nurse, actor=nurse, first_day=date(2026, 3, 2), last_day=date(2026, 3, 2))


def test_bad_settings_are_refused_and_only_coordinators_change_them(app, make, today):
    team, boss, nurse = _ward(make)
    with pytest.raises(ValidationFailed) as e:
        settings.set_profile(nurse, actor=boss, service_start=None, fte=1.5)
    assert "fte" in e.value.errors
    with pytest.raises(Forbidden):
        settings.set_profile(nurse, actor=nurse, service_start=None, fte=1.0)
    with pytest.raises(ValidationFailed):
        settings.set_carry_over(nurse, year=2026, minutes=2251, actor=boss)  # the trust's limit is 37 h 30
    with pytest.raises(Forbidden):
        settings.set_trust_rules(actor=boss, year_start_month=1)
    admin = make.admin()
    with pytest.raises(ValidationFailed) as e:
        settings.set_trust_rules(actor=admin, year_start_month=13, year_start_day=29)
    assert set(e.value.errors) == {"year_start_month", "year_start_day"}
    settings.set_trust_rules(actor=admin, year_start_month=1, year_start_day=1)
    db.session.commit()
    assert balance.leave_year_of(date(2026, 1, 1)) == 2026


def test_a_request_across_the_leave_year_boundary_is_refused_with_the_day_it_starts(app, make, today):
    team, boss, nurse = _ward(make)
    with pytest.raises(ValidationFailed, match="01 Apr 2026"):
        service.request_leave(nurse, actor=nurse, first_day=date(2026, 3, 30), last_day=date(2026, 4, 2))
