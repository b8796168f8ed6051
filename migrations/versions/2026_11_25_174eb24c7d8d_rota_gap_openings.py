"""rota gap openings

Revision ID: 174eb24c7d8d
Revises: 0db4aba73035
Create Date: 2026-11-25 19:38:19.622960

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = '174eb24c7d8d'
down_revision = '0db4aba73035'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rota_gap_openings',
    sa.Column('shift_id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['requirement_id'], ['staffing_requirements.id'], name=op.f('fk_rota_gap_openings_requirement_id_staffing_requirements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_rota_gap_openings_shift_id_shifts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shift_id', name=op.f('pk_rota_gap_openings'))
    )
    with op.batch_alter_table('rota_gap_openings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rota_gap_openings_requirement_id'), ['requirement_id'], unique=False)


def downgrade():
    with op.batch_alter_table('rota_gap_openings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rota_gap_openings_requirement_id'))
    op.drop_table('rota_gap_openings')
