"""Models and migrations agree, and the migrations go down and up again, on every engine."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from core.db import db


def test_no_pending_autogenerate_diff(app):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == [], f"models and migrations disagree; run `flask db migrate`: {diff}"


def test_upgrade_downgrade_upgrade(app):
    db.session.remove()
    downgrade(revision="base")
    remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert remaining == set(), f"downgrade left tables behind: {remaining}"
    upgrade(revision="heads")
    assert {"users", "audit_entries", "teams"} <= set(inspect(db.engine).get_table_names())
