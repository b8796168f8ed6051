"""calendar feeds: remember retired feed links (410 Gone, not a guess)

Revision ID: b8e4d2f1a6c3
Revises: d10d498e2b78
Create Date: 2026-12-06 05:15:00

"""
import sqlalchemy as sa
from alembic import op

import core.db  # noqa: F401  (UTCDateTime and other project column types)

revision = 'b8e4d2f1a6c3'
down_revision = 'd10d498e2b78'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calendar_feed_retired_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('retired_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['feed_id'], ['calendar_feeds.id'],
                            name=op.f('fk_calendar_feed_retired_tokens_feed_id_calendar_feeds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_calendar_feed_retired_tokens'))
    )
    with op.batch_alter_table('calendar_feed_retired_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_feed_retired_tokens_feed_id'), ['feed_id'], unique=False)


def downgrade():
    with op.batch_alter_table('calendar_feed_retired_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_feed_retired_tokens_feed_id'))
    op.drop_table('calendar_feed_retired_tokens')
