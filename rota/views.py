"""Rota pages. The rota issue fills this in; for now it adds the home-page panel."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rota", __name__)


def next_shifts_panel(user):
    """Home-page card; shows the person's next shifts once the rota model lands."""
    return {"title": "Your next shifts", "template": "rota/_next_shifts_panel.html", "shifts": []}
