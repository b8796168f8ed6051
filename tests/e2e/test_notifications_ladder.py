"""Browser: a coordinator builds the team's escalation ladder from the broadcasts page (no script needed)."""

from __future__ import annotations

from core.db import db
from notifications.models import EscalationPolicy
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in


def test_coordinator_builds_reorders_and_saves_the_ladder(app, make, desktop):
    coordinator = make.user(display_name="Wendy Coordinator")
    team = make.team("Ward 11", coordinators=[coordinator])
    email, team_id = coordinator.email, team.id
    db.session.commit()  # on SQLite an open transaction holds the write lock: end it before the browser acts

    sign_in(desktop, email, TEST_PASSWORD)
    desktop.wait_for_url("**/")
    desktop.goto("/broadcasts")
    desktop.click(f"[data-testid=ladder-link-{team_id}]")
    assert desktop.locator("[data-testid=ladder-empty]").is_visible()

    desktop.click("[data-testid=step-add]")
    desktop.fill("#steps-0-after_minutes", "45")
    desktop.select_option("#steps-0-audience", "team")
    desktop.click("[data-testid=step-add]")
    assert desktop.locator("[data-testid=ladder-step]").count() == 2
    assert desktop.input_value("#steps-0-after_minutes") == "45"  # what was typed survives the round trip
    desktop.fill("#steps-1-after_minutes", "0")
    desktop.click("[data-testid=ladder-save]")
    expect_error = desktop.locator("[data-testid=ladder-errors]")
    assert "from 1 to 1440" in expect_error.inner_text()

    desktop.fill("#steps-1-after_minutes", "20")
    desktop.click("[data-testid=step-up-1]")  # "tell the coordinators" first, then everyone on the team
    assert desktop.input_value("#steps-0-audience") == "coordinators"
    desktop.click("[data-testid=step-down-0]")  # ...no: coordinators last after all
    assert desktop.input_value("#steps-1-audience") == "coordinators"
    desktop.press("#steps-1-after_minutes", "Enter")  # Enter saves
    assert desktop.locator("[data-testid=ladder-saved]").is_visible()

    db.session.expire_all()
    steps = db.session.get(EscalationPolicy, team_id).steps
    assert [(s["after_minutes"], s["audience"]) for s in steps] == [(45, "team"), (20, "coordinators")]
    db.session.commit()
