"""``GET /api/v1/shifts`` writes its items from plain rows (issue #22) instead of dumping ORM objects through
``ShiftSchema``: the JSON a client receives must stay byte for byte what the schema gives, over a varied ward (types
and none, open, assigned and cancelled shifts, notes, skills, draft and published periods, a zone with clock
changes) and on every page."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy.orm import selectinload

from core.api import page_schema
from core.db import db
from rota import schemas as sc
from rota.models import PeriodState, RotaPeriod, Shift, ShiftState
from rota.services import shifts_query
from tests.rota.swaps import factories as data


def _seed_ward(make):
    rng = random.Random(22)
    coord = make.user(grade="Band 7", display_name="Wendy Ward-Manager")
    staff = [make.user(display_name=name) for name in ("Sam Patel", "Zoë Ærøskøbing", "O'Brien, Niamh", "Li 李")]
    team = make.team("Ward 7B", coordinators=[coord], staff=staff, site="St Elsewhere", timezone="Europe/London")
    types = [data.shift_type(team, code=c, name=n) for c, n in (("E", "Early"), ("N", "Night"), ("L", "Late"))]
    start = data.soon(-20)
    periods = [RotaPeriod(team_id=team.id, first_day=(start + timedelta(days=k * 30)).date(),
                          last_day=(start + timedelta(days=k * 30 + 29)).date(),
                          state=(PeriodState.published, PeriodState.draft)[k % 2]) for k in range(3)]
    db.session.add_all(periods)
    db.session.flush()
    busy: dict[int, list] = {}
    for i in range(140):
        begins = start + timedelta(days=rng.randrange(80), hours=rng.randrange(24), minutes=rng.choice((0, 15, 30)))
        ends = begins + timedelta(minutes=rng.choice((240, 510, 750, 721)))
        who = rng.choice([None, *staff])
        if who is not None and any(a < ends and begins < b for a, b in busy.setdefault(who.id, [])):
            who = None  # nobody works two shifts at once
        if who is not None:
            busy[who.id].append((begins, ends))
        s = Shift(team_id=team.id, shift_type_id=rng.choice([None, *[t.id for t in types]]), starts_at=begins,
                  ends_at=ends, assignee_id=who and who.id,
                  state=ShiftState.scheduled if who else ShiftState.open,
                  required_grade=rng.choice([None, "Band 5", "Band 6"]),
                  required_skills=rng.choice([[], ["IV-trained"], ["IV-trained", "Paeds"]]),
                  note=rng.choice([None, "bring the keys", 'quotes "and" \\ back\nslash', "café ☕"]),
                  rota_period_id=rng.choice([None, *[p.id for p in periods]]))
        if i % 9 == 0:
            s.state, s.cancel_reason = ShiftState.cancelled, rng.choice([None, "ward closed"])
        db.session.add(s)
    db.session.commit()
    return team, coord, staff


def _schema_json(app, viewer, args: dict, total_args: dict) -> bytes:
    """What the endpoint answered before: ORM objects dumped through the page schema, jsonified."""
    stmt = shifts_query(viewer, **total_args)
    total = db.session.query(stmt.order_by(None).subquery()).count()
    items = db.session.scalars(stmt.options(selectinload(Shift.shift_type), selectinload(Shift.team),
                                            selectinload(Shift.assignee))
                               .limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).all()
    dumped = page_schema(sc.ShiftSchema, "ShiftPageCheck")().dump(
        {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total})
    return app.json.response(dumped).get_data()


def test_shift_list_json_is_byte_for_byte_what_the_schema_gives(app, client, make, bearer):
    team, coord, staff = _seed_ward(make)
    for viewer in (coord, staff[1]):
        token = make.token(viewer)
        for page, per_page in ((1, 50), (2, 50), (3, 50), (1, 7)):
            resp = client.get(f"/api/v1/shifts?team_id={team.id}&page={page}&per_page={per_page}",
                              headers=bearer(token))
            assert resp.status_code == 200
            assert resp.json["items"], "every page checked holds shifts"
            expected = _schema_json(app, viewer, {"page": page, "per_page": per_page}, {"team_id": team.id})
            assert resp.get_data() == expected
        mine = client.get(f"/api/v1/shifts?person_id={staff[1].id}&per_page=50", headers=bearer(token))
        assert mine.get_data() == _schema_json(app, viewer, {"page": 1, "per_page": 50}, {"person_id": staff[1].id})
