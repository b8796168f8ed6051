"""Handover pages: the sheet, the per-patient edit screen, acceptance, print, images, and 403 for outsiders."""

from __future__ import annotations

import io
import re

from PIL import Image
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from handover import acceptance, services
from handover.models import HandoverImage
from tests.conftest import count_queries, login
from tests.handover.conftest import add_patients, handover_with_photo, jpeg_with_gps, start, write_all


def follow(client, resp):
    """IsolatedClient runs each request in a fresh context, so follow redirects by hand."""
    assert resp.status_code in (302, 303), resp.status_code
    return client.get(resp.headers["Location"])


def _urls(h, patient, image_id):
    return [
        ("get", "/handover/"), ("get", f"/handover/teams/{h.team_id}/patients"),
        ("post", f"/handover/teams/{h.team_id}/patients"), ("post", f"/handover/teams/{h.team_id}/start"),
        ("post", f"/handover/teams/{h.team_id}/settings"),
        ("post", f"/handover/patients/{patient.id}/move"), ("post", f"/handover/patients/{patient.id}/discharge"),
        ("get", f"/handover/patients/{patient.id}/access"),
        ("get", f"/handover/{h.id}"), ("get", f"/handover/{h.id}/print"), ("post", f"/handover/{h.id}/ready"),
        ("post", f"/handover/{h.id}/accept"), ("get", f"/handover/{h.id}/patients/{patient.id}"),
        ("post", f"/handover/{h.id}/patients/{patient.id}"), ("post", f"/handover/{h.id}/patients/{patient.id}/accept"),
        ("post", f"/handover/{h.id}/patients/{patient.id}/actions/0"),
        ("post", f"/handover/{h.id}/patients/{patient.id}/images"),
        ("get", f"/handover/images/{image_id}"), ("get", f"/handover/images/{image_id}?size=thumb"),
    ]


def test_someone_from_another_team_gets_403_on_every_handover_url_and_image(app, client, ward):
    patient, h, image = handover_with_photo(ward)
    login(client, ward.outsider)
    for method, url in _urls(h, patient, image.id):
        if url == "/handover/":
            resp = client.get(url)
            assert resp.status_code == 200 and "Ward 7B" not in resp.get_data(as_text=True)
            continue
        resp = getattr(client, method)(url, data={"location": "Bed 9", "name": "X", "nhs_number": "9990000018"})
        assert resp.status_code == 403, (method, url, resp.status_code)
        body = resp.get_data(as_text=True)
        assert patient.name not in body and patient.nhs_number_display not in body
    refusals = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied",
                                                           AuditEntry.actor_id == ward.outsider.id)).all()
    assert len(refusals) == len(_urls(h, patient, image.id)) - 1
    # nothing changed
    db.session.expire_all()
    assert patient.location == "Bed 1" and patient.discharged_at is None
    assert services.current_entries(h)[patient.id].accepted_at is None


def test_outgoing_edits_prefilled_entry_and_incoming_accepts(app, client, ward):
    p1, p2 = add_patients(ward, 2)
    yesterday = start(ward, label="Day → Night")
    write_all(yesterday, ward, situation="Chest pain overnight, troponin pending")
    acceptance.accept(yesterday, ward.incoming)
    db.session.commit()
    today = start(ward)
    login(client, ward.outgoing)
    page = client.get(f"/handover/{today.id}/patients/{p1.id}").get_data(as_text=True)
    assert "Chest pain overnight, troponin pending" in page  # pre-filled, and the previous entry alongside
    assert page.count("Chest pain overnight") == 2
    assert "Carried over" in page
    resp = client.post(f"/handover/{today.id}/patients/{p1.id}", data={
        "base_version": "1", "severity": "unstable", "situation": "Troponin rising", "background": "Background",
        "assessment": "NSTEMI", "recommendation": "Cardiology review", "contingency": "If pain then ECG",
        "actions": "Repeat Repeat troponin | FY1 | 10:00\nECG | HCA", "synthesis": ""})
    assert resp.status_code == 302
    sheet = client.get(f"/handover/{today.id}").get_data(as_text=True)
    assert "Troponin rising" in sheet and "Unstable" in sheet and "Carried over – check" in sheet  # p2 not yet
    # handing over is refused while an entry is unreviewed, with a message saying why
    resp = follow(client, client.post(f"/handover/{today.id}/ready"))
    assert "not been reviewed" in resp.get_data(as_text=True)
    client.post(f"/handover/{today.id}/patients/{p2.id}", data={"base_version": "1", "severity": "stable",
                                                                "situation": "Well", "actions": "Repeat bloods | FY1"})
    resp = follow(client, client.post(f"/handover/{today.id}/ready"))
    assert "incoming clinician has been told" in resp.get_data(as_text=True)
    from notifications.models import Notification

    note = db.session.scalar(select(Notification).where(Notification.user_id == ward.incoming.id))
    assert note.text == "Handover for Ward 7B is ready for you" and note.link == f"/handover/{today.id}"
    client.post("/auth/logout")
    login(client, ward.incoming)
    resp = follow(client, client.post(f"/handover/{today.id}/accept", data={"readback_note": "Bed 1 troponin at 10"}))
    body = resp.get_data(as_text=True)
    assert "You accepted responsibility for 2 patients" in body and "Accepted by Ines Incoming" in body


def test_edit_of_accepted_entry_makes_a_new_version_and_history_shows_both(app, client, ward):
    p, = add_patients(ward, 1)
    h = start(ward)
    write_all(h, ward, situation="Version one text")
    acceptance.accept(h, ward.incoming, readback_note="read back")
    db.session.commit()
    login(client, ward.outgoing)
    page = client.get(f"/handover/{h.id}/patients/{p.id}").get_data(as_text=True)
    assert "cannot be changed" in page and "version 3" in page
    resp = follow(client, client.post(f"/handover/{h.id}/patients/{p.id}",
                                      data={"base_version": "2", "severity": "watcher",
                                            "situation": "Version three text"}))
    assert "Saved (version 3). It needs accepting again." in resp.get_data(as_text=True)
    page = client.get(f"/handover/{h.id}/patients/{p.id}").get_data(as_text=True)
    assert "Version one text" in page and "Version three text" in page and "Version 2 by Olu Outgoing" in page
    # a second editor who still had version 2 open is refused, clearly
    resp = client.post(f"/handover/{h.id}/patients/{p.id}", data={"base_version": "2", "severity": "stable",
                                                                  "situation": "Stale edit"})
    assert resp.status_code == 409 and "Not saved: Olu Outgoing saved this entry" in resp.get_data(as_text=True)


def test_photo_upload_strips_metadata_and_is_served_no_store_to_members_only(app, client, ward):
    p, = add_patients(ward, 1)
    h = start(ward)
    login(client, ward.outgoing)
    original = jpeg_with_gps()
    assert b"SecretCam" in original
    resp = follow(client, client.post(f"/handover/{h.id}/patients/{p.id}/images",
                       data={"photo": (io.BytesIO(original), "IMG_0001.jpg")}, content_type="multipart/form-data"))
    assert "Photo attached" in resp.get_data(as_text=True)
    image = db.session.scalar(select(HandoverImage))
    for size in ("", "?size=thumb"):
        resp = client.get(f"/handover/images/{image.id}{size}")
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
        assert resp.mimetype == "image/jpeg"
        data = resp.get_data()
        served = Image.open(io.BytesIO(data))
        assert not served.getexif() and "exif" not in served.info and "comment" not in served.info
        assert b"SecretCam" not in data and b"wound" not in data and b"GPS" not in data
    assert Image.open(io.BytesIO(client.get(f"/handover/images/{image.id}?size=thumb").get_data())).width <= 320
    # stored outside the web root, under a random name
    assert image.storage_key not in str(app.static_folder)
    assert not list(__import__("pathlib").Path(app.static_folder).rglob(f"{image.storage_key}*"))


def test_non_image_and_oversized_uploads_refused_on_the_page(app, client, ward):
    p, = add_patients(ward, 1)
    h = start(ward)
    login(client, ward.outgoing)
    resp = follow(client, client.post(f"/handover/{h.id}/patients/{p.id}/images",
                       data={"photo": (io.BytesIO(b"%PDF-1.4 not a photo"), "x.jpg")},
                       content_type="multipart/form-data"))
    assert "not a readable image" in resp.get_data(as_text=True)
    big = b"\xff\xd8\xff" + b"0" * (2 * 1024 * 1024 + 10)
    resp = follow(client, client.post(f"/handover/{h.id}/patients/{p.id}/images",
                       data={"photo": (io.BytesIO(big), "big.jpg")}, content_type="multipart/form-data"))
    assert "too large" in resp.get_data(as_text=True)
    assert db.session.scalar(select(HandoverImage)) is None


def test_invalid_nhs_number_refused_on_the_form(app, client, ward):
    login(client, ward.outgoing)
    resp = client.post(f"/handover/teams/{ward.team.id}/patients",
                       data={"name": "Test Patient", "nhs_number": "999 000 0011", "location": "Bed 3"})
    assert resp.status_code == 422
    assert "not a valid NHS number" in resp.get_data(as_text=True)
    resp = follow(client, client.post(f"/handover/teams/{ward.team.id}/patients",
                       data={"name": "Test Patient", "nhs_number": "9990000018", "location": "Bed 3"}))
    assert "999 000 0018" in resp.get_data(as_text=True)  # shown 3-3-4


def test_print_view_is_a4_sheet_with_every_patient(app, client, ward):
    add_patients(ward, 3)
    h = start(ward)
    write_all(h, ward)
    login(client, ward.incoming)
    body = client.get(f"/handover/{h.id}/print").get_data(as_text=True)
    assert body.count('class="sb-ho-print__row') == 3 and "handover.css" in body
    assert "<script>" not in body and "style=" not in body and " onclick" not in body


def test_pages_have_no_inline_scripts_or_styles(app, client, ward):
    p, = add_patients(ward, 1)
    h = start(ward)
    login(client, ward.coordinator)
    for url in ("/handover/", f"/handover/teams/{ward.team.id}/patients", f"/handover/{h.id}",
                f"/handover/{h.id}/patients/{p.id}", f"/handover/patients/{p.id}/access"):
        body = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), url
        assert not re.search(r"\sstyle=|\son[a-z]+=", body), url


def test_access_report_lists_who_viewed_and_changed_a_patient(app, client, ward):
    p1, p2 = add_patients(ward, 2)
    h = start(ward)
    login(client, ward.incoming)
    client.get(f"/handover/{h.id}/patients/{p1.id}")
    client.post("/auth/logout")
    login(client, ward.coordinator)
    body = client.get(f"/handover/patients/{p1.id}/access").get_data(as_text=True)
    assert "Ines Incoming" in body and "entry viewed" in body and "patient added" in body
    body2 = client.get(f"/handover/patients/{p2.id}/access").get_data(as_text=True)
    assert "Ines Incoming" not in body2  # p2's report does not list p1's viewer
    client.post("/auth/logout")
    login(client, ward.incoming)  # staff cannot produce the report
    assert client.get(f"/handover/patients/{p1.id}/access").status_code == 403


def _count_queries(fn) -> int:
    with count_queries() as seen:
        fn()
    return len(seen)


def test_sheet_and_api_read_use_a_constant_number_of_queries(app, client, ward, bearer, make):
    small_team_patients = add_patients(ward, 2)
    h_small = start(ward)
    write_all(h_small, ward)
    token = make.token(ward.incoming)
    login(client, ward.incoming)
    client.get("/api/v1/me", headers=bearer(token))  # the token's first use is recorded (a write); later ones are not
    small_page = _count_queries(lambda: client.get(f"/handover/{h_small.id}"))
    small_api = _count_queries(lambda: client.get(f"/api/v1/handovers/{h_small.id}", headers=bearer(token)))
    add_patients(ward, 20, start=len(small_team_patients))
    h_big = start(ward, label="Early → Late")
    write_all(h_big, ward)
    write_all(h_big, ward, situation="second version")
    big_page = _count_queries(lambda: client.get(f"/handover/{h_big.id}"))
    big_api = _count_queries(lambda: client.get(f"/api/v1/handovers/{h_big.id}", headers=bearer(token)))
    assert big_page == small_page and big_api == small_api, (small_page, big_page, small_api, big_api)
