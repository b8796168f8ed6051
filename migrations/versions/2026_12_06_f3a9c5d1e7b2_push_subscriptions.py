"""web push: subscriptions per device, team push-first policy, push columns on the outbox

Revision ID: f3a9c5d1e7b2
Revises: 7d3e2a91c4b8
Create Date: 2026-12-06 18:50:00

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


revision = 'f3a9c5d1e7b2'
down_revision = '7d3e2a91c4b8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('push_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=1000), nullable=False),
    sa.Column('p256dh', sa.String(length=120), nullable=False),
    sa.Column('auth', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_push_subscriptions_user_id_users'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['user_sessions.id'],
                            name=op.f('fk_push_subscriptions_session_id_user_sessions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscriptions')),
    sa.UniqueConstraint('endpoint', name=op.f('uq_push_subscriptions_endpoint'))
    )
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_subscriptions_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_subscriptions_session_id'), ['session_id'], unique=False)

    op.create_table('push_policies',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('sms_after_minutes', sa.Integer(), nullable=False),
    sa.Column('urgent_sms_after_minutes', sa.Integer(), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_push_policies_team_id_teams'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_push_policies'))
    )

    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fallback_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('opened_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_notification_outbox_fallback_of_id'), ['fallback_of_id'], unique=False)


def downgrade():
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_outbox_fallback_of_id'))
        batch_op.drop_column('opened_at')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('fallback_of_id')
    op.drop_table('push_policies')
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_subscriptions_session_id'))
        batch_op.drop_index(batch_op.f('ix_push_subscriptions_user_id'))
    op.drop_table('push_subscriptions')
