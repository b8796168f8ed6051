"""rota: a partial index of the open shifts by team and start (open-shift lists read only the gaps, not every shift
of the next two years)

Revision ID: d5e1a7c3b9f2
Revises: b7d2e4a9c1f3
Create Date: 2026-12-07 14:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd5e1a7c3b9f2'
down_revision = 'b7d2e4a9c1f3'
branch_labels = None
depends_on = None

OPEN = sa.text("state = 'open'")


def upgrade():
    op.create_index("ix_shifts_open_team_starts", "shifts", ["team_id", "starts_at"], postgresql_where=OPEN,
                    sqlite_where=OPEN)


def downgrade():
    op.drop_index("ix_shifts_open_team_starts", table_name="shifts")
