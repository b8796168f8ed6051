"""#17: the rota-aware mentions other than @on-shift and @in-charge — @tonight, @tomorrow-early, @coordinators and
@name — each reach exactly whom they say, and the post shows who was reached."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.db import db
from notifications.models import Notification
from tests.factories import ward
from tests.rota.swaps.factories import shift


def _at(day, clock, zone):
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_tonight_tomorrow_early_coordinators_and_a_name_reach_exactly_whom_they_say(client, make, bearer):
    team, coord, (a, b, c, d), types = ward(make, 4)
    zone = team.timezone
    today = datetime.now(ZoneInfo(zone)).date()
    shift(team, starts_at=_at(today, time(19, 30), zone), hours=12.5, assignee=a, stype=types["N"])  # tonight
    shift(team, starts_at=_at(today + timedelta(days=1), time(7), zone), assignee=b, stype=types["E"])
    shift(team, starts_at=_at(today + timedelta(days=1), time(13), zone), assignee=c, stype=types["L"])  # late
    tc = make.token(coord)
    channel = client.get(f"/api/v1/teams/{team.id}/channels", headers=bearer(tc)).get_json()[0]
    resp = client.post(f"/api/v1/channels/{channel['id']}/posts", headers=bearer(tc),
                       json={"text": "@tonight @tomorrow-early @coordinators and @NurseD: new scanner in the store"})
    assert resp.status_code == 201, resp.get_json()
    reached = {r["mention"]: r["people"] for r in resp.get_json()["reached"]}
    assert reached == {"@tonight": [a.display_name], "@tomorrow-early": [b.display_name],
                       "@coordinators": [coord.display_name], "@nursed": [d.display_name]}
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "channel.mention")))
    assert told == {a.id, b.id, d.id}  # the coordinator wrote it: not told of her own post
