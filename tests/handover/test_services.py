"""Handover rules that a coordinator or clinician would notice: overdue flags, retention purge, settings, demo data."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from handover import acceptance, access, images, patient_records, retention, services
from handover.models import Handover, HandoverEntry, HandoverImage, Patient
from notifications.models import Notification
from tests.handover.conftest import add_patients, jpeg_with_gps, start, write_all

SHIFT_CHANGE = datetime(2026, 11, 25, 7, 30, tzinfo=UTC)


def test_unacknowledged_handover_is_flagged_to_coordinators_once_without_patient_data(app, ward, runner):
    add_patients(ward, 2)
    h = start(ward, when=SHIFT_CHANGE)
    write_all(h, ward)
    assert acceptance.flag_overdue(now=SHIFT_CHANGE + timedelta(minutes=59)) == []
    flagged = acceptance.flag_overdue(now=SHIFT_CHANGE + timedelta(minutes=61))
    db.session.commit()
    assert flagged == [h]
    notes = db.session.scalars(select(Notification)).all()
    assert [n.user_id for n in notes] == [ward.coordinator.id]
    assert notes[0].text == "Handover for Ward 7B has not been accepted 60 minutes after the shift change"
    assert notes[0].link == f"/handover/{h.id}"
    for p in db.session.scalars(select(Patient)):
        assert p.name not in notes[0].text and p.nhs_number not in notes[0].text and p.location not in notes[0].text
    assert acceptance.flag_overdue(now=SHIFT_CHANGE + timedelta(hours=5)) == []  # once only
    result = runner.invoke(args=["handover", "flag-overdue"])
    assert result.exit_code == 0 and "flagged 0" in result.output


def test_accepted_handovers_are_not_flagged_and_team_time_is_used(app, ward):
    add_patients(ward, 1)
    access.update_settings(ward.team, ward.coordinator, style="sbar", ack_minutes=15)
    h = start(ward, when=SHIFT_CHANGE)
    assert acceptance.flag_overdue(now=SHIFT_CHANGE + timedelta(minutes=16)) == [h]
    other = start(ward, when=SHIFT_CHANGE + timedelta(hours=8), label="Early → Late")
    write_all(other, ward)
    acceptance.accept(other, ward.incoming)
    db.session.commit()
    assert acceptance.flag_overdue(now=SHIFT_CHANGE + timedelta(hours=20)) == []


def test_purge_blanks_content_identifiers_and_photos_but_keeps_audit(app, ward, runner):
    keep, gone = add_patients(ward, 2)
    h = start(ward)
    write_all(h, ward, situation="Sensitive clinical content")
    acceptance.accept(h, ward.incoming, readback_note="read back detail")
    image = images.attach(h, gone, ward.outgoing, jpeg_with_gps())
    patient_records.update_patient(gone, ward.coordinator, discharged=True)
    db.session.commit()
    gone.discharged_at = datetime.now(UTC) - timedelta(days=31)
    db.session.commit()
    audit_before = db.session.scalar(select(db.func.count()).select_from(AuditEntry))
    path = images.path_for(image.storage_key)
    assert path.exists()
    result = runner.invoke(args=["handover", "purge"])
    assert result.exit_code == 0, result.output
    assert "purged 1 patient(s)" in result.output and "1 photo(s)" in result.output
    db.session.expire_all()
    purged = db.session.get(Patient, gone.id)
    assert purged.purged_at and purged.nhs_number is None and purged.name == "[purged]"
    entry = db.session.scalar(select(HandoverEntry).where(HandoverEntry.patient_id == gone.id))
    assert entry.situation == "" and entry.readback_note is None and entry.actions == []
    kept = db.session.scalar(select(HandoverEntry).where(HandoverEntry.patient_id == keep.id,
                                                         HandoverEntry.current.is_(True)))
    assert kept.situation == "Sensitive clinical content"
    assert not path.exists() and db.session.scalar(select(HandoverImage)) is None
    assert db.session.scalar(select(db.func.count()).select_from(AuditEntry)) == audit_before + 1
    purge_entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "handover.purged"))
    assert purge_entry.summary["patient_ids"] == [gone.id]
    from core import audit

    assert audit.verify().ok
    # a second run finds nothing
    assert "purged 0" in runner.invoke(args=["handover", "purge"]).output


def test_recently_discharged_patients_are_kept_until_the_retention_period(app, ward):
    p, = add_patients(ward, 1)
    patient_records.update_patient(p, ward.coordinator, discharged=True)
    db.session.commit()
    assert retention.purge_expired(retention_days=30) == ([], [])


def test_moving_a_patient_changes_the_bed_in_the_next_handover(app, ward):
    p, = add_patients(ward, 1)
    patient_records.update_patient(p, ward.outgoing, location="Side room 3")
    db.session.commit()
    h = start(ward)
    assert services.current_entries(h)[p.id].patient.location == "Side room 3"


def test_demo_seeder_creates_fictional_patients_in_the_test_range(app, make):
    from core import nhs
    from handover.demo import seed_handover
    from rota.demo import WARD

    make.team(WARD, coordinators=[make.user()], staff=[make.user(), make.user()])
    lines = seed_handover()
    db.session.commit()
    assert "6 demo patients" in lines[0]
    patients = db.session.scalars(select(Patient)).all()
    assert len(patients) == 6
    assert all(p.nhs_number.startswith("999") and nhs.is_valid(p.nhs_number) for p in patients)
    h = db.session.scalar(select(Handover))
    assert h.state.value == "accepted"
    assert seed_handover() == [] and len(db.session.scalars(select(Patient)).all()) == 6  # idempotent
    assert (40, "handover patients", seed_handover) in app.extensions["demo_seeders"]


def test_upload_dir_defaults_outside_the_web_root(app):
    app.config["HANDOVER_UPLOAD_DIR"] = None
    path = images.upload_dir()
    assert str(path).startswith(app.instance_path) and not str(path).startswith(app.static_folder)
    assert oct(os.stat(path).st_mode)[-3:] in ("700", "755")


def test_what_counts_as_a_change_is_the_rule_save_entry_stores_by(app, ward):
    """One rule, in the service, for "did she change this field" (unsaved-text warnings, which fields a save writes,
    what another editor's version shows beside hers) and for how a save stores text: a text typed with CRLF line
    ends and stray spaces, once saved, is not a change; any other difference is."""
    p, = add_patients(ward, 1)
    h = start(ward)
    typed = {"severity": "watcher", "situation": "  NEWS2 5\r\nrepeat obs hourly  ", "assessment": "AKI?\r\n"}
    entry = services.save_entry(h, p, ward.outgoing, typed, base_version=1)
    assert entry.situation == "NEWS2 5\nrepeat obs hourly" and entry.assessment == "AKI?"
    saved = services.saved_fields(entry)
    assert services.changed_fields(typed, saved) == {}
    assert services.changed_fields({**typed, "situation": "NEWS2 6\r\nrepeat obs hourly"}, saved) == {
        "situation": "NEWS2 5\nrepeat obs hourly"}
    assert services.changed_fields({"severity": "unstable", "background": ""}, saved) == {"severity": "watcher"}
    assert services.changed_fields({"actions": "Repeat Hb"}, services.saved_fields(None)) == {"actions": ""}
