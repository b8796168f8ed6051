"""Insights for ward managers: fill rates, time to fill, reach of each channel, working-time pressure, handover
acceptance — per team and per site, as accessible server-rendered charts, tables, CSV and JSON (docs/insights.md).

Imports ``core``, ``rota``, ``handover`` and ``notifications`` read-only; nothing imports it. It adds no table.
"""

from __future__ import annotations

DEFAULTS = {
    "INSIGHTS_SMS_PRICE_PENCE": 4.0,  # estimated price of one SMS segment, for the cost estimate
}


def register(app, api) -> None:
    from core import config
    from insights import api as insights_api
    from insights import views

    config.set_defaults(app, DEFAULTS)  # INSIGHTS_SMS_PRICE_PENCE may be set in the environment
    insights_api.register(app, api)
    app.register_blueprint(views.bp)
    views.register_nav(app)
    from core import registry
    from insights import demo

    registry.register_demo_seeder(app, 39, "insights handover history", demo.seed_handover_history)  # before 40
    registry.register_demo_seeder(app, 90, "insights history", demo.seed_insights)
