"""Calendar feeds: secret subscription links for my shifts, a team's rota and the open shifts one can take; the pure
iCalendar renderer (``ical``), the one-query validator, the fetch view and the API. Builds on swaps."""

from __future__ import annotations


def register(app, api) -> None:
    from rota.feeds import wiring  # only this package's __init__ imports its wiring

    wiring.register(app, api)
