"""Hostile input shapes sent to EVERY operation in the OpenAPI document; each must get a 4xx problem+json.

Classes of defect covered (each reached 500 before):
- deeply nested JSON (RecursionError while parsing the body, or later while walking it);
- datetimes near year 1 / 9999 with an offset, and dates at the ends of the calendar (OverflowError in
  validators, services and the audit filters);
- a ``Last-Event-ID`` that is not a small ASCII integer.

The operations are read from the document, so a new endpoint is covered the day it is added. Path ids are filled
with real objects where the test made them (team, user) and 1 otherwise.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import Factory

PROBLEM = "application/problem+json"
EXTREME_DATETIMES = ["0001-01-01T00:00:00+00:16", "9999-12-31T23:59:59-00:16", "0001-01-01T00:00:00",
                     "9999-12-31T23:59:59.999999", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-23:59"]
EXTREME_DATES = ["0001-01-01", "9999-12-31"]
DEEP = 100_000


def _spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, op


def _resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _sample(spec, schema, when: str | None, date: str | None, depth=0, number=None):
    """A plausible value for ``schema`` with every date-time (date) set to ``when`` (``date``) and every number to
    ``number`` (when given)."""
    schema = _resolve(spec, schema)
    fmt, kind = schema.get("format"), schema.get("type")
    if fmt == "date-time":
        return when or "2026-03-02T07:00:00+00:00"
    if fmt == "date":
        return date or "2026-03-02"
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {name: _sample(spec, sub, when, date, depth + 1, number)
                for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_sample(spec, schema.get("items", {}), when, date, depth + 1, number)] if depth <= 4 else []
    if number is not None and kind in ("integer", "number"):
        return number
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    return "x" * max(1, schema.get("minLength", 1))


def _has_format(spec, schema, wanted, depth=0) -> bool:
    schema = _resolve(spec, schema)
    if schema.get("format") in wanted:
        return True
    if depth > 5:
        return False
    subs = list(schema.get("properties", {}).values()) + ([schema["items"]] if "items" in schema else [])
    return any(_has_format(spec, s, wanted, depth + 1) for s in subs)


@pytest.fixture
def world(app, client):
    make = Factory()
    admin = make.admin()
    team = make.team("Shapes ward", coordinators=[admin])
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    ids = {"team_id": team.id, "user_id": admin.id}
    return _spec(client), headers, ids


def _url(path, ids):
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), "mine" if m.group(1) == "kind" else 1)), path)


def _check(resp, what):
    assert resp.status_code < 500, f"{what} -> {resp.status_code}"
    if resp.status_code >= 400:
        assert resp.mimetype == PROBLEM, f"{what} -> {resp.status_code} {resp.mimetype}"


def test_deeply_nested_json_is_a_400_problem_on_every_operation(client, world):
    spec, headers, ids = world
    bodies = {"brackets": "[" * DEEP + "]" * DEEP, "objects": '{"a":' * DEEP + "1" + "}" * DEEP,
              "inside a field": '{"label": ' + "[" * 5000 + "]" * 5000 + "}",
              # deep enough to hurt any recursive walker, shallow enough for json.loads: the explicit depth limit
              "100 levels": '{"params": ' + '{"a": [' * 50 + "1" + "]}" * 50 + "}"}
    checked = 0
    for method, path, op in _operations(spec):
        if "application/json" not in op.get("requestBody", {}).get("content", {}):
            continue
        for name, body in bodies.items():
            resp = client.open(_url(path, ids), method=method, data=body, headers=headers,
                               content_type="application/json")
            _check(resp, f"{method} {path} with nesting {name}")
            assert resp.status_code == 400, f"{method} {path} with nesting {name} -> {resp.status_code}"
            assert "nested" in resp.json["detail"], resp.json
        checked += 1
    assert checked >= 20  # every JSON operation, not a handful


def test_extreme_datetimes_are_a_4xx_problem_on_every_operation(client, world):
    spec, headers, ids = world
    checked = 0
    for method, path, op in _operations(spec):
        url = _url(path, ids)
        params = [p for p in op.get("parameters", []) if p.get("in") == "query"
                  and p.get("schema", {}).get("format") in ("date-time", "date")]
        for when, day in [(w, None) for w in EXTREME_DATETIMES] + [(None, d) for d in EXTREME_DATES]:
            if params:
                query = {p["name"]: (when if p["schema"]["format"] == "date-time" else day)
                         for p in params}
                query = {k: v for k, v in query.items() if v}
                if query:
                    resp = client.open(url, method=method, query_string={**query, "once": "true"}, headers=headers)
                    _check(resp, f"{method} {path} ?{query}")
                    checked += 1
            body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body_schema and _has_format(spec, body_schema, {"date-time"} if when else {"date"}):
                body = _sample(spec, body_schema, when, day)
                resp = client.open(url, method=method, data=json.dumps(body), headers=headers,
                                   content_type="application/json")
                _check(resp, f"{method} {path} {body}")
                checked += 1
    assert checked >= 20


def test_the_reported_handover_start_at_year_one_is_a_422_naming_the_field(client, world):
    _, headers, ids = world
    resp = client.post(f"/api/v1/teams/{ids['team_id']}/handovers", headers=headers,
                       json={"starts_at": "0001-01-01T00:00:00+00:16", "label": "x"})
    assert resp.status_code == 422 and resp.mimetype == PROBLEM
    assert resp.json["errors"]["starts_at"] == ["Give a time between the years 2000 and 2100."]


@pytest.mark.parametrize("header", ["99999999999999999999999", "9999999999", "2147483648", "\u00b2", "\u0661\u0662",
                                    "-1", "1e3", " 1", "0x10"])
def test_a_bad_last_event_id_is_ignored_and_the_stream_replays(client, world, header):
    from core.db import db
    from notifications import service

    _, headers, ids = world
    service.notify([ids["user_id"]], kind="test", text="Rota published")
    db.session.commit()
    resp = client.get("/api/v1/notifications/stream?once=true", headers={**headers, "Last-Event-ID": header})
    assert resp.status_code == 200
    assert "Rota published" in resp.get_data(as_text=True)


def test_documented_integer_query_filters_accept_integers_on_every_operation(client, world):
    """Query strings are text: a strict integer field there refuses every value (the audit API's team_id and
    actor_id filters always answered 422)."""
    spec, headers, ids = world
    checked = 0
    for method, path, op in _operations(spec):
        for param in op.get("parameters", []):
            if param.get("in") != "query" or param.get("schema", {}).get("type") != "integer":
                continue
            value = max(1, param["schema"].get("minimum", 1))
            resp = client.open(_url(path, ids), method=method, headers=headers,
                               query_string={param["name"]: value, "once": "true"})
            errors = (resp.json or {}).get("errors", {}) if resp.mimetype == PROBLEM else {}
            assert param["name"] not in errors, f"{method} {path}?{param['name']}={value}: {errors}"
            checked += 1
    assert checked >= 5


def test_html_forms_refuse_dates_outside_the_calendar_like_the_api(app, client, world):
    """The API refuses instants outside 2000-2100; the pages that take the same values refuse them too (the
    handover start form created a handover in the year 1)."""
    from tests.conftest import login

    _, _, ids = world
    from core.accounts import User
    from core.db import db

    login(client, db.session.get(User, ids["user_id"]))
    team = ids["team_id"]
    for value in ("0001-01-01T00:00", "9999-12-31T23:59", "1999-12-31T23:59"):
        form = {f"t{team}-label": "Night", f"t{team}-incoming_id": "0", f"t{team}-starts_at": value}
        resp = client.post(f"/handover/teams/{team}/start", data=form)
        assert resp.status_code == 422, (value, resp.status_code)
        assert "Give a date between 2000 and 2100." in resp.get_data(as_text=True)
    for query in ("since=0001-01-01", "until=9999-12-31"):
        assert client.get(f"/audit?{query}").status_code == 422


def test_the_parser_turns_overflow_in_any_validator_into_a_422(app):
    """Defence in depth for validators no one has written yet: date arithmetic that overflows while a schema loads
    is a 422 problem, not a 500 (core.api.Parser)."""
    from datetime import timedelta

    from marshmallow import Schema, fields
    from werkzeug.exceptions import HTTPException

    from core.api import Parser

    class Reckless(Schema):
        day = fields.Date(validate=lambda d: d + timedelta(days=1) > d)

    with app.test_request_context("/api/v1/x", method="POST", json={"day": "9999-12-31"}):
        with pytest.raises(HTTPException) as caught:
            Parser().parse(Reckless(), location="json")
    assert caught.value.code == 422
    assert caught.value.data["messages"]["json"]["_schema"] == [
        "A value is too far out of range to use (for example a date near the year 1 or 9999)."]


def test_huge_numbers_are_never_a_5xx_on_any_operation(client, world):
    """Integers beyond 64 bits reach SQLite/PostgreSQL as OverflowError / 'integer out of range' unless refused."""
    spec, headers, ids = world
    checked = 0
    for method, path, op in _operations(spec):
        url = _url(path, ids)
        numeric = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"
                   and p.get("schema", {}).get("type") in ("integer", "number")]
        body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        for value in (2**70, -(2**70), 1e308):
            if numeric:
                resp = client.open(url, method=method, headers=headers,
                                   query_string={**dict.fromkeys(numeric, value), "once": "true"})
                _check(resp, f"{method} {path} ?{numeric}={value}")
                checked += 1
            if body_schema:
                body = _sample(spec, body_schema, None, None, number=value)
                resp = client.open(url, method=method, data=json.dumps(body), headers=headers,
                                   content_type="application/json")
                _check(resp, f"{method} {path} {body}")
                checked += 1
    assert checked >= 20
