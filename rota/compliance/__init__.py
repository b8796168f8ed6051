"""Working-time compliance: the pure rules engine (``rules``), its settings per team and person, the screening of
changes (``profiles`` -> ``rotas`` -> ``verdicts`` | ``position`` -> ``team_report``), and its API and pages. Depends
on the rota core; requests, swaps, the auto-roster and feeds build on it."""

from __future__ import annotations


def register(app, api) -> None:
    from rota.compliance import wiring  # only this package's __init__ imports its wiring

    wiring.register(app, api)
