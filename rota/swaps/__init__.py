"""Swaps, offers and open shifts: eligibility (who may take a shift), the broadcast audiences, requests, claims,
volunteers and replies, with their API and pages. Builds on compliance and the rota core; feeds build on it."""

from __future__ import annotations


def register(app, api) -> None:
    from rota.swaps import wiring  # only this package's __init__ imports its wiring

    wiring.register(app, api)
