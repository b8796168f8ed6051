"""Wiring of staff requests: tables, blueprints, nav items, the demo seeder. Imported only by
``rota.requests.register``."""

from __future__ import annotations

from core import registry
from core.web import add_nav_item
from rota.requests import api as requests_api
from rota.requests import (
    models,  # noqa: F401  (registers the tables)
    views,
)
from rota.requests.demo import seed_requests


def register(app, api) -> None:
    app.register_blueprint(views.bp)
    api.register_blueprint(requests_api.blp)
    add_nav_item(app, 50, "My leave", "requests.my_leave")
    add_nav_item(app, 52, "Leave calendar", "requests.calendar")
    add_nav_item(app, 53, "Rota requests", "requests.rota_requests_page")
    add_nav_item(app, 51, "Leave approvals", "requests.approvals", lambda u: u.is_coordinator or u.is_admin)
    registry.register_demo_seeder(app, 37, "leave and rota requests", seed_requests)
