"""Rota: teams' shift types, rotas, shifts, leave and requirements (the core: ``services``, ``views``, ``api``), with
the sub-packages built on it in one direction: ``feeds`` -> ``swaps`` -> ``requests`` -> ``compliance`` -> rota core
-> ``core``.

``register(app, api)`` calls each part's wiring; this is the only place that knows them all.
"""

from __future__ import annotations


def register(app, api) -> None:
    from rota import compliance, feeds, requests, swaps, wiring  # only this package's __init__ imports its wiring

    wiring.register(app, api)
    compliance.register(app, api)
    requests.register(app, api)
    swaps.register(app, api)
    feeds.register(app, api)
    wiring.register_membership(app, api)
