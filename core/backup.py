"""Backups: ``flask backup create PATH`` and ``flask backup restore PATH`` (docs/operations.md).

PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists --single-transaction`` (all or
nothing). SQLite: the online backup API (a consistent copy while the app runs). Beside each backup a manifest
(``PATH.json``) keeps when it was taken and the audit trail's head at that moment: the anchor that
``flask audit verify --anchor`` must find in the restored copy. A restore says what it threw away: the audit entries
written after the backup (ids and actions only: never names or text), so governance can redo or record them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core import audit
from core.db import db, now_utc


class BackupError(Exception):
    pass


@dataclass
class Lost:
    first_id: int
    last_id: int
    actions: dict

    def __str__(self) -> str:
        count = self.last_id - self.first_id + 1
        top = ", ".join(f"{a} ×{n}" for a, n in sorted(self.actions.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"audit entries {self.first_id}..{self.last_id} ({count}) written after the backup are lost: {top}"


def _url():
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _libpq(url) -> tuple[str, dict]:
    """A libpq connection string without the password, and the environment that carries it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def create(path: Path) -> dict:
    url = _url()
    head = audit.head()
    manifest = {"created_at": now_utc().isoformat(), "engine": url.get_backend_name(),
                "audit_head_id": head.id if head else 0, "audit_head_hash": head.hash if head else None}
    db.session.rollback()
    path.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "postgresql":
        dsn, env = _libpq(url)
        done = subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(path), dsn], env=env,
                              capture_output=True, text=True)
        if done.returncode:
            raise BackupError(f"pg_dump failed: {done.stderr.strip()[:500]}")
    else:
        source = sqlite3.connect(url.database)
        target = sqlite3.connect(str(path))
        try:
            source.backup(target)  # the online backup API: consistent even while others write
        finally:
            target.close()
            source.close()
    manifest_path(path).write_text(json.dumps(manifest, indent=2))
    return manifest


def _lost_since(backup_head_id: int) -> Lost | None:
    try:
        rows = db.session.execute(select(audit.AuditEntry.id, audit.AuditEntry.action)
                                  .where(audit.AuditEntry.id > backup_head_id)).all()
    except Exception:  # noqa: BLE001  (an empty or broken database: nothing to compare)
        db.session.rollback()
        return None
    db.session.rollback()
    if not rows:
        return None
    return Lost(min(r.id for r in rows), max(r.id for r in rows), dict(Counter(r.action for r in rows)))


def restore(path: Path) -> tuple[dict, Lost | None]:
    """Replace the database with the backup. Stop the web nodes and workers first (docs/operations.md)."""
    if not path.exists():
        raise BackupError(f"no backup at {path}")
    manifest = json.loads(manifest_path(path).read_text()) if manifest_path(path).exists() else {}
    lost = _lost_since(int(manifest.get("audit_head_id") or 0)) if manifest else None
    db.session.remove()
    db.engine.dispose()
    url = _url()
    if url.get_backend_name() == "postgresql":
        dsn, env = _libpq(url)
        done = subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                               "--exit-on-error", "--dbname", dsn, str(path)], env=env, capture_output=True, text=True)
        if done.returncode:
            raise BackupError(f"pg_restore failed (nothing was changed): {done.stderr.strip()[:500]}")
    else:
        source = sqlite3.connect(str(path))
        target = sqlite3.connect(url.database)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    restored_head = db.session.scalar(select(func.max(audit.AuditEntry.id))) or 0
    db.session.rollback()
    if manifest and restored_head != int(manifest.get("audit_head_id") or 0):
        raise BackupError("the restored audit trail does not end where the manifest says")
    return manifest, lost
