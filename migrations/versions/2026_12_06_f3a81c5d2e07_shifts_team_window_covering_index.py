"""rota: a covering index for a team's shifts in a window (the team calendar feed's validator reads only the index)

Revision ID: f3a81c5d2e07
Revises: a7c3e9f1b2d4
Create Date: 2026-12-06 20:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f3a81c5d2e07'
down_revision = 'a7c3e9f1b2d4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_shifts_team_window", "shifts",
                    ["team_id", "starts_at", "ends_at", "updated_at", "rota_period_id"])


def downgrade():
    op.drop_index("ix_shifts_team_window", table_name="shifts")
