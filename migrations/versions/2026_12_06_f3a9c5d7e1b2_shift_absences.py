"""short-notice absences ("I can't make this shift") and each team's choice of what happens to the shift

Revision ID: f3a9c5d7e1b2
Revises: a7c3e9f1b2d4
Create Date: 2026-12-06 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = 'f3a9c5d7e1b2'
down_revision = 'a7c3e9f1b2d4'
branch_labels = None
depends_on = None

HANDLING = ('open_shift', 'coordinator')


def upgrade():
    op.create_table('shift_absences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shift_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('sick', 'family', 'other', name='absence_reason', native_enum=False, length=16),
              nullable=False),
    sa.Column('handling', sa.Enum(*HANDLING, name='absence_handling', native_enum=False, length=16), nullable=False),
    sa.Column('leave_id', sa.Integer(), nullable=True),
    sa.Column('reported_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['leave_id'], ['leave.id'], name=op.f('fk_shift_absences_leave_id_leave'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_shift_absences_shift_id_shifts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_shift_absences_team_id_teams'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_shift_absences_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shift_absences')),
    sa.UniqueConstraint('shift_id', 'user_id', name=op.f('uq_shift_absences_shift_id_user_id'))
    )
    with op.batch_alter_table('shift_absences', schema=None) as batch_op:
        batch_op.create_index('ix_shift_absences_team_reported', ['team_id', 'reported_at'], unique=False)
    op.create_table('team_absence_settings',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('handling', sa.Enum(*HANDLING, name='absence_handling', native_enum=False, length=16), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_absence_settings_team_id_teams'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_team_absence_settings'))
    )


def downgrade():
    op.drop_table('team_absence_settings')
    with op.batch_alter_table('shift_absences', schema=None) as batch_op:
        batch_op.drop_index('ix_shift_absences_team_reported')
    op.drop_table('shift_absences')
