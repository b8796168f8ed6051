"""Retention purge (legal hold kept), subject-access export (JSON + HTML) and an audit trail without message text,
on both engines."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from channels import governance, moderation, services
from channels.models import Post, Reaction
from core.audit import AuditEntry
from core.db import db, now_utc
from tests.factories import ward


def _age(post: Post, days: int) -> None:
    post.created_at = now_utc() - timedelta(days=days)


def test_purge_keeps_recent_threads_and_held_channels(app, make, runner):
    team, coord, (a, b, _), _ = ward(make)
    channel = services.team_channel(team)
    old = services.post(channel, a, "Old news")
    moderation.react(old, b, "👍")
    kept_thread = services.post(channel, a, "Old question")
    recent_reply = services.post(channel, b, "Fresh answer", parent=kept_thread)
    fresh = services.post(channel, a, "This week")
    held = services.create_channel(team, coord, name="Incident review", kind="list", people=[a.id])
    held_post = services.post(held, a, "Kept for the inquiry")
    for p in (old, kept_thread, held_post):
        _age(p, 120)
    _age(recent_reply, 10)
    held.legal_hold = True
    db.session.commit()
    result = runner.invoke(args=["channels", "purge"])
    assert result.exit_code == 0, result.output
    assert "purged 1 post(s)" in result.output
    left = set(db.session.scalars(select(Post.text)))
    assert left == {"Old question", "Fresh answer", "This week", "Kept for the inquiry"}
    assert db.session.scalar(select(func.count(Reaction.id))) == 0
    _age(recent_reply, 100)
    db.session.commit()
    assert governance.purge_expired() == 2  # the thread goes once its last reply has expired
    db.session.commit()
    assert fresh.id in set(db.session.scalars(select(Post.id)))


def test_team_retention_setting_is_used(app, make):
    team, coord, (a, *_), _ = ward(make)
    channel = services.team_channel(team)
    p = services.post(channel, a, "Ten days old")
    _age(p, 10)
    governance.set_retention(team, coord, 7)
    db.session.commit()
    assert governance.purge_expired() == 1


def test_export_everything_one_person_wrote(app, make, runner, tmp_path):
    team, coord, (a, b, _), _ = ward(make)
    channel = services.team_channel(team)
    p = services.post(channel, a, "Running <10> min late")
    moderation.edit(p, a, "Running 20 min late")
    services.post(channel, b, "Not Amy's")
    services.post(channel, a, "Thanks", parent=p)
    gone = services.post(channel, a, "Oops")
    moderation.delete(gone, a)
    db.session.commit()
    result = runner.invoke(args=["channels", "export", "--email", a.email, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / f"channels-export-user-{a.id}.json").read_text())
    assert [x["text"] for x in data["posts"]] == ["Running 20 min late", "Thanks", ""]
    assert data["posts"][0]["earlier_versions"][0]["text"] == "Running <10> min late"
    page = (tmp_path / f"channels-export-user-{a.id}.html").read_text()
    assert "Running &lt;10&gt; min late" in page and "Not Amy" not in page
    assert runner.invoke(args=["channels", "export", "--email", "nobody@example.test"]).exit_code != 0


def test_audit_trail_never_holds_message_text(app, make):
    team, coord, (a, b, _), _ = ward(make)
    channel = services.team_channel(team)
    p = services.post(channel, a, "Bladder scanner is in the sluice")
    moderation.edit(p, a, "Bladder scanner is in bay 3")
    moderation.report(p, b, "Rude remark about a colleague")
    moderation.hide(p, coord, "Personal remark")
    db.session.commit()
    trail = " ".join(e.summary_json for e in db.session.scalars(select(AuditEntry)))
    for words in ("Bladder", "sluice", "bay 3", "Rude", "Personal remark"):
        assert words not in trail


def test_the_worker_runs_the_retention_purge(app, make):
    """Retention is scheduled, not just a command: one round of the outbox worker purges what has expired."""
    from notifications import worker

    team, coord, (a, *_), _ = ward(make)
    channel = services.team_channel(team)
    _age(services.post(channel, a, "Four months old"), 120)
    services.post(channel, a, "Yesterday")
    db.session.commit()
    stats = worker.run(once=True)
    assert stats.periodic_runs.get(governance.PURGE_TASK) == 1 and not stats.periodic_failures
    assert set(db.session.scalars(select(Post.text))) == {"Yesterday"}
    assert db.session.scalar(select(AuditEntry.summary_json).where(AuditEntry.action == "channel.purged"))
