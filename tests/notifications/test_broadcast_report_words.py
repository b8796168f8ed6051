"""The broadcast report in plain words (issue #15): who was asked by name of the audience, not its internal id; the
state in words; the time in the team's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.db import db
from notifications import broadcasts
from tests.conftest import login
from tests.rota.swaps import factories as data


def test_report_names_the_audience_and_state_in_words_and_local_time(client, make):
    w = data.ward(make, 2)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    gap = data.shift(w.team, starts_at=start)
    b = broadcasts.create(w.team, w.coordinator, audience="eligible_for_shift", params={"shift_id": gap.id},
                          text="Cover needed", reference=f"shift:{gap.id}", kind="open_shift", channels=("in_app",))
    db.session.commit()
    login(client, w.coordinator)
    page = client.get(f"/broadcasts/{b.id}").get_data(as_text=True)
    assert "eligible_for_shift" not in page and "Everyone eligible for this shift" in page
    assert '>Still asking</strong>' in page and " UTC" not in page and "(Europe/London)" in page
    assert f"shift:{gap.id}" not in page and "open_shift" not in page  # no internal reference or kind on view


def test_reached_by_is_in_the_team_s_local_time_with_the_zone_named(client, make):
    """"Reached by … at HH:MM" was in UTC (an hour early all summer in London), unlike the rest of the page."""
    from notifications.models import BroadcastRecipient, Notification

    w = data.ward(make, 2)
    b = broadcasts.create(w.team, w.coordinator, audience="team", text="Fire drill at 14:00",
                          channels=("in_app",))
    db.session.commit()
    r = db.session.scalar(db.select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == b.id,
                                                               BroadcastRecipient.user_id == w.staff[0].id))
    db.session.get(Notification, r.notification_id).read_at = datetime(2026, 7, 1, 12, 5, tzinfo=UTC)  # 13:05 BST
    db.session.commit()
    login(client, w.coordinator)
    page = client.get(f"/broadcasts/{b.id}").get_data(as_text=True)
    reached = page[page.index('data-testid="reached-by"'):]
    assert reached.startswith('data-testid="reached-by">In the app at 13:05<'), reached[:80]  # zone named above
    assert "UTC" not in page
