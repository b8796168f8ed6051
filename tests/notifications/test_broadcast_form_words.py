"""The broadcast form for a gap shows no internal fields, and after counting the Send button comes first (#15)."""

from __future__ import annotations

import re

from core.db import db
from rota.swaps import open_shifts
from tests.conftest import login
from tests.rota.swaps import factories as data


def test_cover_form_hides_the_shift_id_reference_and_link_and_puts_send_first(app, client, make):
    w = data.ward(make, 2)
    gap = data.shift(w.team, starts_at=data.soon(2))
    with app.test_request_context():
        url = open_shifts.cover_request_url(gap)
    db.session.commit()
    login(client, w.coordinator)
    page = client.get(url).get_data(as_text=True)
    visible = re.sub(r"<input[^>]*type=\"hidden\"[^>]*>", "", page)
    assert f"shift:{gap.id}" not in visible and 'name="shift_id"' not in visible and 'name="link"' not in visible
    assert 'data-testid="about-shift"' in page
    form = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page))
    form.update({"audience": "eligible_for_shift", "team_id": str(w.team.id), "channels": "in_app",
                 "text": f"Cover needed for shift {gap.id}"})
    counted = client.post("/broadcasts/new", data=form).get_data(as_text=True)
    assert 'data-testid="recipient-count">2<' in counted
    assert counted.index('data-testid="send-broadcast"') < counted.index('name="text"')  # Send before the form
