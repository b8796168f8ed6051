"""Notifications: outbox, in-app notification centre, SMS through Twilio, broadcasts. Knows nothing of rota."""

from __future__ import annotations


def register(app, api) -> None:
    from notifications import models, views  # noqa: F401  (models registers its tables)

    app.register_blueprint(views.bp)
