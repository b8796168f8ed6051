"""Handover API: patients, handovers, entries, acceptance, images and the FHIR export (validated by fhir.resources)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from handover import acceptance, access, fhir, patient_records, services
from handover.models import HandoverEntry, HandoverImage
from tests.handover.conftest import NUMBERS, add_patients, jpeg_with_gps, png_bytes, start, write_all


@pytest.fixture
def tokens(ward, make):
    return {name: make.token(getattr(ward, name)) for name in ("coordinator", "outgoing", "incoming", "outsider")}


def test_patient_list_add_move_discharge(client, ward, tokens, bearer):
    h = bearer(tokens["outgoing"])
    url = f"/api/v1/teams/{ward.team.id}/patients"
    resp = client.post(url, json={"name": "Test Patient One", "nhs_number": "999 000 0018", "location": "Bed 4",
                                  "date_of_birth": "1950-02-03"}, headers=h)
    assert resp.status_code == 201, resp.json
    patient = resp.json
    assert patient["nhs_number"] == "9990000018" and patient["nhs_number_display"] == "999 000 0018"
    resp = client.post(url, json={"name": "Test Patient Two", "hospital_number": "RX12345"}, headers=h)
    assert resp.status_code == 201 and resp.json["nhs_number"] is None
    resp = client.patch(f"/api/v1/patients/{patient['id']}", json={"location": "Side room 2"}, headers=h)
    assert resp.json["location"] == "Side room 2"
    resp = client.patch(f"/api/v1/patients/{patient['id']}", json={"discharged": True}, headers=h)
    assert resp.json["active"] is False and resp.json["discharged_at"]
    listed = client.get(url, headers=h).json
    assert [p["name"] for p in listed] == ["Test Patient Two"]
    assert len(client.get(url + "?include_discharged=true", headers=h).json) == 2
    actions = [a.action for a in db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("handover.%")))]
    assert {"handover.patient_added", "handover.patient_moved", "handover.patient_discharged"} <= set(actions)
    for entry in db.session.scalars(select(AuditEntry)):
        assert "Test Patient" not in entry.summary_json and "9990000018" not in entry.summary_json


@pytest.mark.parametrize("number, message", [
    ("9990000011", "check digit does not match"),  # wrong check digit
    ("999000001", "10 digits"),
    ("99900000189", "10 digits"),
    ("999-000-001A", "10 digits"),
    ("9990000140", "check digit"),  # 999000014 gives check digit 10: no valid number starts so
])
def test_invalid_nhs_numbers_are_refused_with_a_message(client, ward, tokens, bearer, number, message):
    resp = client.post(f"/api/v1/teams/{ward.team.id}/patients", json={"name": "Test Patient", "nhs_number": number},
                       headers=bearer(tokens["outgoing"]))
    assert resp.status_code == 422
    assert message in " ".join(resp.json["errors"]["nhs_number"])
    assert resp.mimetype == "application/problem+json"


def test_patient_needs_an_identifier_and_no_duplicates(client, ward, tokens, bearer):
    url, h = f"/api/v1/teams/{ward.team.id}/patients", bearer(tokens["outgoing"])
    assert client.post(url, json={"name": "No Identifier"}, headers=h).status_code == 422
    assert client.post(url, json={"name": "A Test", "nhs_number": NUMBERS[0]}, headers=h).status_code == 201
    resp = client.post(url, json={"name": "A Test", "nhs_number": NUMBERS[0]}, headers=h)
    assert resp.status_code == 409 and "already on this team's list" in resp.json["detail"]


def test_outsider_gets_403_on_every_api_url_and_it_is_audited(client, ward, tokens, bearer):
    patient, = add_patients(ward, 1)
    h = start(ward)
    h_out = bearer(tokens["outsider"])
    calls = [
        ("get", f"/api/v1/teams/{ward.team.id}/patients", None),
        ("post", f"/api/v1/teams/{ward.team.id}/patients", {"name": "X Test", "nhs_number": NUMBERS[5]}),
        ("patch", f"/api/v1/patients/{patient.id}", {"location": "Bed 9"}),
        ("post", f"/api/v1/teams/{ward.team.id}/handovers", {"label": "x", "starts_at": "2026-11-25T19:30:00Z"}),
        ("get", f"/api/v1/handovers/{h.id}", None),
        ("put", f"/api/v1/handovers/{h.id}/entries/{patient.id}", {"base_version": 1, "situation": "x"}),
        ("post", f"/api/v1/handovers/{h.id}/accept", {}),
        ("get", f"/api/v1/handovers/{h.id}/fhir", None),
    ]
    for method, url, body in calls:
        resp = getattr(client, method)(url, json=body, headers=h_out) if body is not None else \
            getattr(client, method)(url, headers=h_out)
        assert resp.status_code == 403, (url, resp.status_code)
        assert "Test Patient" not in resp.get_data(as_text=True)
    resp = client.post(f"/api/v1/handovers/{h.id}/entries/{patient.id}/images", headers=h_out,
                       data={"file": (io.BytesIO(jpeg_with_gps()), "a.jpg")}, content_type="multipart/form-data")
    assert resp.status_code == 403
    denied = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert len(denied) == len(calls) + 1 and all(d.actor_id == ward.outsider.id for d in denied)
    assert db.session.scalar(select(HandoverImage)) is None


def test_handover_is_prefilled_and_discharged_patients_leave_the_next_one(client, ward, tokens, bearer):
    p1, p2, p3 = add_patients(ward, 3)
    first = start(ward)
    write_all(first, ward, situation="Night was quiet")
    patient_records.update_patient(p3, ward.coordinator, discharged=True)
    db.session.commit()
    resp = client.post(f"/api/v1/teams/{ward.team.id}/handovers", headers=bearer(tokens["outgoing"]),
                       json={"label": "Early → Late", "starts_at": "2026-11-25T14:30:00",
                             "incoming_id": ward.incoming.id})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["starts_at"].startswith("2026-11-25T14:30:00")  # November: London is on GMT
    assert {e["patient"]["id"] for e in body["entries"]} == {p1.id, p2.id}
    for e in body["entries"]:
        assert e["situation"] == "Night was quiet" and e["carried_from_id"] and e["reviewed_at"] is None
        assert e["actions"][0]["text"] == "Repeat bloods"


def test_local_times_that_do_not_exist_or_repeat_are_refused(client, ward, tokens, bearer):
    url, h = f"/api/v1/teams/{ward.team.id}/handovers", bearer(tokens["outgoing"])
    resp = client.post(url, json={"label": "Night → Early", "starts_at": "2026-03-29T01:30:00"}, headers=h)
    assert resp.status_code == 422 and "does not exist" in json.dumps(resp.json)
    resp = client.post(url, json={"label": "Night → Early", "starts_at": "2026-10-25T01:30:00"}, headers=h)
    assert resp.status_code == 422 and "happens twice" in json.dumps(resp.json)
    resp = client.post(url, json={"label": "Night → Early", "starts_at": "2026-10-25T01:30:00+00:00"}, headers=h)
    assert resp.status_code == 201


def test_entry_versions_acceptance_and_refusals(client, ward, tokens, bearer):
    p1, p2 = add_patients(ward, 2)
    h = start(ward)
    out, inc = bearer(tokens["outgoing"]), bearer(tokens["incoming"])
    url = f"/api/v1/handovers/{h.id}/entries/{p1.id}"
    resp = client.put(url, json={"base_version": 1, "severity": "unstable", "situation": "Septic",
                                 "actions": [{"text": "Lactate", "owner": "FY1", "due_at": "2026-11-25T09:00:00"}]},
                      headers=out)
    assert resp.status_code == 200 and resp.json["version"] == 2 and resp.json["severity"] == "unstable"
    assert resp.json["actions"][0]["due_at"].startswith("2026-11-25T09:00:00")
    # acceptance refused while p2 was carried over and never reviewed
    resp = client.post(f"/api/v1/handovers/{h.id}/accept", json={}, headers=inc)
    assert resp.status_code == 422 and "Not yet reviewed" in resp.json["detail"]
    # only the named incoming clinician may accept
    resp = client.post(f"/api/v1/handovers/{h.id}/accept", json={"patient_ids": [p1.id]},
                       headers=bearer(tokens["coordinator"]))
    assert resp.status_code == 403 and "Ines Incoming" in resp.json["detail"]
    resp = client.post(f"/api/v1/handovers/{h.id}/accept", json={"patient_ids": [p1.id], "readback_note": "Lactate 9"},
                       headers=inc)
    assert resp.status_code == 200
    e1 = next(e for e in resp.json["entries"] if e["patient"]["id"] == p1.id)
    assert e1["accepted_by"]["display_name"] == "Ines Incoming" and e1["readback_note"] == "Lactate 9"
    assert resp.json["state"] == "open"
    # editing the accepted entry makes version 3; version 2 is untouched
    resp = client.put(url, json={"base_version": 2, "situation": "Septic, improving"}, headers=out)
    assert resp.status_code == 200 and resp.json["version"] == 3 and resp.json["accepted_at"] is None
    v2 = db.session.scalar(select(HandoverEntry).where(HandoverEntry.patient_id == p1.id, HandoverEntry.version == 2))
    assert v2.situation == "Septic" and v2.accepted_at is not None and not v2.current
    # a stale editor is refused clearly
    resp = client.put(url, json={"base_version": 2, "situation": "stale"}, headers=out)
    assert resp.status_code == 409 and "version 3" in resp.json["detail"] and resp.json["current_version"] == 3
    client.put(f"/api/v1/handovers/{h.id}/entries/{p2.id}", json={"base_version": 1, "severity": "stable"},
               headers=out)
    resp = client.post(f"/api/v1/handovers/{h.id}/accept", json={"readback_note": "All read back"}, headers=inc)
    assert resp.json["state"] == "accepted" and resp.json["accepted_by"]["id"] == ward.incoming.id
    # once the team has started the next handover, this one is closed: edits are refused
    start(ward, label="Early → Late")
    resp = client.put(url, json={"base_version": 3, "situation": "late change"}, headers=out)
    assert resp.status_code == 409 and "closed" in resp.json["detail"]


def test_accepted_version_cannot_be_changed_in_place_even_by_code(app, ward):
    from handover.models import ImmutableEntry

    p, = add_patients(ward, 1)
    h = start(ward)
    write_all(h, ward)
    acceptance.accept(h, ward.incoming)
    db.session.commit()
    entry = services.current_entries(h)[p.id]
    entry.situation = "rewritten history"
    with pytest.raises(ImmutableEntry):
        db.session.flush()
    db.session.rollback()
    entry = services.current_entries(h)[p.id]
    entry.accepted_at = None
    with pytest.raises(ImmutableEntry):
        db.session.flush()
    db.session.rollback()


def test_image_upload_api(client, ward, tokens, bearer, app):
    p, = add_patients(ward, 1)
    h = start(ward)
    out = bearer(tokens["outgoing"])
    url = f"/api/v1/handovers/{h.id}/entries/{p.id}/images"
    resp = client.post(url, headers=out, data={"file": (io.BytesIO(jpeg_with_gps((3000, 2000))), "w.jpg")},
                       content_type="multipart/form-data")
    assert resp.status_code == 201, resp.json
    assert max(resp.json["width"], resp.json["height"]) <= 2048
    image = db.session.get(HandoverImage, resp.json["id"])
    from handover.images import path_for

    stored = path_for(image.storage_key).read_bytes()
    assert Image.open(io.BytesIO(stored)).getexif() == {} and b"SecretCam" not in stored
    assert client.post(url, headers=out, data={"file": (io.BytesIO(png_bytes()), "p.png")},
                       content_type="multipart/form-data").status_code == 201
    refusals = [
        (b"", "empty"),
        (b"GIF89a" + b"\x00" * 100, "not a readable image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a readable image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "not a readable image"),  # truncated JPEG
        (b"\x89PNG" + b"\x00" * (2 * 1024 * 1024 + 1), "too large"),
    ]
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    refusals.append((gif.getvalue(), "Only photos can be attached"))
    for data, message in refusals:
        resp = client.post(url, headers=out, data={"file": (io.BytesIO(data), "x.jpg")},
                           content_type="multipart/form-data")
        assert resp.status_code in (413, 422), (message, resp.status_code)
        assert message in json.dumps(resp.json), (message, resp.json)
    assert client.post(url, headers=out, json={"file": "nope"}).status_code == 422
    assert len(db.session.scalars(select(HandoverImage)).all()) == 2


def test_heic_photos_are_decoded_and_reencoded(client, ward, tokens, bearer):
    pillow_heif = pytest.importorskip("pillow_heif")
    p, = add_patients(ward, 1)
    h = start(ward)
    img = Image.new("RGB", (320, 240), (10, 200, 10))
    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(buf, quality=80)
    resp = client.post(f"/api/v1/handovers/{h.id}/entries/{p.id}/images", headers=bearer(tokens["outgoing"]),
                       data={"file": (io.BytesIO(buf.getvalue()), "IMG_1.HEIC")}, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.json
    assert db.session.get(HandoverImage, resp.json["id"]).original_format == "HEIF"


def _validated(bundle_json: dict):
    from fhir.resources.R4B.bundle import Bundle

    return Bundle.model_validate(bundle_json)


def test_fhir_export_is_a_valid_r4_document_that_round_trips(client, ward, tokens, bearer):
    p1, p2 = add_patients(ward, 2)
    h = start(ward)
    write_all(h, ward, situation="Chest pain <resolved> & stable", synthesis="Receiver: troponin at 10")
    services.set_action_done(services.current_entries(h)[p1.id], 0, ward.incoming, True)
    acceptance.accept(h, ward.incoming, readback_note="read back")
    db.session.commit()
    resp = client.get(f"/api/v1/handovers/{h.id}/fhir", headers=bearer(tokens["incoming"]))
    assert resp.status_code == 200 and resp.mimetype == "application/fhir+json"
    assert resp.headers["Cache-Control"] == "no-store"
    bundle = _validated(resp.json)
    assert bundle.type == "document" and bundle.identifier.system == "urn:ietf:rfc:3986" and bundle.timestamp
    resources = [e.resource for e in bundle.entry]
    composition = resources[0]
    assert composition.get_resource_type() == "Composition" and composition.status == "final"
    assert all(e.fullUrl.startswith("urn:uuid:") for e in bundle.entry)
    by_url = {e.fullUrl: e.resource for e in bundle.entry}
    assert [a.party.display for a in composition.attester] == ["Ines Incoming"]
    assert composition.attester[0].mode == "professional"
    assert composition.author[0].display == "Olu Outgoing"
    assert len(composition.section) == 2
    for section, patient in zip(composition.section, (p1, p2), strict=True):
        res = by_url[section.focus.reference]
        assert res.get_resource_type() == "Patient"
        assert res.meta.profile == [fhir.UK_CORE_PATIENT]
        assert res.identifier[0].system == "https://fhir.nhs.uk/Id/nhs-number"
        assert res.identifier[0].value == patient.nhs_number
        assert res.name[0].text == patient.name and res.birthDate == patient.date_of_birth
        headings = {s.code.coding[0].code: s for s in section.section}
        assert all(s.code.coding[0].system == fhir.LOCAL_CODESYSTEM for s in section.section)
        entry = services.current_entries(h)[patient.id]
        for code, _, _, attr in fhir.HEADINGS:
            expected = getattr(entry, attr)
            expected = expected.value if attr == "severity" else expected
            got = fhir.text_of(headings[code].text.model_dump()) if code in headings else ""
            assert got == expected, code
        tasks = [by_url[ref.reference] for ref in headings[fhir.ACTIONS_CODE].entry]
        assert [t.description for t in tasks] == [a["text"] for a in entry.actions]
        assert tasks[0].for_fhir.reference == section.focus.reference
    statuses = sorted(r.status for r in resources if r.get_resource_type() == "Task")
    assert statuses == ["completed", "requested"]
    practitioners = {r.name[0].text for r in resources if r.get_resource_type() == "Practitioner"}
    assert practitioners == {"Olu Outgoing", "Ines Incoming"}
    # serialise with fhir.resources and read back: same document
    again = _validated(json.loads(bundle.model_dump_json()))
    assert again.model_dump() == bundle.model_dump()
    exported = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "handover.exported"))
    assert exported.summary["patient_ids"] == sorted([p1.id, p2.id]) and "Chest" not in exported.summary_json


def test_fhir_export_of_an_unaccepted_ipass_handover(client, ward, tokens, bearer):
    access.update_settings(ward.team, ward.coordinator, style="ipass", ack_minutes=30)
    p, = add_patients(ward, 1)
    db.session.commit()
    h = start(ward)
    resp = client.get(f"/api/v1/handovers/{h.id}/fhir", headers=bearer(tokens["outgoing"]))
    bundle = _validated(resp.json)
    composition = bundle.entry[0].resource
    assert composition.status == "preliminary" and not composition.attester
    assert composition.type.text == "I-PASS handover"
    assert composition.section[0].section[0].title == "Illness severity"


def test_acceptance_refused_for_an_entry_changed_after_the_receiver_read_it(client, ward, tokens, bearer):
    p1, p2 = add_patients(ward, 2)
    h = start(ward)
    write_all(h, ward)
    assert client.get(f"/api/v1/handovers/{h.id}", headers=bearer(tokens["incoming"])).status_code == 200
    from datetime import UTC, datetime

    seen = datetime.now(UTC).isoformat()  # when the receiver read it
    # the outgoing nurse changes bed 2 after the receiver read the handover
    client.put(f"/api/v1/handovers/{h.id}/entries/{p2.id}", json={"base_version": 2, "severity": "unstable",
                                                                  "situation": "Now worse"},
               headers=bearer(tokens["outgoing"]))
    resp = client.post(f"/api/v1/handovers/{h.id}/accept", json={"seen_at": seen}, headers=bearer(tokens["incoming"]))
    assert resp.status_code == 409 and "Changed since you opened the handover: Bed 2" in resp.json["detail"]
    assert services.current_entries(h)[p1.id].accepted_at is None  # nothing accepted
    resp = client.post(f"/api/v1/handovers/{h.id}/accept", json={}, headers=bearer(tokens["incoming"]))
    assert resp.status_code == 200


def test_an_edit_racing_an_acceptance_loses_with_a_conflict(app, ward):
    from sqlalchemy import update
    from sqlalchemy.orm.exc import StaleDataError

    p, = add_patients(ward, 1)
    h = start(ward)
    write_all(h, ward)
    entry = services.current_entries(h)[p.id]
    # meanwhile, another request accepts the entry (a different session's UPDATE bumps the row version)
    db.session.execute(update(HandoverEntry).where(HandoverEntry.id == entry.id)
                       .values(row_version=HandoverEntry.row_version + 1), execution_options={"synchronize_session":
                                                                                             False})
    entry.situation = "edit based on what I loaded before the acceptance"
    with pytest.raises(StaleDataError):
        db.session.flush()
    db.session.rollback()


def test_fhir_task_ids_stay_the_same_when_an_entry_is_saved_again(app, ward):
    """Every save is a new entry row; a receiving system must see the same actions (same Task ids, new content), not
    a second set of tasks."""
    from handover.payload import load_sheet

    p, = add_patients(ward, 1)
    h = start(ward)
    services.save_entry(h, p, ward.outgoing, {"severity": "watcher", "actions": [
        {"text": "Repeat Hb", "owner": "FY1"}, {"text": "Chase CT report"}]}, base_version=1)
    db.session.commit()

    def tasks():
        db.session.expire_all()
        bundle = fhir.export_bundle(load_sheet(h))
        return {e["resource"]["id"]: e["resource"]["description"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "Task"}

    before = tasks()
    services.save_entry(h, p, ward.incoming, {"severity": "watcher", "actions": [
        {"text": "Repeat Hb at 22:00", "owner": "FY1"}, {"text": "Chase CT report"}]}, base_version=2)
    db.session.commit()
    after = tasks()
    assert services.current_entries(h)[p.id].version == 3
    assert list(after) == list(before) and len(after) == 2
    assert list(after.values()) == ["Repeat Hb at 22:00", "Chase CT report"]  # the content changed, the ids not
    # another handover's actions are other tasks
    later = start(ward, label="Early → Late")
    later_ids = {e["resource"]["id"] for e in fhir.export_bundle(load_sheet(later))["entry"]
                 if e["resource"]["resourceType"] == "Task"}
    assert later_ids and not later_ids & set(after)
