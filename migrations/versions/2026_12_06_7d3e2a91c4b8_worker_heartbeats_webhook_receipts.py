"""worker heartbeats and webhook receipts (replay guard)

Revision ID: 7d3e2a91c4b8
Revises: df532754b375
Create Date: 2026-12-06 04:10:00

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


revision = '7d3e2a91c4b8'
down_revision = 'df532754b375'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('worker_heartbeats',
    sa.Column('worker_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('beat_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_worker_heartbeats'))
    )
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_heartbeats_beat_at'), ['beat_at'], unique=False)

    op.create_table('webhook_receipts',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('received_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_webhook_receipts'))
    )
    with op.batch_alter_table('webhook_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_receipts_received_at'), ['received_at'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_receipts_received_at'))
    op.drop_table('webhook_receipts')
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_heartbeats_beat_at'))
    op.drop_table('worker_heartbeats')
