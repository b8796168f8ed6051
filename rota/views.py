"""Rota pages: My shifts, team rota grid, coordinator editing (the rota issue fills this in)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rota", __name__)


def register(app, api) -> None:
    from core.web import HOME_PANELS

    app.register_blueprint(bp)
    app.extensions.setdefault(HOME_PANELS, []).append(next_shifts_panel)


def next_shifts_panel(user):
    """Home-page card; shows the person's next shifts once the rota model lands."""
    return {"title": "Your next shifts", "template": "rota/_next_shifts_panel.html", "shifts": []}
