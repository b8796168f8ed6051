"""Issue #13 item 11: every page, API call, photo and export that can show patient-identifiable data is sent with
``Cache-Control: no-store`` so that it stays in no browser, proxy or shared-computer cache.

The walk covers every URL rule served by the handover package (so a new handover page cannot forget it) plus the
other pages listed in ``OTHER_PAGES``; each is requested with real ids by a coordinator of the team, with every
method the rule allows."""

from __future__ import annotations

import re

from tests.conftest import login
from tests.handover.conftest import add_patients, handover_with_photo, start

# Outside the handover package: the audit trail (who viewed which patient's handover, by patient id).
OTHER_PAGES = {"web.audit_log", "web.audit_csv"}


def _rules(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if view.__module__.startswith("handover.") or rule.endpoint in OTHER_PAGES:
            yield rule


def _url(rule, values) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def test_every_page_showing_patient_data_is_sent_no_store(app, client, ward):
    patient, h, image = handover_with_photo(ward)
    values = {"team_id": ward.team.id, "patient_id": patient.id, "handover_id": h.id, "image_id": image.id,
              "index": 0}
    rules = list(_rules(app))
    endpoints = {r.endpoint for r in rules}
    assert len(endpoints) >= 26 and {"handover.patients", "handover.print_sheet", "handover.image", "web.audit_log",
                                     "handover.access_report", "handover_api.export_fhir"} <= endpoints
    login(client, ward.coordinator)
    missing = []
    # every GET first (each must be the real page, 200), then the changes, whose replies (form errors, JSON of the
    # changed entry, redirects) are checked too
    calls = sorted(((m, _url(r, values), r.endpoint) for r in rules for m in r.methods - {"HEAD", "OPTIONS"}),
                   key=lambda c: (c[0] != "GET", c[1]))
    for method, url, endpoint in calls:
        if url.startswith("/api/"):
            resp = client.open(url, method=method, json={})
        else:
            resp = client.open(url, method=method, data={})
        if method == "GET":
            assert resp.status_code == 200, (url, resp.status_code)
        assert resp.status_code < 500, (method, url, resp.status_code)
        if resp.headers.get("Cache-Control") != "no-store":
            missing.append(f"{method} {url} ({endpoint}): {resp.headers.get('Cache-Control')!r}")
    assert not missing, "\n".join(missing)


def test_refusals_on_a_handover_page_are_no_store_too(app, client, ward):
    patient, = add_patients(ward, 1)
    h = start(ward)
    login(client, ward.outsider)
    resp = client.get(f"/handover/{h.id}")
    assert resp.status_code == 403 and resp.headers.get("Cache-Control") == "no-store"
