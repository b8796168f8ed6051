"""#17 rota cards beyond open shifts: a swap offered to everyone and a rota publication each put one card up in the
team channel."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from channels.models import Post
from core.db import db
from rota import services as rota
from rota.models import PeriodState, RotaPeriod
from rota.swaps import requests as swap_requests
from tests.rota.swaps import factories as data


def _cards(card_type: str) -> list[Post]:
    return list(db.session.scalars(select(Post).where(Post.kind == "card", Post.card_type == card_type)))


def test_a_swap_offered_to_everyone_and_a_publication_put_up_one_card_each(make):
    w = data.ward(make, 3)
    a = w.staff[0]
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    swap_requests.propose(actor=a, shift=x, kind="offer")  # to everyone eligible
    db.session.commit()
    (swap,) = _cards("swap")
    assert swap.card_text.startswith(f"{a.display_name} is offering ")
    first = x.starts_at.date() + timedelta(days=30)
    period = RotaPeriod(team_id=w.team.id, first_day=first, last_day=first + timedelta(days=27),
                        state=PeriodState.draft)
    db.session.add(period)
    db.session.flush()
    rota.publish_period(period, actor=w.coordinator, confirm_empty=True)
    db.session.commit()
    (published,) = _cards("period")
    assert published.card_text.startswith("The rota for ") and published.card_text.endswith("is published")


def test_a_coordinators_cover_request_puts_up_the_shifts_card_once_and_it_is_claimed_from_it(client, make, bearer):
    w = data.ward(make, 3)
    a = w.staff[0]
    gap = data.shift(w.team, starts_at=data.soon(5))  # open from the start: no change of hands announced it
    assert _cards("shift") == []
    from notifications import broadcasts
    from rota.swaps import open_shifts
    from rota.swaps.eligibility import shift_reference

    for _ in range(2):  # asked twice (a second round of asking): still one card
        broadcasts.create(w.team, w.coordinator, audience="eligible_for_shift", params={"shift_id": gap.id},
                          kind="open_shift", reference=shift_reference(gap.id), text=open_shifts.cover_text(gap))
        db.session.commit()
    (card,) = _cards("shift")
    assert card.card_text.endswith("needs cover") and card.card_ref == gap.id
    resp = client.post(f"/api/v1/posts/{card.id}/claim", headers=bearer(make.token(a)))
    assert resp.status_code == 200, resp.get_json()
    got = client.get(f"/api/v1/posts/{card.id}", headers=bearer(make.token(w.staff[1]))).get_json()
    assert got["card"]["state"] == "taken" and got["card"]["holder"] == a.display_name
