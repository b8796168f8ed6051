"""Wiring of swaps and open shifts: tables, blueprints, nav items, the CLI, the after-change hook, the cover check,
the notifications registries (audiences, SMS reply, reference action), the demo seeder and the periodic expiry.
Imported only by ``rota.swaps.register``."""

from __future__ import annotations

from core import registry
from core.web import add_nav_item
from notifications.registry import CLAIM_KEYWORD
from rota import assignment, cover
from rota.my_shift_cards import MY_SHIFT_ACTIONS
from rota.swaps import (
    absence,
    absence_models,  # noqa: F401  (registers the tables)
    absence_views,
    eligibility,
    home,
)
from rota.swaps import api as swaps_api
from rota.swaps import audiences as shift_audiences
from rota.swaps import models as swap_models  # noqa: F401  (registers the tables)
from rota.swaps import views as swaps_views
from rota.swaps.cli import swaps_cli
from rota.swaps.demo import seed_swaps
from rota.swaps.eligibility import SHIFT_REFERENCE
from rota.swaps.open_shifts import on_shift_filled
from rota.swaps.replies import reply_claim, shift_action
from rota.swaps.requests import EXPIRE_TASK, expire_due, on_leave_recorded, on_shift_changed_hands, on_shift_edited


def register(app, api) -> None:
    app.register_blueprint(swaps_views.bp)
    api.register_blueprint(swaps_api.blp)
    add_nav_item(app, 30, "Requests", "swaps.requests_page")
    add_nav_item(app, 31, "Open shifts", "swaps.open_shifts_page")
    if swaps_views.my_shift_actions not in MY_SHIFT_ACTIONS:  # Swap / Offer / "I can't make this shift" on My shifts
        MY_SHIFT_ACTIONS.append(swaps_views.my_shift_actions)
    add_nav_item(app, 32, "Approvals", "swaps.approvals_page", lambda u: u.is_coordinator or u.is_admin)
    app.cli.add_command(swaps_cli)
    if eligibility.allowed_team_ids not in assignment.SHIFT_TEAMS:  # a team's pools may take its shifts
        assignment.SHIFT_TEAMS.append(eligibility.allowed_team_ids)
    for hook in (on_shift_filled, on_shift_changed_hands):  # a broadcast shows "claimed"; pending requests end
        if hook not in assignment.AFTER_CHANGE:
            assignment.AFTER_CHANGE.append(hook)
    if on_shift_edited not in assignment.AFTER_EDIT:  # a moved shift ends the requests made for its old times
        assignment.AFTER_EDIT.append(on_shift_edited)
    if on_leave_recorded not in assignment.AFTER_LEAVE:  # leave ends the requests that would give the person a shift
        assignment.AFTER_LEAVE.append(on_leave_recorded)
    # Short notice ("I can't make this shift") and the coordinator's home (issue #15).
    app.register_blueprint(absence_views.bp)
    if absence.on_shift_changed_hands not in assignment.AFTER_CHANGE:
        assignment.AFTER_CHANGE.append(absence.on_shift_changed_hands)
    registry.register_home_panel(app, home.panel, first=True)  # first on Home: what needs the coordinator now
    cover.register()  # every change of a rostered shift's holder keeps its slot's staffing requirements
    _register_with_notifications(app)
    registry.register_demo_seeder(app, 35, "swaps and escalation ladder", seed_swaps)
    # The notifications worker runs this every so often (and commits); `flask swaps expire` (cron) does the same.
    registry.register_periodic_task(app, EXPIRE_TASK, expire_due)


def _register_with_notifications(app) -> None:
    """Broadcast audiences for an open shift — everyone eligible, then the ladder's steps: this ward, the staff
    bank, neighbouring wards (``rota.swaps.audiences``) — and the SMS reply "YES <code>" claim (notifications must
    not import rota, so rota registers itself with its registries)."""
    for name, label, resolver in shift_audiences.AUDIENCES:
        registry.register_audience(name, label, resolver)
    registry.register_reply_handler(CLAIM_KEYWORD, reply_claim)
    registry.register_reference_action(SHIFT_REFERENCE, shift_action)
