"""staff requests (issue #18): leave entitlement settings and profiles, carry-over, leave requests, the team's
"at most N off" rule, request windows, rota requests, standing preferences and flexible-working agreements

Revision ID: f40818430d96
Revises: f3a81c5d2e07
Create Date: 2026-12-06 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import core.db  # noqa: F401  (UTCDateTime and other project column types)


# revision identifiers, used by Alembic.
revision = 'f40818430d96'
down_revision = 'f3a81c5d2e07'
branch_labels = None
depends_on = None


def _enum(name, *values):
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def _fk(table, column, target, ondelete):
    return sa.ForeignKeyConstraint([column], [f'{target}.id'], name=op.f(f'fk_{table}_{column}_{target}'),
                                   ondelete=ondelete)


def upgrade():
    op.create_table('trust_leave_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year_start_month', sa.Integer(), nullable=False),
    sa.Column('year_start_day', sa.Integer(), nullable=False),
    sa.Column('day_minutes', sa.Integer(), nullable=False),
    sa.Column('days_under_5', sa.Integer(), nullable=False),
    sa.Column('days_5_to_10', sa.Integer(), nullable=False),
    sa.Column('days_over_10', sa.Integer(), nullable=False),
    sa.Column('bank_holidays', sa.Integer(), nullable=False),
    sa.Column('max_carry_minutes', sa.Integer(), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('year_start_month >= 1 AND year_start_month <= 12',
                       name=op.f('ck_trust_leave_settings_month_range')),
    sa.CheckConstraint('year_start_day >= 1 AND year_start_day <= 28', name=op.f('ck_trust_leave_settings_day_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trust_leave_settings'))
    )
    op.create_table('staff_leave_profiles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('service_start', sa.Date(), nullable=True),
    sa.Column('fte_thousandths', sa.Integer(), nullable=False),
    sa.Column('days_override', sa.Integer(), nullable=True),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('fte_thousandths >= 1 AND fte_thousandths <= 1000', name=op.f('ck_staff_leave_profiles_fte_range')),
    sa.CheckConstraint('days_override IS NULL OR (days_override >= 0 AND days_override <= 60)',
                       name=op.f('ck_staff_leave_profiles_days_range')),
    _fk('staff_leave_profiles', 'user_id', 'users', 'CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_staff_leave_profiles'))
    )
    op.create_table('leave_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('leave_year', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', core.db.UTCDateTime(timezone=True), nullable=False),
    _fk('leave_adjustments', 'user_id', 'users', 'CASCADE'),
    _fk('leave_adjustments', 'recorded_by_id', 'users', 'SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leave_adjustments')),
    sa.UniqueConstraint('user_id', 'leave_year', 'kind', name=op.f('uq_leave_adjustments_user_id_leave_year_kind'))
    )
    op.create_index(op.f('ix_leave_adjustments_user_id'), 'leave_adjustments', ['user_id'], unique=False)
    op.create_table('leave_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('state', _enum('request_state', 'pending', 'approved', 'refused', 'cancelled'), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.String(length=200), nullable=True),
    sa.Column('leave_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('last_day >= first_day', name=op.f('ck_leave_requests_days_in_order')),
    sa.CheckConstraint('minutes >= 0', name=op.f('ck_leave_requests_minutes_positive')),
    _fk('leave_requests', 'user_id', 'users', 'CASCADE'),
    _fk('leave_requests', 'team_id', 'teams', 'CASCADE'),
    _fk('leave_requests', 'decided_by_id', 'users', 'SET NULL'),
    _fk('leave_requests', 'leave_id', 'leave', 'SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leave_requests'))
    )
    op.create_index(op.f('ix_leave_requests_user_id'), 'leave_requests', ['user_id'], unique=False)
    op.create_index('ix_leave_requests_team_state', 'leave_requests', ['team_id', 'state'], unique=False)
    op.create_table('team_leave_rules',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('max_off', sa.Integer(), nullable=True),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('max_off IS NULL OR (max_off >= 0 AND max_off <= 500)',
                       name=op.f('ck_team_leave_rules_max_off_range')),
    _fk('team_leave_rules', 'team_id', 'teams', 'CASCADE'),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_team_leave_rules'))
    )
    op.create_table('request_windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('opens_on', sa.Date(), nullable=False),
    sa.Column('closes_on', sa.Date(), nullable=False),
    sa.Column('max_per_person', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('closes_on >= opens_on', name=op.f('ck_request_windows_days_in_order')),
    sa.CheckConstraint('max_per_person >= 1 AND max_per_person <= 50', name=op.f('ck_request_windows_limit_range')),
    _fk('request_windows', 'team_id', 'teams', 'CASCADE'),
    _fk('request_windows', 'period_id', 'rota_periods', 'CASCADE'),
    _fk('request_windows', 'created_by_id', 'users', 'SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_windows')),
    sa.UniqueConstraint('period_id', name=op.f('uq_request_windows_period_id'))
    )
    op.create_index(op.f('ix_request_windows_team_id'), 'request_windows', ['team_id'], unique=False)
    op.create_table('rota_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', _enum('rota_request_kind', 'want', 'avoid'), nullable=False),
    sa.Column('shift_type_id', sa.Integer(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('priority >= 1 AND priority <= 3', name=op.f('ck_rota_requests_priority_range')),
    _fk('rota_requests', 'window_id', 'request_windows', 'CASCADE'),
    _fk('rota_requests', 'user_id', 'users', 'CASCADE'),
    _fk('rota_requests', 'shift_type_id', 'shift_types', 'CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rota_requests')),
    sa.UniqueConstraint('window_id', 'user_id', 'day', 'kind', 'shift_type_id',
                        name=op.f('uq_rota_requests_window_id_user_id_day_kind_shift_type_id'))
    )
    op.create_index(op.f('ix_rota_requests_window_id'), 'rota_requests', ['window_id'], unique=False)
    op.create_index(op.f('ix_rota_requests_user_id'), 'rota_requests', ['user_id'], unique=False)
    op.create_table('staff_preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', _enum('preference_kind', 'prefers_shift', 'avoids_shift', 'fixed_day_off', 'no_nights'),
              nullable=False),
    sa.Column('shift_type_id', sa.Integer(), nullable=True),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('agreement', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('weekday IS NULL OR (weekday >= 0 AND weekday <= 6)',
                       name=op.f('ck_staff_preferences_weekday_range')),
    _fk('staff_preferences', 'team_id', 'teams', 'CASCADE'),
    _fk('staff_preferences', 'user_id', 'users', 'CASCADE'),
    _fk('staff_preferences', 'shift_type_id', 'shift_types', 'CASCADE'),
    _fk('staff_preferences', 'recorded_by_id', 'users', 'SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_preferences'))
    )
    op.create_index('ix_staff_preferences_team_user', 'staff_preferences', ['team_id', 'user_id'], unique=False)


def downgrade():
    op.drop_index('ix_staff_preferences_team_user', table_name='staff_preferences')
    op.drop_table('staff_preferences')
    op.drop_index(op.f('ix_rota_requests_user_id'), table_name='rota_requests')
    op.drop_index(op.f('ix_rota_requests_window_id'), table_name='rota_requests')
    op.drop_table('rota_requests')
    op.drop_index(op.f('ix_request_windows_team_id'), table_name='request_windows')
    op.drop_table('request_windows')
    op.drop_table('team_leave_rules')
    op.drop_index('ix_leave_requests_team_state', table_name='leave_requests')
    op.drop_index(op.f('ix_leave_requests_user_id'), table_name='leave_requests')
    op.drop_table('leave_requests')
    op.drop_index(op.f('ix_leave_adjustments_user_id'), table_name='leave_adjustments')
    op.drop_table('leave_adjustments')
    op.drop_table('staff_leave_profiles')
    op.drop_table('trust_leave_settings')
