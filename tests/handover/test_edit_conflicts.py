"""Issue 12, item 1: handover edits are never lost silently.

Two nurses edit the same patient: the second save, made from what she saw before the first one, is refused (API 409
naming the version and who saved it when; the page keeps her typed text and shows the other text beside it). Twenty
truly concurrent saves from one version: exactly one wins. Attaching a photo keeps what was typed. Accepting while
not on the rota has to be confirmed, and is recorded.
"""

from __future__ import annotations

import html as htmlmod
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from handover import services
from handover.models import HandoverEntry, HandoverImage
from tests.conftest import login
from tests.handover.browserless import checked, submit, value
from tests.handover.conftest import add_patients, jpeg_with_gps, on_shift, start

ESCALATION = {"severity": "unstable", "situation": "chest pain 10 min ago, ECG done"}
CALM = {"severity": "stable", "situation": "comfortable, nil concerns"}


def _current(h, patient) -> HandoverEntry:
    db.session.expire_all()
    return services.current_entries(h)[patient.id]


def _text(resp) -> str:
    return htmlmod.unescape(resp.get_data(as_text=True))


# ------------------------------------------------------------------------------------------------------- API


def test_second_save_from_the_same_version_is_refused_naming_who_saved_it_and_when(client, ward, make, bearer):
    """Deterministic stale-state test (SQLite and PostgreSQL): the handover-save guard in ``services.save_entry``."""
    p, = add_patients(ward, 1)
    h = start(ward)
    a, b = bearer(make.token(ward.outgoing)), bearer(make.token(ward.incoming))
    url = f"/api/v1/handovers/{h.id}/entries/{p.id}"
    first = client.put(url, json={"base_version": 1, **ESCALATION}, headers=a)
    assert first.status_code == 200, first.json
    second = client.put(url, json={"base_version": 1, **CALM}, headers=b)
    assert second.status_code == 409, second.json
    assert second.mimetype == "application/problem+json"
    problem = second.json
    assert problem["current_version"] == first.json["version"] == 2
    assert problem["saved_by"] == {"id": ward.outgoing.id, "display_name": "Olu Outgoing"}
    assert problem["saved_at"] == first.json["updated_at"]
    assert "Olu Outgoing saved this entry" in problem["detail"] and "version 2" in problem["detail"]
    assert "you edited version 1" in problem["detail"]
    entry = _current(h, p)
    assert (entry.severity.value, entry.situation) == ("unstable", "chest pain 10 min ago, ECG done")
    # merged on top of what is now there: accepted
    merged = client.put(url, json={"base_version": 2, "severity": "unstable",
                                   "situation": "chest pain 10 min ago, ECG done; now comfortable"}, headers=b)
    assert merged.status_code == 200 and merged.json["version"] == 3
    # every save stays in the history: nothing typed is overwritten in place
    texts = [e.situation for e in sorted(services.entry_versions(h, p.id), key=lambda e: e.version)]
    assert texts[-2:] == ["chest pain 10 min ago, ECG done", "chest pain 10 min ago, ECG done; now comfortable"]


def test_a_save_without_the_version_the_editor_saw_is_refused(client, ward, make, bearer):
    p, = add_patients(ward, 1)
    h = start(ward)
    resp = client.put(f"/api/v1/handovers/{h.id}/entries/{p.id}", json=CALM, headers=bearer(make.token(ward.outgoing)))
    assert resp.status_code == 422 and "base_version" in resp.json["errors"]
    assert _current(h, p).situation == ""


def _race(base_url: str, calls) -> list[tuple[int, dict]]:
    db.session.commit()  # on SQLite a transaction holds the write lock
    barrier = threading.Barrier(len(calls))

    def one(call):
        url, token, body = call
        barrier.wait()
        r = requests.put(base_url + url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def test_twenty_concurrent_saves_from_one_version_exactly_one_wins(live_server, ward, make):
    p, = add_patients(ward, 1)
    h = start(ward)
    tokens = [make.token(ward.outgoing if i % 2 else ward.incoming) for i in range(20)]
    url = f"/api/v1/handovers/{h.id}/entries/{p.id}"
    calls = [(url, t, {"base_version": 1, "severity": "watcher", "situation": f"writer {i}"})
             for i, t in enumerate(tokens)]
    results = _race(live_server.url, calls)
    assert sorted(s for s, _ in results) == [200] + [409] * 19, [s for s, _ in results]
    winner = next(i for i, (s, _) in enumerate(results) if s == 200)
    for status, body in results:
        if status == 409:
            assert body["current_version"] == 2 and "saved this entry" in body["detail"], body
    entry = _current(h, p)
    assert entry.version == 2 and entry.situation == f"writer {winner}"
    assert sorted(v.version for v in services.entry_versions(h, p.id)) == [1, 2]


def test_first_saves_of_a_patient_added_after_the_start_race_too(live_server, ward, make):
    """A patient added after the handover started has no entry: the first save (base_version 0) creates version 1;
    of ten at once exactly one does, the unique key refusing the others, who are told who saved it."""
    h = start(ward)
    p, = add_patients(ward, 1)
    tokens = [make.token(ward.outgoing) for _ in range(10)]
    url = f"/api/v1/handovers/{h.id}/entries/{p.id}"
    results = _race(live_server.url, [(url, t, {"base_version": 0, "situation": f"first {i}"})
                                      for i, t in enumerate(tokens)])
    assert sorted(s for s, _ in results) == [200] + [409] * 9, [s for s, _ in results]
    winner = next(i for i, (s, _) in enumerate(results) if s == 200)
    assert all(body["current_version"] == 1 for s, body in results if s == 409)
    entry = _current(h, p)
    assert entry.version == 1 and entry.situation == f"first {winner}"


# ------------------------------------------------------------------------------------------------------ pages


def test_stale_save_on_the_page_keeps_her_text_shows_theirs_and_merge_saves(app, ward):
    """The issue's scenario without JavaScript: A escalates, B saves from the page she opened earlier."""
    p, = add_patients(ward, 1)
    h = start(ward)
    nurse_a, nurse_b = app.test_client(), app.test_client()
    login(nurse_a, ward.outgoing)
    login(nurse_b, ward.incoming)
    url = f"/handover/{h.id}/patients/{p.id}"
    page_a, page_b = _text(nurse_a.get(url)), _text(nurse_b.get(url))  # both open the same patient
    saved = submit(nurse_a, url, page_a, "save-entry", ESCALATION)
    assert saved.status_code == 302
    resp = submit(nurse_b, url, page_b, "save-entry", CALM)
    assert resp.status_code == 409
    body = _text(resp)
    assert "Not saved: Olu Outgoing saved this entry at" in body and "(version 2)" in body
    assert "Your text is kept below" in body
    assert value(body, "situation") == "comfortable, nil concerns"  # hers, in the form
    assert "chest pain 10 min ago, ECG done" in body  # theirs, beside it
    assert checked(body, "severity") == "stable"  # her severity, not theirs
    assert _current(h, p).situation == "chest pain 10 min ago, ECG done"
    # she merges and saves again from the conflict page
    merged = submit(nurse_b, url, body, "save-entry", {"severity": "unstable",
                                                       "situation": "chest pain 10 min ago, ECG done; comfortable"})
    assert merged.status_code == 302
    entry = _current(h, p)
    assert (entry.version, entry.severity.value) == (3, "unstable")
    assert entry.situation == "chest pain 10 min ago, ECG done; comfortable"


def test_attaching_a_photo_keeps_the_typed_text_without_javascript(app, ward):
    p, = add_patients(ward, 1)
    h = start(ward)
    client = app.test_client()
    login(client, ward.outgoing)
    url = f"/handover/{h.id}/patients/{p.id}"
    typed = {"severity": "watcher", "situation": "Wound oozing since 14:00", "assessment": "Possible infection"}
    resp = submit(client, url, _text(client.get(url)), "upload-photo", typed,
                  {"photo": (io.BytesIO(jpeg_with_gps()), "IMG_0007.jpg")})
    assert resp.status_code == 200, resp.status_code
    body = _text(resp)
    assert "Photo attached" in body
    assert value(body, "situation") == "Wound oozing since 14:00" and value(body, "assessment") == "Possible infection"
    assert "not saved yet" in body
    assert db.session.scalar(select(HandoverImage.id)) is not None
    # the typed text was not saved behind her back; pressing Save keeps it
    assert _current(h, p).situation == ""
    saved = submit(client, url, body, "save-entry")
    assert saved.status_code == 302
    assert _current(h, p).situation == "Wound oozing since 14:00"


def test_ticking_an_action_keeps_the_typed_text_without_javascript(app, ward):
    p, = add_patients(ward, 1)
    h = start(ward)
    services.save_entry(h, p, ward.outgoing, {"severity": "watcher", "actions": [{"text": "Repeat Hb"}]},
                        base_version=1)
    db.session.commit()
    client = app.test_client()
    login(client, ward.outgoing)
    url = f"/handover/{h.id}/patients/{p.id}"
    resp = submit(client, url, _text(client.get(url)), "action-toggle", {"situation": "Hb 71, transfused"})
    assert resp.status_code == 200
    assert value(_text(resp), "situation") == "Hb 71, transfused"
    assert "done_at" in str(_current(h, p).action_status)


# ------------------------------------------------------------------------------------------- not on the rota


def _off_the_rota():
    from rota.models import Shift

    db.session.execute(Shift.__table__.delete())
    db.session.commit()


def _written(ward, count=1):
    patients = add_patients(ward, count)
    h = start(ward)
    for p in patients:
        services.save_entry(h, p, ward.outgoing, {"severity": "watcher", "situation": "Fine"}, base_version=1)
    db.session.commit()
    return h, patients


def test_accepting_when_not_on_the_rota_must_be_confirmed_and_is_recorded_api(client, ward, make, bearer):
    h, (p,) = _written(ward)
    _off_the_rota()
    on_shift(ward.team, ward.incoming, starts_in_hours=3, hours=8)  # one starting in 3 hours does not count,
    on_shift(ward.other_team, ward.incoming, starts_in_hours=-1, hours=3)  # nor one on another ward now
    token = bearer(make.token(ward.incoming))
    url = f"/api/v1/handovers/{h.id}/accept"
    resp = client.post(url, json={"readback_note": "read back"}, headers=token)
    assert resp.status_code == 422, resp.json
    assert "You are not on the rota for Ward 7B in the next 2 hours" in resp.json["detail"]
    assert "confirm_off_rota" in resp.json["errors"]
    assert _current(h, p).accepted_at is None
    resp = client.post(url, json={"readback_note": "read back", "confirm_off_rota": True}, headers=token)
    assert resp.status_code == 200, resp.json
    assert resp.json["entries"][0]["accepted_off_rota"] is True
    assert _current(h, p).accepted_off_rota is True
    audit = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "handover.accepted"))
    assert audit.summary["off_rota"] is True


def test_rostered_nurse_accepts_without_a_confirmation(client, ward, make, bearer):
    h, (p,) = _written(ward)
    _off_the_rota()
    on_shift(ward.team, ward.incoming, starts_in_hours=1.9, hours=8)  # starts within the next 2 hours
    resp = client.post(f"/api/v1/handovers/{h.id}/accept", json={}, headers=bearer(make.token(ward.incoming)))
    assert resp.status_code == 200, resp.json
    assert _current(h, p).accepted_off_rota is False


def _off_rota_nurse_opens(app, ward, one_patient: bool):
    """The incoming nurse, with no shift on the rota, opens the sheet (or the patient's page): it says so."""
    h, (p,) = _written(ward)
    _off_the_rota()
    client = app.test_client()
    login(client, ward.incoming)
    url = f"/handover/{h.id}" + (f"/patients/{p.id}" if one_patient else "")
    page = _text(client.get(url))
    assert "You are not on the rota for Ward 7B in the next 2 hours" in page
    return h, p, client, url, page


def test_not_on_the_rota_is_stated_on_the_page_and_the_read_back_is_kept(app, ward):
    h, p, client, url, page = _off_rota_nurse_opens(app, ward, one_patient=False)
    resp = submit(client, url, page, "accept-all", {"readback_note": "Bed 1 fine, bloods at 10"})
    assert resp.status_code == 422
    body = _text(resp)
    assert "Confirm that you are taking responsibility" in body
    assert value(body, "readback_note") == "Bed 1 fine, bloods at 10"  # the read-back as typed
    assert _current(h, p).accepted_at is None
    resp = submit(client, url, body, "accept-all", {"confirm_off_rota": "y"})
    assert resp.status_code == 302
    entry = _current(h, p)
    assert entry.accepted_at is not None and entry.accepted_off_rota
    assert entry.readback_note == "Bed 1 fine, bloods at 10"
    sheet = _text(client.get(url))
    assert "not on the rota (confirmed)" in sheet


def test_accepting_one_patient_keeps_what_was_typed_and_asks_off_rota_nurses_to_confirm(app, ward):
    h, p, client, url, page = _off_rota_nurse_opens(app, ward, one_patient=True)
    typed = {"synthesis": "Watch for bleeding; Hb at 22:00", "readback_note": "Read back Hb"}
    resp = submit(client, url, page, "accept-entry", typed)
    assert resp.status_code == 422
    body = _text(resp)
    assert "Confirm that you are taking responsibility" in body
    assert value(body, "synthesis") == typed["synthesis"] and value(body, "readback_note") == "Read back Hb"
    assert _current(h, p).accepted_at is None
    resp = submit(client, url, body, "accept-entry", {"confirm_off_rota": "y"})
    assert resp.status_code == 200  # accepted, and her unsaved synthesis is still on the page
    body = _text(resp)
    assert "You accepted responsibility for 1 patient." in body and "not saved yet" in body
    assert value(body, "synthesis") == typed["synthesis"]
    entry = _current(h, p)
    assert entry.accepted_off_rota and entry.readback_note == "Read back Hb" and entry.synthesis == ""
