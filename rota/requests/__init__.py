"""Staff requests (issue #18): annual leave entitlement and balances, leave requests from the phone with the
coordinator's approval (flowing into the rota core's leave records), the team leave calendar, and rota requests in a
request window with standing preferences and flexible-working agreements (the input a rota builder reads). Builds on
compliance and the rota core; swaps and feeds may build on it."""

from __future__ import annotations


def register(app, api) -> None:
    from rota.requests import wiring  # only this package's __init__ imports its wiring

    wiring.register(app, api)
