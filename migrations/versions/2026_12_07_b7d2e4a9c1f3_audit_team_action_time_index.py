"""audit trail: an index on (team_id, action, at), so insights' aggregates over a chosen period read only that
period's entries of the teams asked for, whatever the length of the history

Revision ID: b7d2e4a9c1f3
Revises: f40818430d96
Create Date: 2026-12-07 01:30:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7d2e4a9c1f3'
down_revision = 'f40818430d96'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_audit_entries_team_action_at", "audit_entries", ["team_id", "action", "at"])


def downgrade():
    op.drop_index("ix_audit_entries_team_action_at", table_name="audit_entries")
