"""auto-roster jobs (issue #18): a run of the solver as a background job with progress and cancel

Revision ID: a7c3e91f0b24
Revises: f40818430d96
Create Date: 2026-12-07 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = 'a7c3e91f0b24'
down_revision = 'f40818430d96'
branch_labels = None
depends_on = None

ACTIVE = sa.text("state IN ('queued', 'running')")


def upgrade():
    op.create_table('autoroster_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('time_limit', sa.Float(), nullable=False),
    sa.Column('state', sa.Enum('queued', 'running', 'done', 'failed', 'cancelled', name='autoroster_job_state',
                               native_enum=False, length=16), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('runner', sa.String(length=80), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('solutions', sa.Integer(), nullable=False),
    sa.Column('best_objective', sa.Float(), nullable=True),
    sa.Column('places', sa.Integer(), nullable=False),
    sa.Column('filled', sa.Integer(), nullable=False),
    sa.Column('elapsed_seconds', sa.Float(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint('time_limit >= 1 AND time_limit <= 120', name=op.f('ck_autoroster_jobs_time_limit_range')),
    sa.ForeignKeyConstraint(['period_id'], ['rota_periods.id'], name=op.f('fk_autoroster_jobs_period_id_rota_periods'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_autoroster_jobs_team_id_teams'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_autoroster_jobs_requested_by_id_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_autoroster_jobs'))
    )
    op.create_index(op.f('ix_autoroster_jobs_period_id'), 'autoroster_jobs', ['period_id'], unique=False)
    op.create_index('ix_autoroster_jobs_state_created', 'autoroster_jobs', ['state', 'created_at'], unique=False)
    op.create_index('uq_autoroster_jobs_active_period', 'autoroster_jobs', ['period_id'], unique=True,
                    postgresql_where=ACTIVE, sqlite_where=ACTIVE)


def downgrade():
    op.drop_index('uq_autoroster_jobs_active_period', table_name='autoroster_jobs')
    op.drop_index('ix_autoroster_jobs_state_created', table_name='autoroster_jobs')
    op.drop_index(op.f('ix_autoroster_jobs_period_id'), table_name='autoroster_jobs')
    op.drop_table('autoroster_jobs')
