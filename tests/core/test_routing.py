"""URL building with rules whose builders are compiled on first use (core.routing): same URLs as werkzeug's own."""

from flask import url_for
from werkzeug.routing import Map, Rule

from core.routing import LazyBuilderRule


def _urls(rule_class):
    m = Map([rule_class("/teams/<int:team_id>/rota", endpoint="grid"),
             rule_class("/files/<path:name>", endpoint="file"),
             rule_class("/feed/<token>.ics", endpoint="feed", defaults={"kind": "mine"})])
    a = m.bind("rota.example.nhs.uk", script_name="/rota")
    return [a.build("grid", {"team_id": 7}), a.build("grid", {"team_id": 7, "start": "2026-03-29", "days": 28}),
            a.build("file", {"name": "a b/c.png"}), a.build("feed", {"token": "x y"}),
            a.build("grid", {"team_id": 7}, force_external=True)]


def test_lazy_rules_build_the_same_urls_as_werkzeugs():
    assert _urls(LazyBuilderRule) == _urls(Rule)
    assert _urls(LazyBuilderRule)[1] == "/rota/teams/7/rota?start=2026-03-29&days=28"


def test_the_app_uses_lazy_rules_and_builds_its_links(app):
    # Flask adds its static rule while it is made, before the factory picks the rule class.
    assert all(isinstance(r, LazyBuilderRule) for r in app.url_map.iter_rules() if r.endpoint != "static")
    with app.test_request_context("/"):
        assert url_for("static", filename="app.css").startswith("/static/app.css")
