"""Wiring of working-time compliance: its tables, hooks into assignment, publishing and the grid, its blueprints,
nav item and demo seeder. Imported only by ``rota.compliance.register``."""

from __future__ import annotations

from core import registry
from core.web import add_nav_item
from rota import assignment, services
from rota.compliance import api as compliance_api
from rota.compliance import models as compliance_models  # noqa: F401  (registers the tables)
from rota.compliance import publish_views
from rota.compliance import settings_views as compliance_settings_views  # per-team / per-person settings
from rota.compliance.demo import seed_demo
from rota.compliance.team_report import grid_markers, publish_report
from rota.compliance.verdicts import check_assignment


def register(app, api) -> None:
    app.config.setdefault("COMPLIANCE_SEVERITIES", {})
    app.config.setdefault("COMPLIANCE_DISABLED_RULES", [])
    if check_assignment not in assignment.CHANGE_CHECKS:
        assignment.CHANGE_CHECKS.append(check_assignment)
    if publish_report not in services.PUBLISH_CHECKS:
        services.PUBLISH_CHECKS.append(publish_report)
    if grid_markers not in services.GRID_CELL_HOOKS:
        services.GRID_CELL_HOOKS.append(grid_markers)
    compliance_api.register(app, api)
    compliance_settings_views.register(app, api)
    app.register_blueprint(publish_views.bp)  # publishing: the summary, then the confirmation
    add_nav_item(app, 60, "Working time", "compliance_web.mine")
    registry.register_demo_seeder(app, 30, "working-time example", seed_demo)
