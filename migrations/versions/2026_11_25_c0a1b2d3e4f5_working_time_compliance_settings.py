"""working-time compliance settings: per-team and per-person rule overrides, WTR opt-out

Revision ID: c0a1b2d3e4f5
Revises: 0db4aba73035
Create Date: 2026-11-25 19:55:00

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = 'c0a1b2d3e4f5'
down_revision = '0db4aba73035'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('team_compliance_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('severities', sa.JSON(), nullable=False),
    sa.Column('disabled_rules', sa.JSON(), nullable=False),
    sa.Column('extra_rules', sa.JSON(), nullable=False),
    sa.Column('rule_sets', sa.JSON(), nullable=True),
    sa.Column('weekly_rest_fortnightly', sa.Boolean(), nullable=False),
    sa.Column('rota_cycle_weeks', sa.Integer(), nullable=True),
    sa.Column('break_minutes', sa.Integer(), nullable=True),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('break_minutes IS NULL OR (break_minutes >= 0 AND break_minutes <= 240)',
                       name=op.f('ck_team_compliance_settings_break_range')),
    sa.CheckConstraint('rota_cycle_weeks IS NULL OR (rota_cycle_weeks >= 1 AND rota_cycle_weeks <= 52)',
                       name=op.f('ck_team_compliance_settings_cycle_range')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_compliance_settings_team_id_teams'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_compliance_settings')),
    sa.UniqueConstraint('team_id', name=op.f('uq_team_compliance_settings_team_id'))
    )
    op.create_table('person_compliance_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('wtr_opt_out', sa.Boolean(), nullable=False),
    sa.Column('opted_out_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rule_sets', sa.JSON(), nullable=True),
    sa.Column('extra_rules', sa.JSON(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_person_compliance_settings_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_compliance_settings')),
    sa.UniqueConstraint('user_id', name=op.f('uq_person_compliance_settings_user_id'))
    )


def downgrade():
    op.drop_table('person_compliance_settings')
    op.drop_table('team_compliance_settings')
