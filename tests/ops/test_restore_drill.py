"""Issue #19 restore drill: back up, keep working, restore; the restored trail verifies against the backup's anchor
and the restore names exactly what was lost since the backup."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from core import audit
from core.accounts import User
from core.db import db


def test_back_up_write_more_restore_verify_and_name_what_was_lost(app, runner, make, tmp_path):
    before = make.user(display_name="Before Backup")
    audit.record("rota.published", actor=before, team_id=1, summary={"shifts": 12})
    before_id = before.id
    db.session.commit()
    target = tmp_path / "shiftbridge.backup"

    made = runner.invoke(args=["backup", "create", str(target)])
    assert made.exit_code == 0, made.output
    anchor_id, anchor = re.search(r"audit head (\d+) ([0-9a-f]{64})", made.output).groups()
    assert target.exists() and target.with_name(target.name + ".json").exists()

    # Work goes on after the backup: a new person, a claim, a swap.
    after = make.user(display_name="After Backup")
    audit.record("shift.claimed", actor=after, entity_type="shift", entity_id=7)
    audit.record("swap.approved", actor=before, entity_type="swap", entity_id=3)
    db.session.commit()
    later_head = audit.head()
    later_id, later_hash, after_id = later_head.id, later_head.hash, after.id
    db.session.commit()

    restored = runner.invoke(args=["backup", "restore", str(target), "--yes"])
    assert restored.exit_code == 0, restored.output
    first_lost = int(anchor_id) + 1
    assert f"audit entries {first_lost}..{later_id} ({later_id - first_lost + 1}) written after the backup are lost" \
        in restored.output
    assert "shift.claimed ×1" in restored.output and "swap.approved ×1" in restored.output
    assert "After Backup" not in restored.output  # actions and ids only, never names

    # The restored copy: the backup's anchor verifies; the later anchor shows the tail that was lost.
    verified = runner.invoke(args=["audit", "verify", "--anchor", anchor])
    assert verified.exit_code == 0, verified.output
    assert runner.invoke(args=["audit", "verify", "--anchor", later_hash]).exit_code == 1
    assert db.session.get(User, after_id) is None and db.session.get(User, before_id) is not None
    assert db.session.scalar(select(func.max(audit.AuditEntry.id))) == int(anchor_id)
    # And the service works on on the restored copy: the next entry continues the chain.
    audit.record("rota.published", actor=db.session.get(User, before_id), team_id=1)
    db.session.commit()
    assert runner.invoke(args=["audit", "verify", "--anchor", anchor]).exit_code == 0


def test_restoring_a_missing_backup_changes_nothing(app, runner, make, tmp_path):
    make.user()
    db.session.commit()
    result = runner.invoke(args=["backup", "restore", str(tmp_path / "nope.backup"), "--yes"])
    assert result.exit_code != 0 and "no backup at" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
