"""Signing in with the trust's account in Chromium, through the real provider's own login and consent pages, and
signing out of both (issue #21)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_out
from tests.sso.fixtures import sso_settings


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, **sso_settings()}


def _at_the_provider_sign_in_as(page, account):
    page.fill("input[name=login]", account)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.get_by_role("button", name="Continue").click()  # the provider's consent page


def test_sign_in_with_the_trust_account_and_out_of_both(desktop, live_idp, make, no_secrets_in_logs):
    make.user(email="alice@trust.example", display_name="Alice Adeyemi")
    page = desktop
    page.goto("/auth/login")
    button = page.get_by_test_id("sso-sign-in")
    expect(button).to_have_text("Sign in with Test Trust")
    button.click()
    expect(page).to_have_url(re.compile(re.escape(live_idp.issuer) + "/interaction/"))
    _at_the_provider_sign_in_as(page, "alice")
    expect(page.get_by_test_id("profile-link")).to_have_text("Alice Adeyemi")

    sign_out(page)  # behind "Menu" on a phone
    page.get_by_role("button", name="Yes, sign me out").click()  # the provider's end-session page
    expect(page).to_have_url(re.compile(r"/auth/login\?signed_out=1$"))
    expect(page.get_by_text("You have signed out.")).to_be_visible()

    # Signed out at the provider too: the next sign-in asks for the login again.
    page.get_by_test_id("sso-sign-in").click()
    expect(page.locator("input[name=login]")).to_be_visible()
    logged = "\n".join(no_secrets_in_logs.records)
    assert "/auth/sso/callback?code=[redacted]" in logged and not re.search(r"code=(?!\[redacted\])\w", logged)


def test_a_refused_person_sees_why_and_can_still_use_a_password(desktop, live_idp, make):
    from tests.conftest import TEST_PASSWORD
    from tests.e2e.conftest import sign_in

    make.user(email="someone.else@trust.example")
    page = desktop
    page.goto("/auth/login")
    page.get_by_test_id("sso-sign-in").click()
    _at_the_provider_sign_in_as(page, "alice")  # alice@trust.example has no account here
    expect(page.get_by_test_id("sso-problem")).to_contain_text("no Shiftbridge account")
    sign_in(page, "someone.else@trust.example", TEST_PASSWORD)
    expect(page.get_by_test_id("profile-link")).to_be_visible()
