"""rota: the database refuses a shift longer than 24 hours

Revision ID: 5b7e1c2a9d40
Revises: 174eb24c7d8d
Create Date: 2026-11-25 20:25:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5b7e1c2a9d40'
down_revision = '174eb24c7d8d'
branch_labels = None
depends_on = None

# SQLite cannot add a CHECK constraint to an existing table without rebuilding it (and its overlap triggers), so it
# gets triggers with the same name in the message; PostgreSQL gets a real CHECK constraint.
_SQLITE = """
CREATE TRIGGER trg_shifts_max_24h_{event} BEFORE {event_sql} ON shifts
WHEN julianday(NEW.ends_at) - julianday(NEW.starts_at) > 1.0
BEGIN
  SELECT RAISE(ABORT, 'ck_shifts_at_most_24h');
END
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE shifts ADD CONSTRAINT ck_shifts_at_most_24h "
                   "CHECK (ends_at - starts_at <= interval '24 hours')")
    else:
        op.execute(_SQLITE.format(event="insert", event_sql="INSERT"))
        op.execute(_SQLITE.format(event="update", event_sql="UPDATE OF starts_at, ends_at"))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE shifts DROP CONSTRAINT ck_shifts_at_most_24h")
    else:
        op.execute("DROP TRIGGER IF EXISTS trg_shifts_max_24h_insert")
        op.execute("DROP TRIGGER IF EXISTS trg_shifts_max_24h_update")
