"""core: sign-in sessions remember their last use and why they ended (idle and absolute time-outs)

Revision ID: e5f19b3c7a62
Revises: 4a4a31d6ce3e
Create Date: 2026-12-06 04:10:00

"""
import sqlalchemy as sa
from alembic import op

import core.db

# revision identifiers, used by Alembic.
revision = 'e5f19b3c7a62'
down_revision = '4a4a31d6ce3e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ended_reason', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_column('ended_reason')
        batch_op.drop_column('last_seen_at')
