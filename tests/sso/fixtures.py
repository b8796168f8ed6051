"""Fixtures (a pytest plugin, see tests/conftest.py): a real OpenID provider for single sign-on tests, Node's
``oidc-provider`` (tests/sso/provider.mjs) on loopback.

``idp`` is one provider for the whole run, for tests through Flask's test client (redirect URI on
http://localhost); ``live_idp`` starts one for a live server's own address. ``IdP.sign_in_at_provider`` goes through
the provider's own login and consent pages over HTTP and returns the callback URL the browser would be sent to.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("provider.mjs")
CLIENT_ID, CLIENT_SECRET = "shiftbridge-test", "test-client-secret-not-for-production"

PEOPLE = {
    "alice": {"email": "alice@trust.example", "email_verified": True, "name": "Alice Adeyemi",
              "groups": ["g-ward7-nurses"]},
    "bola": {"email": "bola@trust.example", "email_verified": True, "name": "Bola Brown",
             "groups": ["g-ward7-nurses", "g-ward7-coordinators"], "employee_id": "S-1002"},
    "unverified": {"email": "carol@trust.example", "email_verified": False, "name": "Carol Cole"},
    # Entra ID's "overage": too many groups, so the token points at Microsoft Graph instead of listing them.
    "overage": {"email": "dan@trust.example", "email_verified": True, "name": "Dan Dube",
                "_claim_names": {"groups": "src1"},
                "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/t/users/u/getMemberObjects"}}},
    "hasgroups": {"email": "dan@trust.example", "email_verified": True, "name": "Dan Dube", "hasgroups": True},
    "newcomer": {"email": "newcomer@trust.example", "email_verified": True, "name": "Nia Newcomer",
                 "groups": ["g-ward7-nurses"]},
    "admin": {"email": "admin@trust.example", "email_verified": True, "name": "Ada Admin"},
}


def sso_settings(**extra) -> dict:
    """The app's settings for the test provider, but its issuer URL (known once it runs)."""
    return {"SSO_CLIENT_ID": CLIENT_ID, "SSO_CLIENT_SECRET": CLIENT_SECRET, "SSO_DISPLAY_NAME": "Test Trust",
            "SSO_SCOPES": "openid email profile groups", "SSO_GROUPS_CLAIM": "groups",
            "SSO_STAFF_NUMBER_CLAIM": "employee_id", **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IdP:
    def __init__(self, base_urls: list[str], tmp: Path):
        node = shutil.which("node")
        if node is None or not (ROOT / "node_modules" / "oidc-provider").exists():
            if os.environ.get("CI"):
                pytest.fail("node and npm's oidc-provider are needed for the single sign-on tests (npm ci)")
            pytest.skip("node or oidc-provider missing (npm ci)")
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        settings = {"port": self.port, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "people": PEOPLE,
                    "redirect_uris": [b + "/auth/sso/callback" for b in base_urls],
                    "post_logout_redirect_uris": [b + "/auth/sso/signed-out" for b in base_urls]}
        self.log_path = tmp / f"oidc-provider-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([node, str(SCRIPT)], cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "SB_OIDC": json.dumps(settings)})
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(self.issuer + "/.well-known/openid-configuration", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("oidc-provider did not start: " + self.log_path.read_text()[-2000:])
                time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()

    def config(self, **extra) -> dict:
        return {"SSO_ISSUER": self.issuer, **sso_settings(**extra)}

    def control(self, action: str, **body):
        requests.post(f"{self.issuer}/__test/{action}", json=body, timeout=5).raise_for_status()

    def sign_in_at_provider(self, authorize_url: str, account: str, browser: requests.Session | None = None) -> str:
        """Log in as ``account`` on the provider's own pages and consent; the URL it sends the browser back to."""
        browser = browser or requests.Session()
        url, method, data = authorize_url, "GET", None
        for _ in range(12):
            resp = browser.request(method, url, data=data, allow_redirects=False, timeout=10)
            if resp.is_redirect:
                target = urljoin(url, resp.headers["Location"])
                if not target.startswith(self.issuer):
                    return target
                url, method, data = target, "GET", None
                continue
            assert resp.status_code == 200, (resp.status_code, resp.text[:500])
            action = urljoin(url, re.search(r'<form[^>]*action="([^"]+)"', resp.text).group(1))
            if 'name="login"' in resp.text:
                url, method, data = action, "POST", {"prompt": "login", "login": account, "password": "any"}
            else:
                url, method, data = action, "POST", {"prompt": "consent"}
        raise AssertionError("the provider never sent the browser back")


@pytest.fixture(scope="session")
def idp(tmp_path_factory):
    provider = IdP(["http://localhost"], tmp_path_factory.mktemp("idp"))
    yield provider
    provider.stop()


@pytest.fixture
def live_idp(live_server, app, tmp_path):
    """A provider for a live server (its redirect URI has the server's port): the test's app_config carries
    ``sso_settings()``; this sets the issuer and the app's public address."""
    provider = IdP([live_server.url], tmp_path)
    app.config.update(SSO_ISSUER=provider.issuer, PUBLIC_BASE_URL=live_server.url)
    app.extensions.pop("sso_cache", None)
    yield provider
    provider.stop()


@pytest.fixture(autouse=True)
def _fresh_provider_state(request):
    if "idp" in request.fixturenames:
        request.getfixturevalue("idp").control("reset")
    yield


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")
