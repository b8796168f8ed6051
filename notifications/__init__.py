"""notifications: see README for what this package owns."""

from __future__ import annotations


def register(app, api) -> None:
    from notifications import views

    app.register_blueprint(views.bp)
