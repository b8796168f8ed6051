"""Handover JSON API under /api/v1: patients, handovers, entries, acceptance, images and the FHIR export."""

from __future__ import annotations

import json

from flask import Response
from flask_login import current_user

from core import audit
from core.accounts import Team
from core.api import Blueprint, login_required_api
from core.db import db, get_by_id
from core.errors import NotFound
from core.security import no_store
from handover import acceptance, access, fhir, images, patient_records, services
from handover.models import Patient
from handover.payload import entry_dict, handover_dict, image_dict, load_sheet
from handover.schemas import (
    AcceptSchema,
    EntrySchema,
    EntryUpdateSchema,
    FhirBundleSchema,
    HandoverCreateSchema,
    HandoverSchema,
    ImageSchema,
    ImageUploadSchema,
    PatientCreateSchema,
    PatientListArgs,
    PatientSchema,
    PatientUpdateSchema,
)

blp = no_store(Blueprint("handover_api", __name__, url_prefix="/api/v1",
                         description="Structured handover (SBAR / I-PASS): patient lists, handovers, acceptance, FHIR "
                                     "export"))


def _team(team_id: int) -> Team:
    team = get_by_id(Team, team_id)
    if team is None:
        raise NotFound(f"No team with id {team_id}.")
    access.require_view(team, current_user)
    return team


def _handover(handover_id: int):
    handover = services.get_handover(handover_id)
    access.require_view(handover.team, current_user)
    return handover


def _patient_in(handover, patient_id: int):
    patient = get_by_id(Patient, patient_id)
    if patient is None or patient.team_id != handover.team_id or patient.purged_at is not None:
        raise NotFound(f"No patient with id {patient_id} on this team's list.")
    return patient


@blp.get("/teams/<int:team_id>/patients")
@blp.arguments(PatientListArgs, location="query")
@blp.response(200, PatientSchema(many=True))
@login_required_api
def list_patients(args, team_id):
    """Patients on the team's list (add ``include_discharged=true`` for discharged ones not yet purged)."""
    team = _team(team_id)
    patients = patient_records.list_patients(team, include_discharged=args["include_discharged"])

    audit.record("handover.patients_listed", actor=current_user, entity_type="team", entity_id=team.id,
                 team_id=team.id, summary={"patient_ids": [p.id for p in patients]})
    db.session.commit()
    return patients


@blp.post("/teams/<int:team_id>/patients")
@blp.arguments(PatientCreateSchema)
@blp.response(201, PatientSchema)
@login_required_api
def add_patient(data, team_id):
    """Add a patient. The NHS number must pass its modulus-11 check; give an NHS number and/or a hospital number."""
    team = _team(team_id)
    patient = patient_records.add_patient(team, current_user, **data)
    db.session.commit()
    return patient


@blp.patch("/patients/<int:patient_id>")
@blp.arguments(PatientUpdateSchema)
@blp.response(200, PatientSchema)
@login_required_api
def update_patient(data, patient_id):
    """Correct details, move (``location``) or discharge (``discharged: true``) a patient."""
    patient = patient_records.get_patient(patient_id)
    access.require_view(patient.team, current_user)
    if data.get("discharged") is False:
        data.pop("discharged")
    patient = patient_records.update_patient(patient, current_user, **data)
    db.session.commit()
    return patient


@blp.post("/teams/<int:team_id>/handovers")
@blp.arguments(HandoverCreateSchema)
@blp.response(201, HandoverSchema)
@login_required_api
def start_handover(data, team_id):
    """Start a handover: one entry per patient on the list, pre-filled from the team's previous handover."""
    team = _team(team_id)
    starts_at = access.local_to_utc(data["starts_at"], access.team_zone(team))
    handover = services.start_handover(team, current_user, label=data["label"], starts_at=starts_at,
                                       outgoing_id=data.get("outgoing_id"), incoming_id=data.get("incoming_id"))
    db.session.commit()
    return handover_dict(load_sheet(handover))


@blp.get("/handovers/<int:handover_id>")
@blp.response(200, HandoverSchema)
@login_required_api
def get_handover(handover_id):
    """A handover with the current version of every patient's entry (the view is audited)."""
    handover = _handover(handover_id)
    sheet = load_sheet(handover)
    payload = handover_dict(sheet)  # built before the commit expires the loaded rows
    services.record_view(handover, current_user, [e.patient_id for e in sheet.entries])
    db.session.commit()
    return payload


@blp.put("/handovers/<int:handover_id>/entries/<int:patient_id>")
@blp.arguments(EntryUpdateSchema)
@blp.response(200, EntrySchema)
@blp.alt_response(409, description="Someone saved since base_version (problem+json with current_version, saved_by, "
                                   "saved_at; nothing written), or the handover is closed.")
@login_required_api
def put_entry(data, handover_id, patient_id):
    """Write a patient's entry as a new version. ``base_version`` (the version you edited) is required: if anyone
    saved since, 409 names the current version, who saved it and when (nothing is written; merge and send again).
    An accepted version is never changed: the edit becomes a new version that needs accepting again."""

    handover = _handover(handover_id)
    patient = _patient_in(handover, patient_id)
    base = data.pop("base_version")
    entry = services.save_entry(handover, patient, current_user, data, base_version=base)
    db.session.commit()
    sheet = load_sheet(handover)
    return entry_dict(entry, sheet.images.get(patient.id, []))


@blp.post("/handovers/<int:handover_id>/accept")
@blp.arguments(AcceptSchema)
@blp.response(200, HandoverSchema)
@blp.alt_response(422, description="An entry is not yet reviewed, or you are not on the team's rota in the next 2 "
                                   "hours and did not send confirm_off_rota: true.")
@login_required_api
def accept(data, handover_id):
    """The incoming clinician accepts some entries (``patient_ids``) or the whole handover, with a read-back note."""
    handover = _handover(handover_id)
    acceptance.accept(handover, current_user, patient_ids=data.get("patient_ids"),
                    readback_note=data.get("readback_note", ""), seen_at=data.get("seen_at"),
                    confirm_off_rota=data["confirm_off_rota"])
    db.session.commit()
    return handover_dict(load_sheet(handover))


@blp.post("/handovers/<int:handover_id>/entries/<int:patient_id>/images")
@blp.arguments(ImageUploadSchema, location="files")
@blp.response(201, ImageSchema)
@login_required_api
def upload_image(files, handover_id, patient_id):
    """Attach a photo (JPEG, PNG or HEIC, up to HANDOVER_IMAGE_MAX_BYTES). It is re-encoded with all metadata
    (EXIF, GPS) removed; fetch it back from ``url`` / ``thumb_url`` as a signed-in team member. 422 says why a photo
    is refused (including one too big to process in HANDOVER_IMAGE_MEMORY_MB); 503 with ``Retry-After`` while the
    server is busy processing other photos."""
    handover = _handover(handover_id)
    patient = _patient_in(handover, patient_id)
    upload = files["file"]
    data = upload.stream.read(images.max_bytes() + 1)
    image = images.attach(handover, patient, current_user, data)
    db.session.commit()
    return image_dict(image)


@blp.get("/handovers/<int:handover_id>/fhir")
@blp.response(200, FhirBundleSchema, content_type="application/fhir+json")
@login_required_api
def export_fhir(handover_id):
    """FHIR R4 ``document`` Bundle: Composition (a section per patient, sub-sections per SBAR / I-PASS heading,
    coded with a local CodeSystem), Patients (NHS number, UK Core profile), Practitioners and Tasks."""
    handover = _handover(handover_id)
    sheet = load_sheet(handover)
    bundle = fhir.export_bundle(sheet)
    services.record_view(handover, current_user, [e.patient_id for e in sheet.entries], what="handover.exported")
    db.session.commit()
    return Response(json.dumps(bundle, ensure_ascii=False), mimetype="application/fhir+json")


def register(app, api) -> None:
    api.register_blueprint(blp)
