"""The app's JSON writer (core.jsonio): orjson for the compact case, meaning exactly what Flask's own writer meant."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid

import pytest
from flask.json.provider import DefaultJSONProvider

from core.db import db
from tests.rota.swaps import factories as data


@dataclasses.dataclass
class _Point:
    x: int
    label: str


VALUES = [
    {"zeta": 1, "alpha": [1, 2.5, None, True], "mid": {"b": "x", "a": "y"}},  # keys sorted at every depth
    {"when": dt.datetime(2027, 3, 28, 1, 30, tzinfo=dt.UTC), "day": dt.date(2027, 10, 31)},  # HTTP dates, as Flask
    {"money": decimal.Decimal("12.50"), "id": uuid.UUID(int=7), "point": _Point(3, "bay 4")},
    {"ward": "Ward 7 – Cardiology é", "control": "a\u0001b\nc\"d\\"},
    {1: "one", 2: "two"},  # keys that are not text, written as text
    [2**63 - 1, -(2**63), 1e16, 0.1],
    {"big": 2**70},  # past 64 bits: orjson refuses, Flask's writer writes it
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_compact_json_means_what_flasks_writer_meant(app, value):
    flask_writer = DefaultJSONProvider(app)
    with app.app_context():
        ours = app.json.dumps(value, separators=(",", ":"))
        theirs = flask_writer.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert ours == theirs  # text past ASCII as UTF-8, not escaped: the only difference from Flask's default


def test_a_shift_list_is_the_same_json_and_orjson_wrote_it(app, client, make, bearer, monkeypatch):
    """``GET /api/v1/shifts`` through the app's writer: the same document as Flask's writer gives for it."""
    import orjson

    coord, nurse = make.user(grade="Band 7"), make.user(display_name="Zoë Ærøskøbing")
    team = make.team("Ward 7 – Cardiology", coordinators=[coord], staff=[nurse])
    for day in range(3):
        data.shift(team, starts_at=data.soon(day), assignee=nurse if day else None)
    db.session.commit()
    calls = []
    real = orjson.dumps
    monkeypatch.setattr("core.jsonio.orjson.dumps", lambda *a, **k: calls.append(1) or real(*a, **k))
    resp = client.get(f"/api/v1/shifts?team_id={team.id}", headers=bearer(make.token(coord)))
    assert resp.status_code == 200 and calls
    body = resp.get_data(as_text=True)
    with app.app_context():
        flask_json = DefaultJSONProvider(app).dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)
    assert body.rstrip("\n") == flask_json
    assert len(json.loads(body)["items"]) == 3 and "Zoë Ærøskøbing" in body


def test_what_neither_writer_can_write_still_fails_as_before(app):
    with app.app_context(), pytest.raises(TypeError):
        app.json.dumps({"ids": {1, 2}})


def test_an_indented_dump_is_flasks(app):
    with app.app_context():
        assert app.json.dumps({"b": 1, "a": 2}, indent=2) == '{\n  "a": 2,\n  "b": 1\n}'
