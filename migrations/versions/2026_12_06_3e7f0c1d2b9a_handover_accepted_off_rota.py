"""handover: record an acceptance by someone not on the team's rota for the next 2 hours

Revision ID: 3e7f0c1d2b9a
Revises: 8d646b02b8ae
Create Date: 2026-12-06 04:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3e7f0c1d2b9a'
down_revision = '8d646b02b8ae'
branch_labels = None
depends_on = None


def upgrade():
    # existing acceptances were never checked against the rota: false
    for table in ('handovers', 'handover_entries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('accepted_off_rota', sa.Boolean(), nullable=False,
                                          server_default=sa.false()))


def downgrade():
    for table in ('handover_entries', 'handovers'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('accepted_off_rota')
