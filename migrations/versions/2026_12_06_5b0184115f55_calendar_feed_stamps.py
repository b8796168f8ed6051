"""calendar feeds: a change stamp per team, moved by every write that changes what its feeds show

Revision ID: 5b0184115f55
Revises: b8e4d2f1a6c3
Create Date: 2026-12-06 22:00:00

"""
import sqlalchemy as sa
from alembic import op

import core.db  # noqa: F401  (UTCDateTime and other project column types)

revision = '5b0184115f55'
down_revision = 'b8e4d2f1a6c3'
branch_labels = None
depends_on = None


def upgrade():
    # No rows yet: a team without one counts as version 0 until its first change (``rota.feeds.stamps``).
    op.create_table('calendar_feed_stamps',
    sa.Column('team_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('changed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_calendar_feed_stamps'))
    )


def downgrade():
    op.drop_table('calendar_feed_stamps')
