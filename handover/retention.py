"""Handover governance: the per-patient access report and the retention purge of discharged patients' content.

Services never commit; see ``handover.services``."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from core import audit
from core.audit import AuditEntry
from core.db import db, now_utc
from handover.models import (
    Handover,
    HandoverEntry,
    HandoverImage,
    Patient,
)


def access_report(patient: Patient) -> list:
    """Every audited view or change of this patient's handover content: who, what, when (never the content)."""

    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.team_id == patient.team_id,
                                                       AuditEntry.action.startswith("handover."))
                              .order_by(AuditEntry.id))
    return [r for r in rows if patient.id in (r.summary.get("patient_ids") or [])]


def purge_expired(now: datetime | None = None, *, retention_days: int | None = None, actor=None
                  ) -> tuple[list[int], list[str]]:
    """Blank the clinical content, identifiers and images of patients discharged more than ``retention_days`` ago.
    Audit entries are kept (they never held content). Returns (patient ids, image storage keys): the caller deletes
    the image files after the commit (``images.delete_files``)."""

    now = now or now_utc()
    days = retention_days if retention_days is not None else current_app.config.get("HANDOVER_RETENTION_DAYS", 30)
    cutoff = now - timedelta(days=days)
    patients = list(db.session.scalars(select(Patient).where(Patient.discharged_at.is_not(None),
                                                              Patient.discharged_at <= cutoff,
                                                              Patient.purged_at.is_(None))))
    if not patients:
        return [], []
    ids = [p.id for p in patients]
    for entry in db.session.scalars(select(HandoverEntry).where(HandoverEntry.patient_id.in_(ids))):
        entry._purging = True
        for f in ("situation", "background", "assessment", "recommendation", "contingency", "synthesis"):
            setattr(entry, f, "")
        entry.actions, entry.action_status, entry.readback_note = [], {}, None
    images = list(db.session.scalars(select(HandoverImage).where(HandoverImage.patient_id.in_(ids))))
    keys = [i.storage_key for i in images]
    for image in images:
        db.session.delete(image)
    for p in patients:
        p.name, p.nhs_number, p.hospital_number, p.date_of_birth, p.location = "[purged]", None, None, None, ""
        p.purged_at = now
    db.session.flush()
    db.session.execute(update(Handover).where(Handover.starts_at <= cutoff, ~Handover.entries.any(
        HandoverEntry.patient.has(Patient.purged_at.is_(None)))).values(readback_note=None))
    by_team: dict[int, list[int]] = {}
    for p in patients:
        by_team.setdefault(p.team_id, []).append(p.id)
    for team_id, pids in by_team.items():
        audit.record("handover.purged", actor=actor, entity_type="team", entity_id=team_id, team_id=team_id,
                     summary={"patient_ids": pids, "retention_days": days})
    return ids, keys
