"""Command-line account, token and demo commands."""

from core import accounts
from core.accounts import Team
from core.db import db


def test_users_create_and_errors(runner):
    result = runner.invoke(args=["users", "create", "--email", "Boss@Example.test", "--name", "Boss",
                                 "--password", "long enough pw", "--admin"])
    assert result.exit_code == 0 and "administrator" in result.output
    assert accounts.user_by_email("boss@example.test").is_admin
    result = runner.invoke(args=["users", "create", "--email", "boss@example.test", "--name", "Boss",
                                 "--password", "long enough pw"])
    assert result.exit_code != 0 and "already" in result.output
    result = runner.invoke(args=["users", "create", "--email", "x@example.test", "--name", "X", "--password", "short"])
    assert result.exit_code != 0 and "10 characters" in result.output


def test_tokens_create_prints_a_working_token(runner, make, client):
    nurse = make.user()
    result = runner.invoke(args=["tokens", "create", "--email", nurse.email])
    secret = result.output.strip()
    assert result.exit_code == 0 and secret.startswith("sb_")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json["id"] == nurse.id
    assert runner.invoke(args=["tokens", "create", "--email", "nobody@example.test"]).exit_code != 0


def test_demo_seed_is_idempotent_and_realistic(runner):
    first = runner.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    assert "ward.manager@shiftbridge.test" in first.output
    counts = (db.session.scalar(db.select(db.func.count()).select_from(accounts.User)),
              db.session.scalar(db.select(db.func.count()).select_from(Team)))
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0
    assert counts == (db.session.scalar(db.select(db.func.count()).select_from(accounts.User)),
                      db.session.scalar(db.select(db.func.count()).select_from(Team)))
    ward = db.session.scalar(db.select(Team).where(Team.name == "Ward 7B Acute Medicine"))
    ed = db.session.scalar(db.select(Team).where(Team.name.startswith("Emergency Department")))
    assert 28 <= len(ward.memberships) <= 35 and 18 <= len(ed.memberships) <= 25
    grades = {m.user.grade for m in ward.memberships}
    assert {"Band 5", "Band 6", "Band 7"} <= grades and any(g in grades for g in ("Band 2", "Band 3"))
    assert {"FY1", "ST6", "Consultant"} <= {m.user.grade for m in ed.memberships}
    mobiles = [m.user.mobile for m in ward.memberships if m.user.mobile]
    assert mobiles and all(n.startswith("+447700900") for n in mobiles)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
