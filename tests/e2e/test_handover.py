"""Handover in a real browser on a 360-px phone: the outgoing nurse writes a handover pre-filled from yesterday,
attaches a photo (its GPS EXIF is stripped), hands over; the incoming nurse accepts; someone from another team gets
403 on every handover URL and image."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from core.db import db
from handover import acceptance, patient_records, services
from tests.conftest import TEST_PASSWORD, Factory
from tests.e2e.conftest import open_menu, sign_in, sign_out, wait_for_js
from tests.handover.conftest import NUMBERS, jpeg_with_gps, on_shift

NARROW = {"width": 360, "height": 740}


@pytest.fixture
def app_config(tmp_path):
    return {"WTF_CSRF_ENABLED": True, "HANDOVER_UPLOAD_DIR": str(tmp_path / "images")}


@pytest.fixture
def narrow(browser, live_server):
    context = browser.new_context(viewport=NARROW, base_url=live_server.url, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _no_horizontal_scroll(page):
    """Nothing in the page's main content reaches past the right edge of a 360-px phone (the shared header's menu
    is the lead's; its own overflow is reported separately)."""
    overflowing = page.evaluate("""(limit) => Array.from(document.querySelectorAll('main *'))
        .filter(e => e.getBoundingClientRect().right > limit + 0.5)
        .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""",
                                NARROW["width"])
    assert not overflowing, f"{page.url}: {overflowing[:5]}"
    assert page.evaluate("document.querySelector('main').scrollWidth") <= NARROW["width"]


def _sign_out(page):
    sign_out(page)
    page.wait_for_url("**/auth/login**")


def test_outgoing_writes_prefilled_handover_with_photo_incoming_accepts_outsider_refused(app, narrow, tmp_path):
    make = Factory()
    outgoing = make.user(email="olu@example.test", display_name="Olu Outgoing")
    incoming = make.user(email="ines@example.test", display_name="Ines Incoming")
    coordinator = make.user(email="cora@example.test", display_name="Cora Coordinator")
    outsider = make.user(email="otto@example.test", display_name="Otto Outsider")
    team = make.team("Ward 7B", coordinators=[coordinator], staff=[outgoing, incoming])
    make.team("Ward 9", staff=[outsider])
    p1 = patient_records.add_patient(team, coordinator, name="Test Patient Alpha",
                                     nhs_number=NUMBERS[0], location="Bed 1")
    p2 = patient_records.add_patient(team, coordinator, name="Test Patient Bravo",
                                     nhs_number=NUMBERS[1], location="Bed 2")
    yesterday = services.start_handover(team, incoming, label="Day → Night",
                                        starts_at=datetime.now(UTC) - timedelta(hours=12), incoming_id=outgoing.id)
    for p, text in ((p1, "Chest pain overnight, troponin pending"), (p2, "Awaiting care home bed")):
        services.save_entry(yesterday, p, incoming, {"severity": "watcher", "situation": text,
                                                     "actions": [{"text": "Repeat troponin", "owner": "FY1"}]},
                            base_version=1)
    acceptance.accept(yesterday, outgoing, confirm_off_rota=True)
    on_shift(team, incoming)  # on the rota now: accepting today's handover needs no extra confirmation
    team_id, p1_id = team.id, p1.id
    emails = {"outgoing": outgoing.email, "incoming": incoming.email, "outsider": outsider.email}
    db.session.commit()
    db.session.close()  # on SQLite a transaction holds the write lock: the live server must be able to write

    page = narrow
    # ---- outgoing nurse: start today's handover, pre-filled from yesterday
    sign_in(page, emails['outgoing'], TEST_PASSWORD)
    page.wait_for_url("**/")
    open_menu(page)
    page.get_by_role("link", name="Handover").first.click()
    page.click("[data-testid=start-handover]")
    page.select_option(f"#t{team_id}-incoming_id", label="Ines Incoming")
    page.fill(f"#t{team_id}-label", "Night → Early")
    page.click("[data-testid=start-submit]")
    page.wait_for_url("**/handover/*")
    assert page.locator("[data-testid=entry-card]").count() == 2
    assert page.locator("[data-testid=entry-unreviewed]").count() == 2
    assert "Chest pain overnight, troponin pending" in page.inner_text("main")
    _no_horizontal_scroll(page)
    handover_url = page.url

    # ---- edit bed 1 with the previous entry alongside
    page.locator("[data-testid=entry-link]", has_text="Bed 1").click()
    assert "Chest pain overnight" in page.inner_text("[data-testid=previous-entry]")
    assert page.input_value("#situation") == "Chest pain overnight, troponin pending"
    _no_horizontal_scroll(page)
    page.check("#severity-2")  # unstable
    page.fill("#situation", "Troponin rising, chest pain again at 06:00")
    page.fill("#actions", "Repeat troponin | FY1 | 10:00\nECG if pain recurs | HCA")
    page.click("[data-testid=save-entry]")
    page.wait_for_url("**/handover/*#patient-*")
    assert "Saved (version 2)" in page.inner_text("main")

    # ---- attach a photo from the "camera" (a JPEG with GPS EXIF)
    page.locator("[data-testid=entry-link]", has_text="Bed 1").click()
    photo = jpeg_with_gps()
    assert b"SecretCam" in photo
    page.set_input_files("[data-testid=photo-input]", files=[{"name": "IMG_2041.jpg", "mimeType": "image/jpeg",
                                                              "buffer": photo}])
    page.click("[data-testid=upload-photo]")
    page.wait_for_selector("[data-testid=photo-thumb]")
    assert "location and camera details removed" in page.inner_text("main")
    # the thumbnail loads after the page; wait for it (up to the default timeout) instead of reading it at once
    wait_for_js(page, "() => { const i = document.querySelector('[data-testid=photo-thumb]');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    image_url = page.locator("[data-testid=photos] a").first.get_attribute("href")
    served = page.request.get(image_url)
    assert served.status == 200 and served.headers["cache-control"] == "no-store"
    body = served.body()
    assert b"SecretCam" not in body and b"wound" not in body
    assert not Image.open(io.BytesIO(body)).getexif()

    # ---- bed 2 unchanged but checked, then hand over
    page.goto(handover_url)
    page.locator("[data-testid=entry-link]", has_text="Bed 2").click()
    page.click("[data-testid=save-entry]")
    page.wait_for_url("**/handover/*#patient-*")
    page.click("[data-testid=hand-over]")
    assert "incoming clinician has been told" in page.inner_text("main")
    _sign_out(page)

    # ---- incoming nurse accepts the whole handover with a read-back
    sign_in(page, emails['incoming'], TEST_PASSWORD)
    page.wait_for_url("**/")
    page.get_by_role("link", name="Ward 7B: Night → Early").click()
    assert page.inner_text("[data-testid=handover-state]") == "Waiting for acceptance"
    assert page.locator("[data-testid=severity]", has_text="Unstable").count() == 1
    page.fill("#readback_note", "Bed 1 troponin due 10:00, ECG if pain")
    page.click("[data-testid=accept-all]")
    page.wait_for_selector("[data-testid=accepted-line]")
    assert "Accepted by Ines Incoming" in page.inner_text("[data-testid=accepted-line]")
    assert page.locator("[data-testid=entry-accepted]").count() == 2
    _no_horizontal_scroll(page)
    _sign_out(page)

    # ---- someone from another team: 403 on every handover URL and on the image
    sign_in(page, emails['outsider'], TEST_PASSWORD)
    page.wait_for_url("**/")
    h_id = int(handover_url.rstrip("/").rsplit("/", 1)[1])
    thumb = image_url + "?size=thumb"
    for url in (f"/handover/{h_id}", f"/handover/{h_id}/print", f"/handover/{h_id}/patients/{p1_id}",
                f"/handover/teams/{team_id}/patients", f"/handover/patients/{p1_id}/access", image_url, thumb,
                f"/api/v1/handovers/{h_id}", f"/api/v1/handovers/{h_id}/fhir",
                f"/api/v1/teams/{team_id}/patients"):
        response = page.goto(url)
        assert response.status == 403, (url, response.status)
        assert "Test Patient" not in page.content()
    page.goto("/")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    for url in (f"/handover/{h_id}/accept", f"/handover/{h_id}/ready", f"/handover/{h_id}/patients/{p1_id}",
                f"/handover/{h_id}/patients/{p1_id}/images", f"/handover/{h_id}/patients/{p1_id}/accept",
                f"/handover/{h_id}/patients/{p1_id}/actions/0", f"/handover/patients/{p1_id}/discharge",
                f"/handover/patients/{p1_id}/move", f"/handover/teams/{team_id}/start",
                f"/handover/teams/{team_id}/patients"):
        response = page.request.post(url, form={"csrf_token": token, "location": "Bed 9"},
                                     headers={"Referer": page.url})
        assert response.status == 403, (url, response.status)


def _ward_with_one_patient():
    make = Factory()
    olu = make.user(email="olu@example.test", display_name="Olu Outgoing")
    ines = make.user(email="ines@example.test", display_name="Ines Incoming")
    team = make.team("Ward 7B", coordinators=[make.user(display_name="Cora Coordinator")], staff=[olu, ines])
    patient = patient_records.add_patient(team, olu, name="Test Patient Alpha",
                                     nhs_number=NUMBERS[0], location="Bed 1")
    h = services.start_handover(team, olu, label="Night → Early", starts_at=datetime.now(UTC), incoming_id=ines.id)
    url = f"/handover/{h.id}/patients/{patient.id}"
    ids = h.id, patient.id
    db.session.commit()
    db.session.close()  # on SQLite a transaction holds the write lock: the live server must be able to write
    return url, ids


def _current(ids) -> dict:
    """The patient's current entry as stored (read in a transaction ended at once: on SQLite it holds the lock)."""
    from handover.models import HandoverEntry

    db.session.expire_all()
    entry = db.session.scalar(db.select(HandoverEntry).where(HandoverEntry.handover_id == ids[0],
                                                             HandoverEntry.patient_id == ids[1],
                                                             HandoverEntry.current.is_(True)))
    stored = {"version": entry.version, "severity": entry.severity.value, "situation": entry.situation,
              "assessment": entry.assessment}
    db.session.commit()
    return stored


def test_stale_save_keeps_her_text_shows_theirs_and_she_merges(app, browser, live_server):
    """Issue 12: two nurses open the same patient; A escalates; B saves from the page she opened earlier."""
    url, ids = _ward_with_one_patient()
    nurses = []
    for email in ("olu@example.test", "ines@example.test"):
        context = browser.new_context(viewport=NARROW, base_url=live_server.url, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        sign_in(page, email, TEST_PASSWORD)
        page.wait_for_url("**/")
        page.goto(url)
        nurses.append((context, page))
    (ca, a), (cb, b) = nurses
    try:
        b.check("#severity-0")  # stable
        b.fill("#situation", "comfortable, nil concerns")
        a.check("#severity-2")  # unstable
        a.fill("#situation", "chest pain 10 min ago, ECG done")
        a.click("[data-testid=save-entry]")
        a.wait_for_url("**/handover/*#patient-*")
        assert "Saved (version 2)" in a.inner_text("main")

        b.click("[data-testid=save-entry]")
        b.wait_for_selector("[data-testid=conflict]")
        conflict = b.inner_text("[data-testid=conflict]")
        assert "Not saved: Olu Outgoing saved this entry at" in conflict and "(version 2)" in conflict
        assert "Your text is kept below" in conflict
        assert b.input_value("#situation") == "comfortable, nil concerns"  # hers, kept
        assert b.is_checked("#severity-0")
        assert "chest pain 10 min ago, ECG done" in b.inner_text("[data-testid=their-entry]")  # theirs, beside
        assert "chest pain 10 min ago, ECG done" in b.inner_text("[data-testid=theirs-situation]")
        assert "Unstable" in b.inner_text("[data-testid=theirs-severity]")
        _no_horizontal_scroll(b)
        # merge: add their text to hers, take their severity, save again
        b.click("[data-testid=theirs-situation] .sb-ho-merge")
        assert b.input_value("#situation") == "comfortable, nil concerns\nchest pain 10 min ago, ECG done"
        b.check("#severity-2")
        b.click("[data-testid=save-entry]")
        b.wait_for_url("**/handover/*#patient-*")
        assert "Saved (version 3)" in b.inner_text("main")
        assert _current(ids) == {"version": 3, "severity": "unstable", "assessment": "",
                                 "situation": "comfortable, nil concerns\nchest pain 10 min ago, ECG done"}
    finally:
        ca.close()
        cb.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_attach_photo_keeps_the_typed_text(app, browser, live_server, javascript):
    url, ids = _ward_with_one_patient()
    context = browser.new_context(viewport=NARROW, base_url=live_server.url, is_mobile=True, has_touch=True,
                                  java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, "olu@example.test", TEST_PASSWORD)
        page.wait_for_url("**/")
        page.goto(url)
        page.check("#severity-1")  # watcher
        page.fill("#situation", "Wound oozing since 14:00")
        page.fill("#assessment", "Possible infection")
        page.set_input_files("[data-testid=photo-input]", files=[{"name": "IMG_0007.jpg", "mimeType": "image/jpeg",
                                                                  "buffer": jpeg_with_gps()}])
        page.click("[data-testid=upload-photo]")
        page.wait_for_selector("[data-testid=photo-thumb]")
        main = page.inner_text("main")
        assert "Photo attached" in main and "not saved yet" in main
        assert page.input_value("#situation") == "Wound oozing since 14:00"
        assert page.input_value("#assessment") == "Possible infection"
        assert page.is_checked("#severity-1")
        assert _current(ids)["situation"] == ""  # nothing saved behind her back
        page.click("[data-testid=save-entry]")
        page.wait_for_url("**/handover/*#patient-*")
        assert _current(ids) == {"version": 2, "severity": "watcher", "situation": "Wound oozing since 14:00",
                                 "assessment": "Possible infection"}
    finally:
        context.close()
