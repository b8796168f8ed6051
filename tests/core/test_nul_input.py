"""A NUL character (or a lone surrogate) in form fields, query strings or URL parts is hostile input, not typed text:
it gets a 400 (HTML page or problem+json), never a 500. PostgreSQL refuses NUL in text ("PostgreSQL text fields
cannot contain NUL"), so the PostgreSQL run is the one that proves it (CI sets TEST_DATABASE_URL)."""

from __future__ import annotations

import pathlib
import re
from html.parser import HTMLParser

import pytest
from flask_wtf import FlaskForm
from wtforms.fields.core import UnboundField

from tests.conftest import login

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("core", "rota", "handover", "notifications") for p in (ROOT / d).rglob("*.py")]
NUL = "a\x00@b.c"


def _form_classes(cls=FlaskForm):
    for sub in cls.__subclasses__():
        yield sub
        yield from _form_classes(sub)


def _field_names() -> set[str]:
    """Every WTForms field name, also under every prefix the code uses (``prefix="pw"`` → ``pw-current_password``)."""
    names = {name for cls in _form_classes() for name in dir(cls) if isinstance(getattr(cls, name, None), UnboundField)}
    text = "\n".join(p.read_text() for p in SOURCES)
    prefixes = set(re.findall(r'prefix="([A-Za-z_-]+)"', text))
    return names | {f"{p}-{n}" for p in prefixes for n in names}


def _query_names() -> set[str]:
    text = "\n".join(p.read_text() for p in SOURCES)
    return set(re.findall(r'request\.args\.get\("([A-Za-z_]+)"', text)) | {
        "q", "page", "team", "team_id", "week", "start", "end", "date", "day", "from", "to", "status", "kind", "state",
        "user_id", "action", "next", "per_page", "cursor", "since", "limit", "offset", "shift_id", "period_id"}


def _url(rule, *, nul_in_path=False) -> str:
    parts = {}
    for arg in rule.arguments:
        conv = rule._converters[arg]
        if type(conv).__name__ in ("IntegerConverter", "NumberConverter"):
            parts[arg] = 1
        elif hasattr(conv, "items"):  # any(a, b)
            parts[arg] = sorted(conv.items)[0]
        else:
            parts[arg] = "x\x00y" if nul_in_path else "mine"
    from flask import url_for

    return url_for(rule.endpoint, **parts)


def _rules(app, method):
    for rule in app.url_map.iter_rules():
        if method in rule.methods and not rule.rule.startswith(("/static", "/webhooks/")) and \
                "<path:" not in rule.rule:
            yield rule


@pytest.fixture
def signed_in(app, client, make):
    admin = make.admin()
    coordinator = make.user()
    make.team(coordinators=[coordinator, admin], staff=[make.user()])
    login(client, admin)
    return admin


def test_a_nul_in_the_sign_in_email_is_a_400_not_a_500(client, make):
    make.user(email="a@b.c")
    resp = client.post("/auth/login", data={"email": NUL, "password": "whatever it is"})
    assert resp.status_code == 400
    assert "cannot be stored" in resp.get_data(as_text=True)


def test_a_nul_in_the_team_invitation_email_is_a_400_not_a_500(client, make):
    coordinator = make.user()
    team = make.team(coordinators=[coordinator])
    login(client, coordinator)
    resp = client.post(f"/teams/{team.id}/members", data={"email": NUL, "role": "staff"})
    assert resp.status_code == 400 and "cannot be stored" in resp.get_data(as_text=True)


class _Forms(HTMLParser):
    """The POST forms of a page: action and fields with the values the page filled in (text fields get a NUL)."""

    def __init__(self):
        super().__init__()
        self.forms, self._select = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self.forms.append((a.get("action") or "", {}))
        elif not self.forms or "name" not in a or "disabled" in a:
            return
        elif tag == "input" and a.get("type") in (None, "text", "email", "search", "tel", "url", "password"):
            self.forms[-1][1][a["name"]] = (a.get("value") or "x") + "\x00"
        elif tag == "input" and (a.get("type") not in ("checkbox", "radio", "file", "submit") or "checked" in a):
            self.forms[-1][1][a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self.forms[-1][1][a["name"]] = "some notes\x00"
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and self._select not in self.forms[-1][1]:
            self.forms[-1][1][self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def test_every_form_on_every_page_refuses_a_nul_in_its_text_without_a_5xx(app, client, signed_in):
    """The real forms, filled as the page fills them, with a NUL added to every text field."""
    with app.test_request_context():
        pages = sorted({_url(r) for r in _rules(app, "GET") if not r.rule.startswith(("/api/", "/auth/logout"))})
    answers = {}
    for page in pages:
        resp = client.get(page)
        if resp.status_code != 200 or resp.mimetype != "text/html":
            continue
        parser = _Forms()
        parser.feed(resp.get_data(as_text=True))
        for action, fields in parser.forms:
            if "logout" in action or not any("\x00" in v for v in fields.values()):
                continue
            answers[(page, action or page)] = client.post(action or page, data=fields).status_code
    assert len(answers) > 10
    assert {form: status for form, status in answers.items() if status >= 500} == {}
    assert {form: status for form, status in answers.items() if status != 400} == {}


def test_a_nul_in_an_api_query_string_is_a_problem_not_a_500(client, make, bearer):
    user = make.user()
    resp = client.get("/api/v1/me/calendar-feeds?kind=a%00b", headers=bearer(make.token(user)))
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"


def test_every_html_form_refuses_a_nul_without_a_5xx(app, client, signed_in):
    names = _field_names()
    data = dict.fromkeys(names, NUL)
    with app.test_request_context():
        urls = [(r.rule, _url(r)) for r in _rules(app, "POST") if not r.rule.startswith("/api/")]
    assert len(urls) > 20 and any(u == "/auth/login" for u, _ in urls)
    answers = {rule: client.post(url, data=data).status_code for rule, url in urls}
    assert {rule: status for rule, status in answers.items() if status >= 500} == {}
    assert {rule: status for rule, status in answers.items() if status != 400} == {}  # refused, whatever the form


def test_every_query_string_and_url_part_refuses_a_nul_without_a_5xx(app, client, signed_in):
    query = "&".join(f"{n}=a%00b" for n in sorted(_query_names()))
    with app.test_request_context():
        urls = [(r.rule, _url(r)) for r in _rules(app, "GET")]
        paths = [(r.rule, _url(r, nul_in_path=True)) for r in _rules(app, "GET") if any(
            type(r._converters[a]).__name__ in ("UnicodeConverter", "StringConverter") for a in r.arguments)]
    answers = {rule: client.get(f"{url}?{query}").status_code for rule, url in urls}
    answers |= {"path " + rule: client.get(url).status_code for rule, url in paths}
    assert {rule: status for rule, status in answers.items() if status >= 500} == {}
    assert {rule: status for rule, status in answers.items() if status != 400} == {}  # API ones included
