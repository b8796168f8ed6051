"""Handover fixtures: a ward with a coordinator, an outgoing and an incoming nurse, an outsider on another ward,
patients with valid NHS numbers in the 999 test range, and photos kept in a per-test temporary directory."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from PIL import Image

from core import nhs
from core.accounts import Team, User
from core.db import db
from handover import patient_records, services
from tests import factories


@pytest.fixture
def app_config(tmp_path):
    return {"HANDOVER_UPLOAD_DIR": str(tmp_path / "handover-images"), "HANDOVER_IMAGE_MAX_BYTES": 2 * 1024 * 1024}


@dataclass
class Ward:
    team: Team
    coordinator: User
    outgoing: User
    incoming: User
    outsider: User
    other_team: Team


@pytest.fixture
def ward(make):
    w = factories.ward(make, name="Ward 7B", coordinator=dict(display_name="Cora Coordinator", grade="Band 5"),
                       people=[dict(display_name="Olu Outgoing"), dict(display_name="Ines Incoming")], types=())
    outgoing, incoming = w.staff
    outsider = make.user(display_name="Otto Outsider")
    other = make.team("Ward 9", staff=[outsider])
    on_shift(w.team, incoming)  # the incoming nurse is on the rota: accepting needs no extra confirmation
    return Ward(w.team, w.coordinator, outgoing, incoming, outsider, other)


def on_shift(team: Team, user: User, starts_in_hours: float = -1, hours: float = 12):
    """A scheduled shift for ``user`` on ``team``, relative to now."""
    from datetime import timedelta

    from core.db import now_utc
    from rota.models import Shift, ShiftState

    now = now_utc().replace(microsecond=0)
    shift = Shift(team_id=team.id, starts_at=now + timedelta(hours=starts_in_hours),
                  ends_at=now + timedelta(hours=starts_in_hours + hours), assignee_id=user.id,
                  state=ShiftState.scheduled)
    db.session.add(shift)
    db.session.commit()
    return shift


NUMBERS = list(nhs.test_numbers(60))


def add_patients(ward: Ward, count: int, start: int = 0):
    patients = [patient_records.add_patient(ward.team, ward.coordinator, name=f"Test Patient {chr(65 + i % 26)}{i}",
                                     nhs_number=NUMBERS[start + i], location=f"Bed {i + 1}",
                                     date_of_birth=datetime(1950, 1, 1 + i % 28).date())
                for i in range(count)]
    db.session.commit()
    return patients


def start(ward: Ward, when=datetime(2026, 11, 25, 7, 30, tzinfo=UTC), label="Night → Early"):
    h = services.start_handover(ward.team, ward.outgoing, label=label, starts_at=when, incoming_id=ward.incoming.id)
    db.session.commit()
    return h


def write_all(handover, ward: Ward, **fields):
    for entry in services.current_entries(handover).values():
        data = {"severity": "watcher", "situation": f"Situation for bed {entry.patient.location}",
                "background": "Background", "assessment": "Assessment", "recommendation": "Recommendation",
                "contingency": "If NEWS2 ≥ 5 then call the SpR", "actions": [{"text": "Repeat bloods", "owner": "FY1"}]}
        data.update(fields)
        services.save_entry(handover, entry.patient, ward.outgoing, data, base_version=entry.version)
    db.session.commit()


def handover_with_photo(ward: Ward):
    """One patient, a written handover and a photo of the patient: (patient, handover, image)."""
    from handover import images

    patient, = add_patients(ward, 1)
    h = start(ward)
    write_all(h, ward)
    image = images.attach(h, patient, ward.outgoing, jpeg_with_gps())
    db.session.commit()
    return patient, h, image


def jpeg_with_gps(size=(640, 480)) -> bytes:
    """A camera-like JPEG with EXIF GPS coordinates, a camera make and a comment."""
    img = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "PhoneOS 1.0"  # Software
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 12.0)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, comment=b"patient wound left leg")
    return buf.getvalue()


def png_bytes(size=(50, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", size, (0, 0, 255, 128)).save(buf, "PNG")
    return buf.getvalue()
