"""Sign-in throttling that stops the guesser, not the owner; the client taken from the proxy chain; the same
throttle and audit on the profile page's current-password check; the same password-hash work for every sign-in.

Issue #13 items 2 and 5.
"""

import ast
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from core import accounts, throttle
from core.audit import AuditEntry
from core.db import db
from tests.conftest import TEST_PASSWORD

WARD_PC = "10.1.0.5"
TOO_MANY = "Too many failed sign-in attempts"


def _post(client, email, password, ip, **headers):
    return client.post("/auth/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip}, headers=headers)


def _fail(app, email, ip, **headers):
    resp = _post(app.test_client(), email, "a wrong guess", ip, **headers)
    assert resp.status_code in (401, 429)
    return resp


def _audits(action):
    return db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


@pytest.fixture
def hasher_calls(monkeypatch):
    """Counts real Argon2 verifications (the real hasher still runs)."""
    calls = []
    real = PasswordHasher.verify

    def counting(self, hash, password):
        calls.append(hash)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


# ------------------------------------------------------------------------------------- the owner is never refused


def test_owner_on_her_usual_computer_is_not_refused_after_strangers_guess_her_password(app, make):
    nurse = make.user()
    ward_pc = app.test_client()
    assert _post(ward_pc, nurse.email, TEST_PASSWORD, WARD_PC).status_code == 302  # her usual computer
    ward_pc.post("/auth/logout", environ_base={"REMOTE_ADDR": WARD_PC})
    for i in range(12):  # from many computers: enough to trip every account-wide bucket
        _fail(app, nurse.email, f"203.0.113.{i}")
    for _ in range(6):  # and from one computer
        _fail(app, nurse.email, "198.51.100.7")
    resp = _post(ward_pc, nurse.email, TEST_PASSWORD, WARD_PC)
    assert resp.status_code == 302, "the owner was locked out by someone else's guesses"


def test_owner_on_a_new_computer_is_not_refused_for_a_few_strangers_failures(app, make):
    nurse = make.user()
    for i in range(5):
        _fail(app, nurse.email, f"10.0.0.{i}")
    assert _post(app.test_client(), nurse.email, TEST_PASSWORD, "10.0.0.99").status_code == 302


def test_behind_the_proxy_one_computer_typing_does_not_lock_out_the_trust(app, make):
    app.config.update(PROXY_FIX=1, FORWARDED_ALLOW_IPS="10.0.0.1")
    people = [make.user() for _ in range(12)]
    for p in people[:11]:  # one ward computer behind the TLS proxy: eleven typos on eleven accounts
        _fail(app, p.email, "10.0.0.1", **{"X-Forwarded-For": "192.168.7.20"})
    assert _post(app.test_client(), people[0].email, TEST_PASSWORD, "10.0.0.1",
                 **{"X-Forwarded-For": "192.168.7.20"}).status_code == 429, "the typing computer is throttled"
    # Everyone else reaches the app through the same proxy address.
    resp = _post(app.test_client(), people[11].email, TEST_PASSWORD, "10.0.0.1", **{"X-Forwarded-For": "192.168.9.31"})
    assert resp.status_code == 302, "one computer's typos locked out everyone behind the proxy"


def test_forwarded_for_from_an_untrusted_peer_is_ignored(app, make):
    app.config.update(PROXY_FIX=1, FORWARDED_ALLOW_IPS="10.0.0.1")
    people = [make.user() for _ in range(11)]
    for i, p in enumerate(people[:10]):  # a client talking to the app directly and inventing a new address each time
        _fail(app, p.email, "203.0.113.50", **{"X-Forwarded-For": f"192.0.2.{i}"})
    resp = _post(app.test_client(), people[10].email, TEST_PASSWORD, "203.0.113.50",
                 **{"X-Forwarded-For": "192.0.2.200"})
    assert resp.status_code == 429


# ------------------------------------------------------------------------------------- the guesser is stopped


def test_guessing_one_account_from_one_computer_is_stopped_without_checking_the_password(app, make, hasher_calls):
    nurse = make.user()
    for _ in range(5):
        assert _fail(app, nurse.email, "198.51.100.7").status_code == 401
    hasher_calls.clear()
    resp = _post(app.test_client(), nurse.email, TEST_PASSWORD, "198.51.100.7")
    assert resp.status_code == 429 and TOO_MANY in resp.get_data(as_text=True)
    assert resp.headers.get("Retry-After")
    assert hasher_calls == [], "a refused attempt still tested the password"
    assert _audits("auth.throttled") == 1


def test_password_spraying_from_one_computer_is_stopped(app, make):
    people = [make.user() for _ in range(11)]
    for p in people[:10]:
        assert _fail(app, p.email, "198.51.100.8").status_code == 401
    resp = _post(app.test_client(), people[10].email, TEST_PASSWORD, "198.51.100.8")
    assert resp.status_code == 429 and TOO_MANY in resp.get_data(as_text=True)


def test_many_computers_guessing_one_account_are_slowed_while_the_owner_signs_in(app, make):
    nurse = make.user()
    usual = app.test_client()
    assert _post(usual, nurse.email, TEST_PASSWORD, WARD_PC).status_code == 302
    usual.post("/auth/logout", environ_base={"REMOTE_ADDR": WARD_PC})
    for i in range(10):
        assert _fail(app, nurse.email, f"203.0.113.{i}").status_code == 401
    first = _post(app.test_client(), nurse.email, "another guess", "203.0.113.100")
    assert first.status_code == 401, "the account-wide bucket slows guessing down; it is not a lock-out"
    slowed = _post(app.test_client(), nurse.email, "yet another guess", "203.0.113.101")
    assert slowed.status_code == 429
    assert "Wait a minute" in slowed.get_data(as_text=True)
    assert _post(usual, nurse.email, TEST_PASSWORD, WARD_PC).status_code == 302


def test_a_forged_device_cookie_is_no_help(app, make):
    nurse = make.user()
    for _ in range(5):
        _fail(app, nurse.email, "198.51.100.9")
    forger = app.test_client()
    forger.set_cookie("shiftbridge_device", "eyJkIjoiZm9yZ2VkIiwidSI6WzFdfQ.forged-signature")
    assert _post(forger, nurse.email, TEST_PASSWORD, "198.51.100.9").status_code == 429


# ---------------------------------------------------------------------------- profile: current-password check


def test_profile_current_password_guessing_is_throttled_and_audited(app, make, client, hasher_calls):
    nurse = make.user()
    assert _post(client, nurse.email, TEST_PASSWORD, WARD_PC).status_code == 302
    form = {"pw-current_password": "a wrong guess", "pw-new_password": "a brand new passphrase",
            "pw-confirm": "a brand new passphrase"}
    for _ in range(5):
        resp = client.post("/profile/password", data=form, environ_base={"REMOTE_ADDR": WARD_PC})
        assert resp.status_code == 422 and "current password is not right" in resp.get_data(as_text=True)
    assert _audits("auth.password_check_failed") == 5
    hasher_calls.clear()
    resp = client.post("/profile/password", data={**form, "pw-current_password": TEST_PASSWORD},
                       environ_base={"REMOTE_ADDR": WARD_PC})
    assert resp.status_code == 429
    assert "Too many wrong current passwords" in resp.get_data(as_text=True)
    assert hasher_calls == []
    assert _audits("auth.throttled") == 1
    db.session.expire_all()
    assert accounts.get_user(nurse.id).check_password(TEST_PASSWORD), "the password was changed regardless"


def test_every_password_check_in_the_code_goes_through_the_throttle():
    """The class of defect: a new screen that checks a password without the throttle, the audit entry or the
    stand-in hash. Nothing calls ``check_password``, ``verify_hash`` or a hasher's ``verify`` but ``verify_hash``
    itself, ``core.passwords.verify_password`` (and the unused-by-the-app ``User.check_password``)."""
    root = Path(__file__).resolve().parents[2]
    checks = {"check_password", "verify_hash", "verify"}
    callers = {}
    for path in root.glob("*/**/*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] in {"tests", ".venv", "node_modules", "migrations", "bench"}:
            continue
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                    name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                    receiver = ast.unparse(node.func) if isinstance(node.func, ast.Attribute) else ""
                    if name in checks and (name != "verify" or "hasher" in receiver.lower()):
                        callers.setdefault(f"{rel}:{fn.name}", set()).add(name)
    assert set(callers) == {"core/accounts.py:verify_hash", "core/accounts.py:check_password",
                            "core/passwords.py:verify_password"}, callers


# ---------------------------------------------------------------------------------------- timing (item 5)


@pytest.mark.parametrize("case", ["wrong password", "unknown email", "deactivated account", "empty-ish email"])
def test_every_sign_in_outcome_does_the_same_password_hash_work(app, make, hasher_calls, case):
    nurse = make.user()
    if case == "deactivated account":
        nurse.active = False
        db.session.commit()
    email = {"wrong password": nurse.email, "deactivated account": nurse.email,
             "unknown email": "nobody.here@example.test", "empty-ish email": "x@y"}[case]
    hasher_calls.clear()
    resp = _post(app.test_client(), email, "a wrong guess", "10.2.0.1")
    assert resp.status_code == 401
    assert len(hasher_calls) == 1, f"{case}: {len(hasher_calls)} password-hash verifications (timing reveals it)"


def test_the_stand_in_hash_costs_what_a_real_one_costs(app, make):
    from argon2 import extract_parameters

    nurse = make.user()
    assert extract_parameters(accounts.stand_in_hash()) == extract_parameters(nurse.password_hash)


# ------------------------------------------------------------- refusals are counted, not each one audited (review)


def test_a_flood_of_refused_sign_ins_writes_one_audit_entry_per_full_bucket(app, make, caplog, monkeypatch):
    """An unauthenticated flood must not grow the permanent audit trail at request speed."""
    monkeypatch.setattr(throttle.log, "disabled", False)  # alembic's fileConfig (run in-process by the fixtures)
    monkeypatch.setattr(throttle.REFUSED, "logged_at", float("-inf"))  # a new minute: the next refusal is logged
    refused = throttle.REFUSED.total
    people = [make.user() for _ in range(11)]
    for _ in range(5):
        _fail(app, people[0].email, "198.51.100.20")
    for _ in range(40):  # the pair bucket is full: every one of these is refused
        assert _post(app.test_client(), people[0].email, "guess", "198.51.100.20").status_code == 429
    assert _audits("auth.throttled") == 1
    for p in people[1:]:  # spraying from another computer fills its client bucket
        _fail(app, p.email, "198.51.100.21")
    for _ in range(40):
        assert _post(app.test_client(), people[10].email, "guess", "198.51.100.21").status_code == 429
    assert _audits("auth.throttled") == 2, "one entry for the full pair bucket, one for the full client bucket"
    assert throttle.REFUSED.total - refused == 80
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(logged) == 1 and "sign-in" in logged[0], logged  # counted, logged at most once a minute


def test_a_flood_of_refused_current_password_checks_writes_one_audit_entry(app, make, client):
    nurse = make.user()
    assert _post(client, nurse.email, TEST_PASSWORD, WARD_PC).status_code == 302
    form = {"pw-current_password": "a wrong guess", "pw-new_password": "a brand new passphrase",
            "pw-confirm": "a brand new passphrase"}
    for _ in range(5):
        client.post("/profile/password", data=form, environ_base={"REMOTE_ADDR": WARD_PC})
    for _ in range(30):
        resp = client.post("/profile/password", data=form, environ_base={"REMOTE_ADDR": WARD_PC})
        assert resp.status_code == 429
    assert _audits("auth.throttled") == 1
