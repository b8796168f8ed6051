"""Auto-roster (issue #18): a draft rota for a period built by OR-Tools CP-SAT from requirements, contracted hours,
leave, requests, preferences and flexible-working agreements, judged by the rules engine before it is saved
(``docs/auto-roster.md``). Builds on requests, compliance and the rota core; nothing below it imports it."""

from __future__ import annotations


def register(app, api) -> None:
    from rota.autoroster import wiring  # only this package's __init__ imports its wiring

    wiring.register(app, api)
