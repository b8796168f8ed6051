"""team invitations: joining a team needs the person's consent

Revision ID: a7c3e9f1b2d4
Revises: 5b7e1c2a9d40
Create Date: 2026-12-06 04:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = 'a7c3e9f1b2d4'
down_revision = '5b7e1c2a9d40'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('team_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('coordinator', 'staff', name='invitation_role', native_enum=False, length=16),
              nullable=False),
    sa.Column('state', sa.Enum('pending', 'accepted', 'declined', 'withdrawn', name='invitation_state',
                               native_enum=False, length=16), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_team_invitations_invited_by_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_invitations_team_id_teams'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_invitations_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_invitations')),
    sa.UniqueConstraint('team_id', 'user_id', name=op.f('uq_team_invitations_team_id_user_id'))
    )
    with op.batch_alter_table('team_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_invitations_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('team_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_invitations_user_id'))
    op.drop_table('team_invitations')
