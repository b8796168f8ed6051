"""Working-time rules in a real browser on a phone: a coordinator makes a rule blocking and adds a local rule; a nurse
records and withdraws their 48-hour opt-out from their profile, with a confirmation."""

from sqlalchemy import select

from core.db import db
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from tests.conftest import TEST_PASSWORD, Factory
from tests.e2e.conftest import sign_in


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_coordinator_changes_rules_and_nurse_opts_out_on_a_phone(browser, live_server):
    make = Factory()
    coord = make.user(display_name="Cora Coordinator", grade="Band 7")
    nurse = make.user(display_name="Nia Nurse")
    team = make.team("Ward 12", coordinators=[coord], staff=[nurse])
    team_id, nurse_id, coord_email, nurse_email = team.id, nurse.id, coord.email, nurse.email
    db.session.commit()  # ends the test's transaction: on SQLite it would hold the write lock the sign-in needs

    def phone_page():
        context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url,
                                      is_mobile=True, has_touch=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return context, page

    ctx, page = phone_page()
    sign_in(page, coord_email, TEST_PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/teams/{team_id}/rota")
    page.click("[data-testid=nav-working-time]")
    page.wait_for_url(f"**/teams/{team_id}/compliance-settings")
    assert fits(page)
    page.select_option("[data-rule=WTR-rest11] select", "block")
    page.fill("#break_minutes", "500")
    page.click("[data-testid=save-rules]")
    assert "Give a number of minutes from 0 to 240." in page.locator(".nhsuk-error-summary").inner_text()
    page.fill("#break_minutes", "30")
    page.click("[data-testid=save-rules]")
    assert "Working-time rules saved." in page.content()
    assert page.locator("[data-rule=WTR-rest11] select").input_value() == "block"
    page.select_option("#local-kind", "long_run")
    page.fill("#local-value", "3")
    page.select_option("#local-severity", "block")
    page.click("[data-testid=add-local-rule]")
    assert "At most 3 long shifts (over 10 h) in a row" in page.locator("[data-testid=local-rules]").inner_text()
    assert fits(page)
    ctx.close()
    db.session.rollback()
    row = db.session.scalar(select(TeamComplianceSettings).where(TeamComplianceSettings.team_id == team_id))
    assert row.severities == {"WTR-rest11": "block"} and row.break_minutes == 30
    assert [s["id"] for s in row.extra_rules] == ["LOCAL-long3"]
    db.session.commit()

    ctx, page = phone_page()
    sign_in(page, nurse_email, TEST_PASSWORD)
    page.wait_for_url("**/")
    page.goto("/profile#working-time")
    section = page.locator("[data-testid=working-time]")
    assert "WTR" in section.locator("[data-testid=wt-rule-sets]").inner_text()
    page.click("[data-testid=record-opt-out]")  # without ticking the confirmation
    assert "Tick the box to confirm." in page.locator("[data-testid=working-time]").inner_text()
    page.fill("#wt-opted_out_at", "2026-03-02")
    page.check("#wt-confirm")
    page.click("[data-testid=record-opt-out]")
    assert "You have opted out (signed 2 March 2026)" in page.locator("[data-testid=opt-out-status]").inner_text()
    assert fits(page)
    page.check("#wt-confirm")
    page.click("[data-testid=withdraw-opt-out]")
    assert "You have not opted out" in page.locator("[data-testid=opt-out-status]").inner_text()
    ctx.close()
    db.session.rollback()
    person = db.session.scalar(select(PersonComplianceSettings).where(PersonComplianceSettings.user_id == nurse_id))
    assert person.wtr_opt_out is False
    assert [e.action for e in _audit()] == ["compliance_settings.team_updated", "compliance_settings.team_updated",
                                            "compliance_settings.opt_out_recorded",
                                            "compliance_settings.opt_out_withdrawn"]


def _audit():
    from core.audit import AuditEntry

    return [e for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith("compliance_settings.")]
