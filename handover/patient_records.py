"""The handover patient list: adding, reading and changing a team's patients (identifiers checked and kept unique).

Services never commit. Every change writes an audit entry whose summary holds ids only (see ``handover.services``)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from core import audit, nhs
from core.accounts import Team
from core.db import db, get_by_id, now_utc
from core.errors import Conflict, NotFound, ValidationFailed
from handover.access import require_view, team_zone
from handover.models import (
    Patient,
)


def get_patient(patient_id: int) -> Patient:
    patient = get_by_id(Patient, patient_id)
    if patient is None or patient.purged_at is not None:
        raise NotFound(f"No patient with id {patient_id}.")
    return patient


def list_patients(team: Team, *, include_discharged: bool = False) -> list[Patient]:
    stmt = select(Patient).where(Patient.team_id == team.id, Patient.purged_at.is_(None))
    if not include_discharged:
        stmt = stmt.where(Patient.discharged_at.is_(None))
    return list(db.session.scalars(stmt.order_by(Patient.location, Patient.id)))


def _clean_identifiers(team: Team, nhs_number: str | None, hospital_number: str | None, *, exclude_id=None):
    errors: dict[str, list[str]] = {}
    digits = None
    if nhs_number is not None and nhs_number.strip():
        try:
            digits = nhs.normalise(nhs_number)
        except nhs.InvalidNhsNumber as exc:
            errors["nhs_number"] = [str(exc)]
    mrn = (hospital_number or "").strip() or None
    if digits is None and mrn is None and "nhs_number" not in errors:
        errors["nhs_number"] = ["Enter an NHS number or a hospital number (or both)."]
    if errors:
        raise ValidationFailed("The patient's identifiers are not valid.", errors=errors)
    for column, value, label in ((Patient.nhs_number, digits, "nhs_number"),
                                 (Patient.hospital_number, mrn, "hospital_number")):
        if value is None:
            continue
        stmt = select(Patient.id).where(Patient.team_id == team.id, column == value,
                                        Patient.discharged_at.is_(None), Patient.purged_at.is_(None))
        if exclude_id is not None:
            stmt = stmt.where(Patient.id != exclude_id)
        if db.session.scalar(stmt) is not None:
            raise Conflict("A patient with that number is already on this team's list.",
                           errors={label: ["Already on the list: check you have the right patient."]})
    return digits, mrn


def add_patient(team: Team, actor, *, name: str, nhs_number: str | None = None, hospital_number: str | None = None,
                date_of_birth: date | None = None, location: str = "", admitted_on: date | None = None) -> Patient:
    require_view(team, actor)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Enter the patient's name.", errors={"name": ["Enter the patient's name."]})
    _check_dates(date_of_birth, admitted_on)
    digits, mrn = _clean_identifiers(team, nhs_number, hospital_number)
    patient = Patient(team_id=team.id, name=name, nhs_number=digits, hospital_number=mrn,
                      date_of_birth=date_of_birth, location=(location or "").strip(),
                      admitted_on=admitted_on or now_utc().astimezone(team_zone(team)).date())
    db.session.add(patient)
    db.session.flush()
    audit.record("handover.patient_added", actor=actor, entity_type="handover_patient", entity_id=patient.id,
                 team_id=team.id, summary={"patient_ids": [patient.id]})
    return patient


def _check_dates(date_of_birth, admitted_on):
    today = now_utc().date() + timedelta(days=1)
    if date_of_birth is not None and (date_of_birth > today or date_of_birth.year < 1890):
        raise ValidationFailed("That date of birth is not possible.",
                               errors={"date_of_birth": ["Enter a date of birth in the past."]})
    if admitted_on is not None and (admitted_on > today or admitted_on.year < 1990):
        raise ValidationFailed("That admission date is not possible.",
                               errors={"admitted_on": ["Enter the date the patient was admitted."]})


def update_patient(patient: Patient, actor, **changes) -> Patient:
    """Correct details, move (location) or discharge (``discharged=True``)."""
    require_view(patient.team, actor)
    if patient.discharged_at is not None and changes:
        raise Conflict("This patient has been discharged from the list; details can no longer be changed.")
    touched = []
    if "nhs_number" in changes or "hospital_number" in changes:
        nhs_raw = changes.pop("nhs_number", patient.nhs_number)
        mrn_raw = changes.pop("hospital_number", patient.hospital_number)
        digits, mrn = _clean_identifiers(patient.team, nhs_raw, mrn_raw, exclude_id=patient.id)
        if digits != patient.nhs_number:
            patient.nhs_number, touched = digits, touched + ["nhs_number"]
        if mrn != patient.hospital_number:
            patient.hospital_number, touched = mrn, touched + ["hospital_number"]
    _check_dates(changes.get("date_of_birth"), changes.get("admitted_on"))
    if "name" in changes:
        name = (changes.pop("name") or "").strip()
        if not name:
            raise ValidationFailed("Enter the patient's name.", errors={"name": ["Enter the patient's name."]})
        if name != patient.name:
            patient.name, touched = name, touched + ["name"]
    for key in ("date_of_birth", "admitted_on", "location"):
        if key in changes:
            value = changes.pop(key)
            value = (value or "").strip() if key == "location" else value
            if value != getattr(patient, key):
                setattr(patient, key, value)
                touched.append(key)
    discharged = changes.pop("discharged", False)
    if discharged:
        patient.discharged_at = now_utc()
        touched.append("discharged")
    if not touched:
        return patient
    action = "handover.patient_discharged" if discharged else (
        "handover.patient_moved" if touched == ["location"] else "handover.patient_updated")
    audit.record(action, actor=actor, entity_type="handover_patient", entity_id=patient.id, team_id=patient.team_id,
                 summary={"patient_ids": [patient.id], "fields": touched})
    db.session.flush()
    return patient
