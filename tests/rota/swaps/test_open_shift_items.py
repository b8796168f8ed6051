"""``GET /api/v1/open-shifts`` and ``GET /api/v1/users/<id>/eligible-shifts`` write their items directly
(``rota.swaps.api.open_shift_items``, issue #19: marshmallow took a tenth of a coordinator's list) instead of dumping
eligibility results through ``OpenShiftItemSchema``: what a client receives must stay byte for byte what the schema
gives, over gaps with every kind of answer (eligible, wrong grade, missing skill, on leave, overlapping, working-time
warnings, across the clock changes, a second team in another zone) and with staffing-requirement cover lines."""

from __future__ import annotations

from sqlalchemy import select

from core.accounts import Membership, TeamRole, User
from core.api import page_schema
from core.db import db
from rota import services
from rota.swaps import eligibility
from rota.swaps.api import OpenShiftItemSchema
from tests.rota.swaps.test_open_shifts_verdicts import _seeded


def _schema_json(app, user, args: dict, **kw) -> bytes:
    """What the endpoints answered before: the results dumped through the page schema, jsonified."""
    results = eligibility.eligible_open_shifts(db.session.get(User, user.id), limit=1000, **kw)
    page, per_page = args["page"], args["per_page"]
    items = [{"shift": e.shift, "eligible": e.ok, "reasons": e.reasons, "verdicts": e.verdicts, "cover": e.cover}
             for e in results[(page - 1) * per_page: page * per_page]]
    dumped = page_schema(OpenShiftItemSchema, "OpenShiftPageCheck")().dump(
        {"items": items, "page": page, "per_page": per_page, "total": len(results)})
    return app.json.response(dumped).get_data()


def test_open_shift_json_is_byte_for_byte_what_the_schema_gives(app, client, make, bearer):
    nurse, gaps = _seeded(make)
    home = gaps[0].team
    coordinator = db.session.scalar(select(User).join(Membership).where(Membership.team_id == home.id,
                                                                         Membership.role == TeamRole.coordinator))
    # Cover lines: the home ward's nights and earlies need registered nurses.
    for stype in {g.shift_type for g in gaps if g.team_id == home.id}:
        services.create_requirement(home, shift_type=stype, min_count=2, staff_group="nursing", actor=coordinator)
    services.create_requirement(home, shift_type=gaps[0].shift_type, min_count=1, staff_group="nursing",
                                min_grade="Band 6", actor=coordinator)
    db.session.commit()
    nurse_token, coord_token = make.token(nurse), make.token(coordinator)
    seen = {"eligible": False, "reasons": False, "verdicts": False, "cover": False}
    for page, per_page in ((1, 50), (1, 4), (2, 4), (3, 4)):
        db.session.expire_all()
        resp = client.get(f"/api/v1/open-shifts?page={page}&per_page={per_page}", headers=bearer(nurse_token))
        assert resp.status_code == 200
        assert resp.json["items"], "every page checked holds gaps"
        expected = _schema_json(app, nurse, {"page": page, "per_page": per_page}, include_ineligible=True)
        assert resp.get_data() == expected
        for item in resp.json["items"]:
            seen["eligible"] |= item["eligible"]
            for key in ("reasons", "verdicts", "cover"):
                seen[key] |= bool(item[key])
    assert all(seen.values()), f"the ward exercises every part of an item: {seen}"

    db.session.expire_all()
    resp = client.get(f"/api/v1/open-shifts?team_id={home.id}", headers=bearer(coord_token))
    assert resp.get_data() == _schema_json(app, coordinator, {"page": 1, "per_page": 50}, include_ineligible=True,
                                           team_ids=[home.id])
    db.session.expire_all()
    resp = client.get(f"/api/v1/users/{nurse.id}/eligible-shifts", headers=bearer(coord_token))
    assert resp.status_code == 200 and resp.json["items"]
    assert resp.get_data() == _schema_json(app, nurse, {"page": 1, "per_page": 50}, team_ids={home.id})
