"""Fuzz the handover endpoints with *real* ids, so generated bodies reach the services (the suite-wide fuzz test
mostly hits 404s on random ids). Fails on any 5xx or a response that does not match its documented schema."""

from flask import g

from core.db import db
from handover import patient_records, services
from tests import fuzzing
from tests.conftest import Factory
from tests.handover.conftest import NUMBERS


def test_handover_endpoints_survive_fuzzing_with_real_ids(app, tmp_path, request):
    make = Factory()
    admin = make.admin()
    nurse = make.user()
    team = make.team("Fuzz ward", coordinators=[admin], staff=[nurse])
    patient = patient_records.add_patient(team, admin, name="Fuzz Patient", nhs_number=NUMBERS[0], location="Bed 1")
    db.session.commit()
    handover = services.start_handover(team, admin, label="Night → Early",
                                       starts_at=__import__("datetime").datetime.now(__import__("datetime").UTC))
    db.session.commit()
    ids = {"team_id": team.id, "patient_id": patient.id, "handover_id": handover.id}
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    operations = fuzzing.operations(app, lambda path: path.startswith(("/api/v1/handovers", "/api/v1/patients"))
                                    or path.endswith(("/patients", "/handovers")))
    assert len(operations) == 9, [o.path for o in operations]

    def prepare(case):
        if case.path_parameters:
            ids["handover_id"] = services.latest_handover(team).id  # fuzzed POSTs start newer handovers
            db.session.commit()
            case.path_parameters = {k: ids.get(k, v) for k, v in case.path_parameters.items()}
        if case.method.upper() == "PUT" and isinstance(case.body, dict) and "base_version" in case.body:
            # the version the entry is at, so that generated edits reach the service past the stale-save guard
            entry = services.current_entries(services.latest_handover(team)).get(patient.id)
            case.body["base_version"] = entry.version if entry else 0
            db.session.commit()
        # the generated case carries junk bearer tokens for the documented security scheme; send the real one
        case.headers = {**(case.headers or {}), **headers}
        # requests made inside the test's app context share its ``g``: forget the caller of the previous one
        for key in ("_login_user", "auth_via_token", "session_ended", "session_ended_user_id"):
            g.pop(key, None)

    fuzzing.fuzz(request, operations, headers=headers, examples=12, prepare=prepare, derandomize=True)
    from sqlalchemy import select

    from core.audit import AuditEntry

    reached = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == admin.id)))
    # the generated requests got past validation into the services, not just 404s and 422s
    print("REACHED", reached)
    assert {"handover.viewed", "handover.exported", "handover.patients_listed", "handover.entry_updated"} <= reached
