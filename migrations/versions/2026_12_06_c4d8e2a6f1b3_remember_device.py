"""core: a sign-in session may be remembered on a personal device until a date (no idle time-out meanwhile)

Revision ID: c4d8e2a6f1b3
Revises: e5f19b3c7a62
Create Date: 2026-12-06 19:25:00

"""
import sqlalchemy as sa
from alembic import op

import core.db

# revision identifiers, used by Alembic.
revision = 'c4d8e2a6f1b3'
down_revision = 'e5f19b3c7a62'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remembered_until', core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_column('remembered_until')
