"""the nurse in charge of a team's shift slot (issue #17: @in-charge)

Revision ID: 61a2aa1d4345
Revises: cb1ca2d07f80
Create Date: 2026-12-06 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = '61a2aa1d4345'
down_revision = 'cb1ca2d07f80'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('shift_in_charge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.Column('set_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['set_by_id'], ['users.id'], name=op.f('fk_shift_in_charge_set_by_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_shift_in_charge_team_id_teams'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_shift_in_charge_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shift_in_charge')),
    sa.UniqueConstraint('team_id', 'starts_at', name=op.f('uq_shift_in_charge_team_id_starts_at'))
    )


def downgrade():
    op.drop_table('shift_in_charge')
