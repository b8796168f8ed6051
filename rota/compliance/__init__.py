"""Working-time compliance: the pure rules engine (``rules``), its settings per team and person, the service that
screens changes (``service``), and its API and pages. Depends on the rota core; swaps and feeds build on it."""

from __future__ import annotations


def register(app, api) -> None:
    from rota.compliance import wiring  # only this package's __init__ imports its wiring

    wiring.register(app, api)
