"""Structured SBAR / I-PASS handover, team patient lists, acknowledgements and FHIR export."""

from __future__ import annotations


def register(app, api) -> None:
    from handover import views

    app.register_blueprint(views.bp)
