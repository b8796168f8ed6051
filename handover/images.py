"""Photos attached to a patient's entry: checked, re-encoded without metadata, thumbnailed, stored off the web root.

Every upload is decoded by Pillow and written out again as a fresh JPEG: nothing of the original file (EXIF, GPS,
XMP, ICC, maker notes, trailing bytes) survives. HEIC from iPhones is decoded with pillow-heif when it is installed;
without it HEIC is refused with a message that says so.
"""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from core import audit, limits
from core.errors import Conflict, NotFound, ValidationFailed

try:  # optional: iPhone photos
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIC_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the deployment
    HEIC_SUPPORTED = False

ALLOWED_FORMATS = {"JPEG", "PNG", "HEIF"} if HEIC_SUPPORTED else {"JPEG", "PNG"}
MAX_PIXELS = limits.IMAGE_MAX_PIXELS
FULL_EDGE = limits.IMAGE_FULL_EDGE
THUMB_EDGE = limits.IMAGE_THUMB_EDGE


def upload_dir() -> Path:
    configured = current_app.config.get("HANDOVER_UPLOAD_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "handover-images"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def max_bytes() -> int:
    return int(current_app.config.get("HANDOVER_IMAGE_MAX_BYTES", limits.IMAGE_MAX_BYTES))


def _refuse(message: str):
    raise ValidationFailed(message, errors={"file": [message]})


def reencode(data: bytes) -> tuple[bytes, bytes, int, int, str]:
    """Return (full JPEG, thumbnail JPEG, width, height, original format) or refuse with a clear message."""
    limit = max_bytes()
    if not data:
        _refuse("The file is empty. Choose a photo (JPEG, PNG" + (" or HEIC" if HEIC_SUPPORTED else "") + ").")
    if len(data) > limit:
        _refuse(f"The photo is too large ({len(data) / 1048576:.1f} MB). The limit is {limit / 1048576:.0f} MB.")
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypheim") and not HEIC_SUPPORTED:
        _refuse("HEIC photos cannot be read on this server (no HEIC decoder installed). Set the camera to "
                "'Most compatible' (JPEG) or send a JPEG or PNG.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                if fmt not in ALLOWED_FORMATS:
                    _refuse("Only photos can be attached: JPEG, PNG" + (" or HEIC" if HEIC_SUPPORTED else "")
                            + f" (this file is {fmt or 'not an image'}).")
                if probe.width * probe.height > MAX_PIXELS:
                    _refuse("The photo has too many pixels to be a camera photo.")
                probe.load()
                image = ImageOps.exif_transpose(probe)  # keep the photo upright once the EXIF tag is gone
    except ValidationFailed:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
            SyntaxError, ValueError, TypeError, EOFError) as exc:
        _refuse("That file is not a readable image. Attach a photo (JPEG, PNG"
                + (" or HEIC" if HEIC_SUPPORTED else "") + f"). ({type(exc).__name__})")
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    # A new image from the pixels alone: no info dict, no EXIF, no ICC profile can be carried across.
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    clean.thumbnail((FULL_EDGE, FULL_EDGE))
    full = io.BytesIO()
    clean.save(full, "JPEG", quality=85, optimize=True)
    thumb_img = clean.copy()
    thumb_img.thumbnail((THUMB_EDGE, THUMB_EDGE))
    thumb = io.BytesIO()
    thumb_img.save(thumb, "JPEG", quality=80)
    return full.getvalue(), thumb.getvalue(), clean.width, clean.height, fmt


def path_for(key: str, thumb: bool = False) -> Path:
    return upload_dir() / f"{key}{'.thumb' if thumb else ''}.jpg"


def attach(handover, patient, actor, data: bytes):
    """Store a photo for a patient's entry in a handover (services never commit; the file is written first so a
    failed commit leaves at most an orphan file with a random name, never a row without a file)."""
    from handover import services
    from handover.models import HandoverImage

    services.require_view(handover.team, actor)
    if patient.team_id != handover.team_id:
        raise NotFound("That patient is not on this team's list.")
    if services.is_closed(handover):
        raise Conflict("This handover is closed because the team has started a later one.")
    full, thumb, width, height, fmt = reencode(data)
    key = secrets.token_hex(16)
    path_for(key).write_bytes(full)
    path_for(key, thumb=True).write_bytes(thumb)
    from core.db import db

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
