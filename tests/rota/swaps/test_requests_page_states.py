"""The requests page (issue #15): a request the colleague accepted stays on their page until the coordinator decides,
with its state in plain words; offer candidates say which team they are in."""

from __future__ import annotations

from core.db import db
from rota.swaps import decisions
from rota.swaps import requests as swap_requests
from tests.rota.swaps import factories as data
from tests.rota.swaps.test_swaps_pages import signed_in


def test_an_accepted_offer_stays_on_the_takers_page_in_plain_words_until_decided(app, make):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=x, kind="offer", to_users=[b])
    decisions.accept(req, actor=b)
    db.session.commit()
    page = signed_in(app, b).get("/swaps").get_data(as_text=True)
    assert f'data-testid="request-{req.id}"' in page
    assert ">Accepted – waiting for the coordinator</strong>" in page
    decisions.approve(req, actor=w.coordinator)
    db.session.commit()
    page = signed_in(app, b).get("/swaps").get_data(as_text=True)
    assert "Approved – the rota is updated" in page


def test_offer_candidates_show_their_team(app, make):
    w = data.ward(make, 2, name="Ward 12 Cardiology")
    x = data.shift(w.team, starts_at=data.soon(3), assignee=w.staff[0])
    page = signed_in(app, w.staff[0]).get(f"/shifts/{x.id}/offer").get_data(as_text=True)
    assert "Nurse B (Band 5 registered nurse, Ward 12 Cardiology)" in page


def test_a_colleague_sees_the_checks_of_an_offer_before_agreeing(app, make):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=x, kind="offer", to_users=[b])
    db.session.commit()
    page = signed_in(app, b).get(f"/swaps/{req.id}").get_data(as_text=True)
    assert f'data-testid="check-{b.id}"' in page and "Allowed, no warnings" in page
    assert page.index(f'data-testid="check-{b.id}"') < page.index('data-testid="accept"')


def test_swap_candidates_come_by_day_with_the_cleanest_first(app, make, monkeypatch):
    from datetime import timedelta

    from rota.compliance.rules import Verdict

    w = data.ward(make, 3)
    a, b, c = w.staff
    mine = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    day = data.soon(5)
    warned = data.shift(w.team, starts_at=day, assignee=b)  # earlier in the day, but b would get a warning
    clean = data.shift(w.team, starts_at=day + timedelta(hours=1), assignee=c)
    day_before = data.shift(w.team, starts_at=day - timedelta(days=1), assignee=c)
    b_id = b.id

    def engine(user, *, add=(), remove=(), rule_sets=None):
        return [Verdict("WTR-rest11", "warn", "9 h", "11 h", "Only 9 h rest.")] if user.id == b_id else []

    data.fake_engine(monkeypatch, engine)
    order = [other.id for other, _ in swap_requests.swap_candidates(mine)]
    assert order == [day_before.id, clean.id, warned.id]


def test_swap_candidates_show_staff_group_grade_and_team(app, make):
    """As on the offer wizard: two colleagues of the same name are told apart (a test offer went to the wrong
    "Fatima Hill")."""
    w = data.ward(make, 2, name="Ward 12 Cardiology")
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    other = data.shift(w.team, starts_at=data.soon(5), assignee=b)
    label = f"{b.display_name} (Band 5 registered nurse, Ward 12 Cardiology)</label>"
    db.session.commit()
    page = signed_in(app, a).get(f"/shifts/{x.id}/swap").get_data(as_text=True)
    assert f'data-testid="candidate-{other.id}"' in page and label in page
