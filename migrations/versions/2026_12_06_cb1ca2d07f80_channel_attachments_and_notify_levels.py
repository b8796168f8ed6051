"""channel attachments (photos, files) and per-channel notification levels

Revision ID: cb1ca2d07f80
Revises: 147311dc0123
Create Date: 2026-12-06 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = 'cb1ca2d07f80'
down_revision = '147311dc0123'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('channel_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('storage_key', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=120), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_channel_attachments_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['post_id'], ['channel_posts.id'], name=op.f('fk_channel_attachments_post_id_channel_posts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_channel_attachments_uploaded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_attachments')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_channel_attachments_storage_key'))
    )
    with op.batch_alter_table('channel_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_attachments_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_attachments_post_id'), ['post_id'], unique=False)

    with op.batch_alter_table('channel_read_positions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_level', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('sms_mentions', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('channel_read_positions', schema=None) as batch_op:
        batch_op.drop_column('sms_mentions')
        batch_op.drop_column('notify_level')
    with op.batch_alter_table('channel_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_attachments_post_id'))
        batch_op.drop_index(batch_op.f('ix_channel_attachments_channel_id'))
    op.drop_table('channel_attachments')
