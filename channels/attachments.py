"""Photos and files on channel posts, for non-clinical things (rota photos, equipment, notices).

Photos go through the shared pipeline (``core.images``: size and megapixel limits, the memory budget, re-encoding
to a fresh JPEG with every byte of metadata — EXIF, GPS, XMP, ICC — gone, the busy-worker 503). Files are a short
allow-list (PDF, recognised by its header, not its name) with their own size cap. Everything is checked before any
row is written; files are stored off the web root under a random key and served only to the channel's members.
A post's attachments go with the post (tombstone or retention) — after the commit, so a rolled-back delete keeps
them — except while the channel is on legal hold: then they are kept, marked deleted and no longer served.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, send_file
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session

from channels.models import Attachment
from core import audit, images
from core.db import db, now_utc
from core.errors import NotFound, ValidationFailed

PDF = "application/pdf"
JPEG = "image/jpeg"
FILE_MAX_BYTES = 10 * 1024 * 1024  # CHANNELS_FILE_MAX_BYTES
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_PENDING = "channels.files_to_delete"


def upload_dir() -> Path:
    configured = current_app.config.get("CHANNELS_UPLOAD_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "channel-files"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def max_file_bytes() -> int:
    return int(current_app.config.get("CHANNELS_FILE_MAX_BYTES", FILE_MAX_BYTES))


def read_limit() -> int:
    """How many bytes of an upload to read: one more than the largest accepted, so "too large" is still seen."""
    return max(max_file_bytes(), images.max_bytes()) + 1


def kinds() -> str:
    return "a photo (JPEG, PNG" + (" or HEIC" if images.HEIC_SUPPORTED else "") + ") or a PDF"


def path_for(key: str, thumb: bool = False) -> Path:
    return upload_dir() / f"{key}{'.thumb' if thumb else ''}"


@dataclass(frozen=True)
class Prepared:
    """A checked upload, ready to store: a re-encoded photo, or a PDF as sent."""

    kind: str  # photo | file
    content_type: str
    data: bytes
    thumb: bytes | None
    width: int | None
    height: int | None
    filename: str


def _refuse(message: str):
    raise ValidationFailed(message, errors={"file": [message]})


def clean_filename(name: str | None, default: str) -> str:
    """A safe display name: letters, digits, spaces, dots, dashes and underscores, at most 80 characters."""
    name = unicodedata.normalize("NFKC", Path((name or "").replace("\\", "/")).name)
    name = re.sub(r"[^\w .-]+", "_", name).strip(" ._")[:80]
    return name or default


def _is_image(data: bytes) -> bool:
    return data.startswith(_IMAGE_MAGIC) or data[4:8] == b"ftyp"


def prepare(data: bytes, filename: str | None) -> Prepared:
    """Check and (photos) re-encode an upload, or refuse it with a message saying why: before anything is stored."""
    if not data:
        _refuse(f"The file is empty. Choose {kinds()}.")
    if data.startswith(b"%PDF-"):
        limit = max_file_bytes()
        if len(data) > limit:
            _refuse(f"The file is too large ({len(data) / 1048576:.1f} MB). The limit for a PDF is "
                    f"{limit / 1048576:.0f} MB.")
        name = clean_filename(filename, "document.pdf")
        if not name.lower().endswith(".pdf"):
            name += ".pdf"
        return Prepared("file", PDF, data, None, None, None, name)
    if not _is_image(data):
        _refuse(f"Only photos and PDF files can be attached here: choose {kinds()}.")
    full, thumb, width, height, _fmt = images.reencode(data)  # refuses too large / too many pixels / unreadable
    return Prepared("photo", JPEG, full, thumb, width, height, "photo.jpg")


def store(prepared: Prepared, post, actor, team_id: int) -> Attachment:
    """Write the file (first: a failed commit leaves at most an orphan with a random name) and its row."""
    key = secrets.token_hex(16)
    path_for(key).write_bytes(prepared.data)
    if prepared.thumb is not None:
        path_for(key, thumb=True).write_bytes(prepared.thumb)
    row = Attachment(post_id=post.id, channel_id=post.channel_id, kind=prepared.kind, storage_key=key,
                     filename=prepared.filename, content_type=prepared.content_type, size_bytes=len(prepared.data),
                     width=prepared.width, height=prepared.height, uploaded_by_id=actor.id, created_at=now_utc())
    db.session.add(row)
    db.session.flush()
    audit.record("channel.attachment_added", actor=actor, entity_type="channel_attachment", entity_id=row.id,
                 team_id=team_id, summary={"post_id": post.id, "kind": prepared.kind, "bytes": len(prepared.data),
                          "no_patient_information_confirmed": True})
    return row


def for_posts(post_ids: list[int]) -> dict[int, list[Attachment]]:
    """The attachments still shown, by post: one query for a page."""
    out: dict[int, list[Attachment]] = {}
    if post_ids:
        for a in db.session.scalars(select(Attachment).where(Attachment.post_id.in_(post_ids),
                                                             Attachment.deleted_at.is_(None))
                                    .order_by(Attachment.id)):
            out.setdefault(a.post_id, []).append(a)
    return out


def remove_for_posts(post_ids: list[int], *, legal_hold: bool) -> int:
    """A post is deleted or purged: its attachments go (files after the commit) or, on legal hold, are kept but no
    longer served. Returns how many."""
    if not post_ids:
        return 0
    if legal_hold:
        return db.session.execute(update(Attachment).where(Attachment.post_id.in_(post_ids),
                                                           Attachment.deleted_at.is_(None))
                                  .values(deleted_at=now_utc())).rowcount
    keys = list(db.session.scalars(select(Attachment.storage_key).where(Attachment.post_id.in_(post_ids))))
    if keys:
        db.session.execute(delete(Attachment).where(Attachment.post_id.in_(post_ids)))
        db.session.info.setdefault(_PENDING, []).extend(keys)
    return len(keys)


def delete_files(keys) -> None:
    for key in keys:
        for thumb in (False, True):
            path_for(key, thumb).unlink(missing_ok=True)


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    keys = session.info.pop(_PENDING, None)
    if keys:
        delete_files(keys)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, previous_transaction):
    session.info.pop(_PENDING, None)



def get(attachment_id: int) -> Attachment:
    row = db.session.get(Attachment, attachment_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"No attachment with id {attachment_id}.")
    return row


def response(row: Attachment, thumb: bool = False):
    """The file, never cached (``no-store``), never sniffed into another type, a PDF always downloaded rather than
    opened inside the site. The caller has checked the viewer is in the channel."""
    thumb = thumb and row.kind == "photo"
    path = path_for(row.storage_key, thumb=thumb)
    if not path.exists():
        raise NotFound("This file is no longer stored.")
    # werkzeug writes Content-Disposition (inline for a photo, attachment for a file) with an ASCII filename and,
    # for any other name, an RFC 5987 filename*
    resp = send_file(path, mimetype=row.content_type, max_age=0, conditional=False, etag=False,
                     as_attachment=row.kind != "photo", download_name=row.filename)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


def as_dict(row: Attachment) -> dict:
    url = f"/channels/attachments/{row.id}"
    return {"id": row.id, "kind": row.kind, "filename": row.filename, "content_type": row.content_type,
            "size_bytes": row.size_bytes, "width": row.width, "height": row.height, "url": url,
            "api_url": f"/api/v1/attachments/{row.id}",
            "thumb_url": f"{url}?size=thumb" if row.kind == "photo" else None}
