"""Rota: teams' shift types, rotas, shifts, leave and requirements (the core: ``services``, ``views``, ``api``), with
the sub-packages built on it in one direction: ``feeds`` -> ``swaps`` | ``autoroster`` -> ``requests`` ->
``compliance`` -> rota core -> ``core``.

``register(app, api)`` calls each part's wiring; this is the only place that knows them all.
"""

from __future__ import annotations


def register(app, api) -> None:
    # only this package's __init__ imports its wiring
    from rota import autoroster, compliance, feeds, requests, swaps, wiring

    wiring.register(app, api)
    compliance.register(app, api)
    requests.register(app, api)
    autoroster.register(app, api)
    swaps.register(app, api)
    feeds.register(app, api)
    wiring.register_membership(app, api)
