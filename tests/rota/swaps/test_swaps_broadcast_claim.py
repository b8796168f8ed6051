"""Claiming an open shift in the app closes the broadcast about it (report shows "claimed", escalation stops)."""

from sqlalchemy import select

from core.db import db
from notifications import broadcasts
from notifications.models import Broadcast, BroadcastRecipient
from rota.swaps import open_shifts
from tests.rota.swaps import factories as data


def _gap_broadcast(make):
    """A ward of two nurses, an open shift in three days and a broadcast about it."""
    w = data.ward(make, 2)
    gap = data.shift(w.team, starts_at=data.soon(3))
    b = broadcasts.create(w.team, w.coordinator, audience="team", text="Early shift needs cover",
                          reference=f"shift:{gap.id}", kind="open_shift", channels=("in_app",))
    db.session.commit()
    return w, gap, b


def test_app_claim_marks_the_gap_broadcast_claimed(app, make):
    w, gap, b = _gap_broadcast(make)
    nurse = w.staff[0]
    open_shifts.claim(db.session.get(type(gap), gap.id), actor=nurse)
    db.session.commit()
    b = db.session.get(Broadcast, b.id)
    assert b.state == "claimed" and b.next_escalation_at is None
    mine = db.session.scalar(select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == b.id,
                                                              BroadcastRecipient.user_id == nurse.id))
    assert mine.claimed_at is not None


def test_a_coordinator_assigning_the_gap_also_closes_its_broadcast(app, make):
    w, gap, b = _gap_broadcast(make)
    open_shifts.assign(db.session.get(type(gap), gap.id), w.staff[1], actor=w.coordinator)
    db.session.commit()
    b = db.session.get(Broadcast, b.id)
    assert b.state == "claimed" and b.next_escalation_at is None


def test_the_message_about_a_gap_carries_the_take_button_itself(client, make):
    """ "I'll take it" is on the message: one tap from the notification's page claims the shift (issue #15)."""
    from tests.conftest import login

    w, gap, b = _gap_broadcast(make)
    login(client, w.staff[0])
    page = client.get(f"/broadcasts/{b.id}/r").get_data(as_text=True)
    assert f'action="/shifts/{gap.id}/claim"' in page and "I&#39;ll take it" in page
    board = client.get("/open-shifts").get_data(as_text=True)
    assert f'id="open-shift-{gap.id}"' in board and f'data-testid="claim-{gap.id}"' in board
    open_shifts.claim(db.session.get(type(gap), gap.id), actor=w.staff[1])
    db.session.commit()
    assert f'action="/shifts/{gap.id}/claim"' not in client.get(f"/broadcasts/{b.id}/r").get_data(as_text=True)


def test_a_coordinator_asks_for_cover_from_the_open_shifts_board(client, make):
    """One click from the gap to a filled-in broadcast to everyone eligible; nothing goes out until confirmed."""
    from urllib.parse import parse_qs, urlparse

    from tests.conftest import login

    w = data.ward(make, 3, skills=("IV-trained",))
    w.staff[2].skills = []  # not IV-trained: not eligible
    db.session.commit()
    gap = data.shift(w.team, starts_at=data.soon(3), required_grade="Band 5", skills=("IV-trained",))
    login(client, w.staff[0])
    assert f'data-testid="ask-cover-{gap.id}"' not in client.get("/open-shifts").get_data(as_text=True)
    client.post("/auth/logout")
    login(client, w.coordinator)
    board = client.get("/open-shifts").get_data(as_text=True)
    link = board.split(f'data-testid="ask-cover-{gap.id}"')[0].rsplit('href="', 1)[1].split('"')[0]
    href = link.replace("&amp;", "&")
    query = parse_qs(urlparse(href).query)
    assert query["reference"] == [f"shift:{gap.id}"] and query["audience"] == ["eligible_for_shift"]
    form = client.get(href).get_data(as_text=True)
    assert f'value="shift:{gap.id}"' in form and "Cover needed: " in form and "Can you take it?" in form
    assert db.session.scalar(select(Broadcast.id)) is None  # pre-filled, not sent
    fields = {k: v[0] for k, v in query.items()}
    sent = client.post("/broadcasts/new", data={**fields, "channels": ["in_app"], "confirm": "send"})
    assert sent.status_code == 302, sent.get_data(as_text=True)[:2000]
    b = db.session.scalar(select(Broadcast))
    assert b.reference == f"shift:{gap.id}" and b.kind == "open_shift"
    got = set(db.session.scalars(select(BroadcastRecipient.user_id).where(BroadcastRecipient.broadcast_id == b.id)))
    assert got == {w.staff[0].id, w.staff[1].id}  # everyone eligible, and only them


def test_a_broadcast_form_prefilled_with_nonsense_still_shows_the_form(client, make):
    from tests.conftest import login

    w = data.ward(make, 1)
    login(client, w.coordinator)
    resp = client.get("/broadcasts/new?team_id=abc&shift_id=-5&audience=%01&kind=nope&text=" + "x" * 5000)
    assert resp.status_code == 200 and "Count recipients" in resp.get_data(as_text=True)
    # A NUL is refused whole before the view (tests/core/test_nul_input.py): a page saying so, not a 500.
    resp = client.get("/broadcasts/new?team_id=abc&audience=%00")
    assert resp.status_code == 400 and "cannot be stored" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Broadcast.id)) is None


def test_once_the_shift_is_filled_the_other_recipients_copies_say_taken(client, make):
    """#15: a nurse who opens the message after a colleague took the shift reads that it is taken, not open."""
    from tests.conftest import login

    w, gap, b = _gap_broadcast(make)
    login(client, w.staff[0])
    assert "This shift is still open." in client.get(f"/broadcasts/{b.id}/r").get_data(as_text=True)
    open_shifts.claim(db.session.get(type(gap), gap.id), actor=w.staff[1])
    db.session.commit()
    page = client.get(f"/broadcasts/{b.id}/r").get_data(as_text=True)
    assert "This shift has been taken." in page and "This shift is still open." not in page
