"""Reading the audit trail: the entries a viewer may see, a page of them, and the CSV export (the trail itself,
its hash chain and ``record`` are in ``core.audit``)."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from core.accounts import User
from core.audit import AuditEntry
from core.db import db
from core.errors import Forbidden
from core.spreadsheet import safe_cell


def visible_query(viewer, *, team_id=None, actor_id=None, person=None, entity_type=None, entity_id=None, action=None,
                  since=None, until=None):
    """Entries a viewer may read: administrators everything, coordinators their teams' entries."""

    stmt = select(AuditEntry)
    if not viewer.is_admin:
        managed = viewer.managed_team_ids
        if not managed:
            raise Forbidden("Only administrators and coordinators can read the audit trail.")
        stmt = stmt.where(AuditEntry.team_id.in_(managed))
    if team_id is not None:
        stmt = stmt.where(AuditEntry.team_id == team_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if person:

        like = f"%{person}%"
        people = select(User.id).where(User.display_name.ilike(like) | User.email.ilike(like))
        stmt = stmt.where(AuditEntry.actor_id.in_(people))
    if entity_type:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == str(entity_id))
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt


def page(stmt, page_no: int, per_page: int) -> tuple[list[AuditEntry], int]:
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(per_page).offset((page_no - 1) * per_page))
    return list(rows), total


CSV_COLUMNS = ["id", "at", "actor_id", "actor_label", "action", "entity_type", "entity_id", "team_id", "request_id",
               "outcome", "summary", "hash"]


def to_csv(rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([safe_cell(cell) for cell in (
            r.id, r.at.isoformat(), r.actor_id, r.actor_label, r.action, r.entity_type, r.entity_id, r.team_id,
            r.request_id, r.outcome, r.summary_json, r.hash)])
    return buf.getvalue()

