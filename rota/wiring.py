"""Wiring of the rota core: its tables, the rota pages and API, the home panel, nav items, the membership screens and
the demo seeders of people, teams and rotas. Imported only by ``rota.register``."""

from __future__ import annotations

from core import registry
from core.web import add_nav_item
from rota import api as rota_api
from rota import demo, membership_views, models, services, shift_views, views, wording  # noqa: F401  (tables; routes on views.bp)
from rota.services import in_charge


def register(app, api) -> None:
    registry.register_demo_seeder(app, 10, "people and teams", demo.seed_people_and_teams)
    app.register_blueprint(views.bp)
    registry.register_demo_seeder(app, 20, "rota", demo.seed_rota)
    registry.register_home_panel(app, views.next_shifts_panel)
    app.add_template_filter(wording.about, "about")  # warnings about someone else name them (issue #15)
    add_nav_item(app, 10, "My shifts", "rota.my_shifts")
    add_nav_item(app, 11, "Team rotas", "rota.teams")
    rota_api.register(app, api)
    if in_charge.grid_markers not in services.GRID_CELL_HOOKS:
        services.GRID_CELL_HOOKS.append(in_charge.grid_markers)


def register_membership(app, api) -> None:
    """Invitations and membership: registered after the sub-packages, as before the split (the OpenAPI document
    lists its paths in registration order)."""
    membership_views.register(app, api)
