"""swaps, offers, open-shift volunteers and team swap settings

Revision ID: d2551cbb3ed5
Revises: 0db4aba73035
Create Date: 2026-11-25 19:38:07.115063

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = 'd2551cbb3ed5'
down_revision = '0db4aba73035'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('team_swap_settings',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('approval_policy', sa.Enum('always', 'auto_when_clean', name='approval_policy', native_enum=False, length=24), nullable=False),
    sa.Column('open_shift_policy', sa.Enum('first_claim_wins', 'coordinator_chooses', name='open_shift_policy', native_enum=False, length=24), nullable=False),
    sa.Column('cutoff_hours', sa.Integer(), nullable=False),
    sa.Column('expiry_hours', sa.Integer(), nullable=False),
    sa.Column('pool_team_ids', sa.JSON(), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cutoff_hours >= 0 AND cutoff_hours <= 336', name=op.f('ck_team_swap_settings_cutoff_range')),
    sa.CheckConstraint('expiry_hours >= 1 AND expiry_hours <= 2160', name=op.f('ck_team_swap_settings_expiry_range')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_swap_settings_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_team_swap_settings'))
    )
    op.create_table('open_shift_volunteers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shift_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('waiting', 'chosen', 'not_chosen', 'withdrawn', name='volunteer_state', native_enum=False, length=24), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_open_shift_volunteers_shift_id_shifts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_open_shift_volunteers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_shift_volunteers')),
    sa.UniqueConstraint('shift_id', 'user_id', name=op.f('uq_open_shift_volunteers_shift_id_user_id'))
    )
    with op.batch_alter_table('open_shift_volunteers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_shift_volunteers_shift_id'), ['shift_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_shift_volunteers_user_id'), ['user_id'], unique=False)
    op.create_table('swap_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('swap', 'offer', name='swap_kind', native_enum=False, length=24), nullable=False),
    sa.Column('state', sa.Enum('proposed', 'awaiting_approval', 'approved', 'declined', 'refused', 'cancelled', 'expired', name='swap_state', native_enum=False, length=24), nullable=False),
    sa.Column('requester_id', sa.Integer(), nullable=False),
    sa.Column('shift_id', sa.Integer(), nullable=False),
    sa.Column('shift_version', sa.Integer(), nullable=False),
    sa.Column('counterpart_shift_id', sa.Integer(), nullable=True),
    sa.Column('counterpart_shift_version', sa.Integer(), nullable=True),
    sa.Column('to_everyone', sa.Boolean(), nullable=False),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('auto_approved', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind <> 'swap' OR counterpart_shift_id IS NOT NULL", name=op.f('ck_swap_requests_swap_has_counterpart')),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['users.id'], name=op.f('fk_swap_requests_accepted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['counterpart_shift_id'], ['shifts.id'], name=op.f('fk_swap_requests_counterpart_shift_id_shifts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_swap_requests_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requester_id'], ['users.id'], name=op.f('fk_swap_requests_requester_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_swap_requests_shift_id_shifts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_swap_requests_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_swap_requests'))
    )
    with op.batch_alter_table('swap_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_swap_requests_counterpart_shift_id'), ['counterpart_shift_id'], unique=False)
        batch_op.create_index('ix_swap_requests_requester_state', ['requester_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_swap_requests_shift_id'), ['shift_id'], unique=False)
        batch_op.create_index('ix_swap_requests_team_state', ['team_id', 'state'], unique=False)
    op.create_table('swap_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('asked', 'accepted', 'declined', name='recipient_state', native_enum=False, length=24), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('asked_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('responded_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['swap_requests.id'], name=op.f('fk_swap_recipients_request_id_swap_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_swap_recipients_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_swap_recipients')),
    sa.UniqueConstraint('request_id', 'user_id', name=op.f('uq_swap_recipients_request_id_user_id'))
    )
    with op.batch_alter_table('swap_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_swap_recipients_user', ['user_id', 'state'], unique=False)
    op.create_table('swap_shift_locks',
    sa.Column('shift_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['swap_requests.id'], name=op.f('fk_swap_shift_locks_request_id_swap_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_swap_shift_locks_shift_id_shifts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shift_id', name=op.f('pk_swap_shift_locks'))
    )
    with op.batch_alter_table('swap_shift_locks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_swap_shift_locks_request_id'), ['request_id'], unique=False)


def downgrade():
    with op.batch_alter_table('swap_shift_locks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_swap_shift_locks_request_id'))
    op.drop_table('swap_shift_locks')
    with op.batch_alter_table('swap_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_swap_recipients_user')
    op.drop_table('swap_recipients')
    with op.batch_alter_table('swap_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_swap_requests_team_state')
        batch_op.drop_index(batch_op.f('ix_swap_requests_shift_id'))
        batch_op.drop_index('ix_swap_requests_requester_state')
        batch_op.drop_index(batch_op.f('ix_swap_requests_counterpart_shift_id'))
    op.drop_table('swap_requests')
    with op.batch_alter_table('open_shift_volunteers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_shift_volunteers_user_id'))
        batch_op.drop_index(batch_op.f('ix_open_shift_volunteers_shift_id'))
    op.drop_table('open_shift_volunteers')
    op.drop_table('team_swap_settings')
