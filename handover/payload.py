"""One read model for a handover (API, sheet, print and FHIR), built with a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import url_for
from sqlalchemy import select

from core.db import db
from handover import services
from handover.models import Handover, HandoverEntry, HandoverImage


def person(user):
    return {"id": user.id, "display_name": user.display_name} if user is not None else None


def actions_of(entry: HandoverEntry) -> list[dict]:
    status = entry.action_status or {}
    out = []
    for i, a in enumerate(entry.actions or []):
        done = status.get(str(i)) or {}
        out.append({"index": i, "text": a.get("text", ""), "owner": a.get("owner"), "due_at": a.get("due_at"),
                    "done_at": done.get("done_at"), "done_by": done.get("done_by")})
    return out


def image_dict(image: HandoverImage) -> dict:
    return {"id": image.id, "url": url_for("handover.image", image_id=image.id),
            "thumb_url": url_for("handover.image", image_id=image.id, size="thumb"), "width": image.width,
            "height": image.height, "created_at": image.created_at}


@dataclass
class Sheet:
    handover: Handover
    entries: list[HandoverEntry]
    images: dict[int, list[HandoverImage]] = field(default_factory=dict)
    closed: bool = False


def load_sheet(handover: Handover) -> Sheet:
    entries = services.ordered_entries(handover)
    images: dict[int, list[HandoverImage]] = {}
    for image in db.session.scalars(select(HandoverImage).where(HandoverImage.handover_id == handover.id)
                                    .order_by(HandoverImage.id)):
        images.setdefault(image.patient_id, []).append(image)
    return Sheet(handover, entries, images, services.is_closed(handover))


def entry_dict(entry: HandoverEntry, images) -> dict:
    p = entry.patient
    return {
        "id": entry.id, "version": entry.version, "severity": entry.severity.value,
        "patient": {"id": p.id, "name": p.name, "nhs_number_display": p.nhs_number_display,
                    "hospital_number": p.hospital_number, "date_of_birth": p.date_of_birth, "location": p.location,
                    "active": p.active},
        "situation": entry.situation, "background": entry.background, "assessment": entry.assessment,
        "recommendation": entry.recommendation, "contingency": entry.contingency, "synthesis": entry.synthesis,
        "actions": actions_of(entry), "carried_from_id": entry.carried_from_id, "author": person(entry.author),
        "updated_at": entry.updated_at, "reviewed_at": entry.reviewed_at, "accepted_at": entry.accepted_at,
        "accepted_by": person(entry.accepted_by), "readback_note": entry.readback_note,
        "accepted_off_rota": entry.accepted_off_rota, "images": [image_dict(i) for i in images],
    }


def handover_dict(sheet: Sheet) -> dict:
    h = sheet.handover
    return {
        "id": h.id, "team_id": h.team_id, "label": h.label, "style": h.style.value, "state": h.state.value,
        "starts_at": h.starts_at, "outgoing": person(h.outgoing), "incoming": person(h.incoming),
        "previous_id": h.previous_id, "ready_at": h.ready_at, "accepted_at": h.accepted_at,
        "accepted_by": person(h.accepted_by), "readback_note": h.readback_note,
        "accepted_off_rota": h.accepted_off_rota, "flagged_at": h.flagged_at,
        "closed": sheet.closed,
        "entries": [entry_dict(e, sheet.images.get(e.patient_id, [])) for e in sheet.entries],
    }
