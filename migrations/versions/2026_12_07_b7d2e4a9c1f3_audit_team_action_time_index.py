"""insights: indexes on (team, time) of the audit trail (with the action), handovers, swap requests and broadcasts,
so aggregates over a chosen period read only that period's rows of the teams asked for, whatever the history

Revision ID: b7d2e4a9c1f3
Revises: f40818430d96
Create Date: 2026-12-07 01:30:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7d2e4a9c1f3'
down_revision = 'f40818430d96'
branch_labels = None
depends_on = ('c094fa6fba4e', 'd2551cbb3ed5', 'df532754b375')  # handovers, swap_requests, broadcasts


INDEXES = (("ix_audit_entries_team_action_at", "audit_entries", ["team_id", "action", "at"]),
           ("ix_handovers_team_ready", "handovers", ["team_id", "ready_at"]),
           ("ix_swap_requests_team_created", "swap_requests", ["team_id", "created_at"]),
           ("ix_broadcasts_team_created", "broadcasts", ["team_id", "created_at"]))


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
