"""Wiring of staff requests: tables, blueprints, nav items, the demo seeder. Imported only by
``rota.requests.register``."""

from __future__ import annotations

from rota.requests import models  # noqa: F401  (registers the tables)


def register(app, api) -> None:
    pass
