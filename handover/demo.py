"""Demo patients and yesterday's handover for Ward 7B. NHS numbers in the 999 test range; names obviously fictional."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from core import nhs
from core.accounts import Team, TeamRole
from core.db import db, now_utc
from handover import acceptance, patient_records, services
from handover.models import Patient
from rota.demo import WARD

_PATIENTS = [
    ("Alpha Testpatient", "Bed 1", "watcher", "Day 2 community-acquired pneumonia", "NEWS2 4 at 18:00, on 2 L O2",
     "Improving but still needs oxygen", "Wean O2 to keep sats 94-98%", "If NEWS2 ≥ 5 then call the medical SpR"),
    ("Bravo Demo-Person", "Bed 2", "stable", "Awaiting discharge to care home", "Fall at home, no fracture",
     "Medically fit", "Chase care home bed", ""),
    ("Charlie Fictional", "Bed 3", "unstable", "Upper GI bleed, Glasgow-Blatchford 9", "On warfarin for AF",
     "Haemodynamically borderline", "Repeat Hb at 22:00; OGD in the morning",
     "If systolic < 90 then call the outreach team and the GI bleed rota"),
    ("Delta Sample", "Bay A4", "stable", "Cellulitis left leg", "Type 2 diabetes", "Responding to IV antibiotics",
     "Switch to oral if afebrile 24 h", ""),
    ("Echo Placeholder", "Side room 1", "watcher", "C. difficile, isolated", "Recent antibiotics",
     "Stool chart 4 today", "Keep fluid balance chart", "If > 6 stools then review fluids and U&E"),
    ("Foxtrot Notreal", "Bed 6", "stable", "Post-op day 3 hip hemiarthroplasty", "Dementia",
     "Mobilising with frame", "Physio review", ""),
]


def seed_handover():

    team = db.session.scalar(select(Team).where(Team.name == WARD))
    if team is None or db.session.scalar(select(Patient.id).where(Patient.team_id == team.id).limit(1)):
        return []
    members = sorted(team.memberships, key=lambda m: (m.role != TeamRole.coordinator, m.user_id))
    if len(members) < 3:
        return []
    coordinator, outgoing, incoming = members[0].user, members[1].user, members[2].user
    numbers = nhs.test_numbers(len(_PATIENTS), start=100)
    today = date.today()
    patients = []
    for i, (name, bed, *_rest) in enumerate(_PATIENTS):
        patients.append(patient_records.add_patient(team, coordinator, name=name, nhs_number=next(numbers),
                                             hospital_number=f"RX{4400 + i:05d}", location=bed,
                                             date_of_birth=date(1930 + 9 * i, 1 + i, 10 + i),
                                             admitted_on=today - timedelta(days=i + 1)))
    yesterday = now_utc() - timedelta(hours=12)
    handover = services.start_handover(team, outgoing, label="Day → Night", starts_at=yesterday,
                                       incoming_id=incoming.id)
    for patient, (_, _, severity, situation, background, assessment, recommendation, contingency) in zip(
            patients, _PATIENTS, strict=True):
        services.save_entry(handover, patient, outgoing, {
            "severity": severity, "situation": situation, "background": background, "assessment": assessment,
            "recommendation": recommendation, "contingency": contingency,
            "actions": [{"text": recommendation, "owner": "Night nurse", "due_at": None}]}, base_version=1)
    acceptance.accept(handover, incoming, readback_note="Read back in full at the bedside.",
                    confirm_off_rota=acceptance.off_rota_notice(team, incoming) is not None)
    return [f"handover: {len(patients)} demo patients on {WARD} and last night's handover "
            f"(accepted by {incoming.display_name}); start this morning's from the Handover page"]
