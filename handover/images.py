"""Photos attached to a patient's entry: checked, re-encoded without metadata, thumbnailed, stored off the web root.

The pipeline itself (limits, memory budget, re-encoding without EXIF/GPS, the busy-worker 503) is ``core.images``,
shared with channel photos; this module stores a handover's photos and records them.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app

from core import audit
from core.db import db
from core.errors import Conflict, NotFound, ValidationFailed  # noqa: F401  (ValidationFailed: public here)
from core.images import (  # noqa: F401  (the pipeline, public under this module's name too)
    ALLOWED_FORMATS,
    FULL_EDGE,
    HEIC_SUPPORTED,
    MAX_PIXELS,
    THUMB_EDGE,
    heif_reduced,
    max_bytes,
    megapixel_cap,
    memory_budget,
    processing_slot,
    reencode,
)
from handover import access, services
from handover.models import HandoverImage


def upload_dir() -> Path:
    configured = current_app.config.get("HANDOVER_UPLOAD_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "handover-images"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def path_for(key: str, thumb: bool = False) -> Path:
    return upload_dir() / f"{key}{'.thumb' if thumb else ''}.jpg"


def attach(handover, patient, actor, data: bytes):
    """Store a photo for a patient's entry in a handover (services never commit; the file is written first so a
    failed commit leaves at most an orphan file with a random name, never a row without a file)."""

    access.require_view(handover.team, actor)
    if patient.team_id != handover.team_id:
        raise NotFound("That patient is not on this team's list.")
    if services.is_closed(handover):
        raise Conflict("This handover is closed because the team has started a later one.")
    full, thumb, width, height, fmt = reencode(data)
    key = secrets.token_hex(16)
    path_for(key).write_bytes(full)
    path_for(key, thumb=True).write_bytes(thumb)

    image = HandoverImage(handover_id=handover.id, patient_id=patient.id, team_id=handover.team_id, storage_key=key,
                          width=width, height=height, size_bytes=len(full), original_format=fmt,
                          uploaded_by_id=actor.id)
    db.session.add(image)
    db.session.flush()
    audit.record("handover.image_added", actor=actor, entity_type="handover_image", entity_id=image.id,
                 team_id=handover.team_id, summary={"patient_ids": [patient.id], "handover_id": handover.id})
    return image


def delete_files(keys) -> None:
    for key in keys:
        for thumb in (False, True):
            path_for(key, thumb).unlink(missing_ok=True)
