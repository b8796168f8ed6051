"""Handover: a 30-patient handover where every entry has 3 versions. Page render and API read must use the same
number of queries as a 3-patient handover (no N+1); FHIR export time (and the time to validate it with
fhir.resources' R4B models, which the test suite does).

Database: ``BENCH_DATABASE_URL`` (wiped) if set, else a temporary SQLite file. Prints figures measured in this run.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, text

from bench.common import database_url, timed

PASSWORD = "correct horse battery"
ROUNDS = 20


def _database_url() -> str:
    return database_url("bench-handover-")


def _handover(team, outgoing, incoming, patients, starts_at, versions=3):
    from core.db import db
    from handover import acceptance, services

    h = services.start_handover(team, outgoing, label="Night → Early", starts_at=starts_at, incoming_id=incoming.id)
    for v in range(1, versions + 1):
        for p in patients:
            services.save_entry(h, p, outgoing, {
                "severity": ["stable", "watcher", "unstable"][p.id % 3],
                "situation": f"Situation v{v}: " + "observations stable, " * 8,
                "background": "Background " * 20, "assessment": "Assessment " * 15,
                "recommendation": "Recommendation " * 10, "contingency": "If NEWS2 ≥ 5 then call the SpR",
                "actions": [{"text": f"Action {i}", "owner": "FY1", "due_at": starts_at + timedelta(hours=i)}
                            for i in range(3)]}, base_version=v)  # every save is a version: v before it
        if v < versions:
            acceptance.accept(h, incoming, readback_note=f"read back v{v}", confirm_off_rota=True)
    db.session.commit()
    return h


def _count(engine, fn) -> int:
    n = 0

    def before(*args, **kwargs):
        nonlocal n
        n += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return n


def _median_ms(fn, rounds=ROUNDS) -> float:
    return timed(fn, rounds)[0]


def main() -> None:
    from app import create_app
    from core import accounts, nhs
    from core.accounts import TeamRole
    from core.db import db
    from handover import fhir, patient_records, services
    from handover.payload import load_sheet

    url = _database_url()
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False, "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://",
                      "HANDOVER_UPLOAD_DIR": tempfile.mkdtemp(prefix="bench-handover-img-")})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(revision="heads")
        outgoing = accounts.create_user(email="out@example.test", display_name="Olu Outgoing", password=PASSWORD)
        incoming = accounts.create_user(email="in@example.test", display_name="Ines Incoming", password=PASSWORD)
        small_team = accounts.create_team(name="Ward small")
        big_team = accounts.create_team(name="Ward 7B")
        for team in (small_team, big_team):
            accounts.add_member(team, outgoing, TeamRole.staff)
            accounts.add_member(team, incoming, TeamRole.staff)
        _, token = accounts.create_token(incoming, "bench")
        numbers = nhs.test_numbers(33)
        small = [patient_records.add_patient(small_team, outgoing, name=f"Test Patient {i}", nhs_number=next(numbers),
                                      location=f"Bed {i}") for i in range(3)]
        big = [patient_records.add_patient(big_team, outgoing, name=f"Test Patient {i}", nhs_number=next(numbers),
                                    location=f"Bed {i}") for i in range(30)]
        db.session.commit()
        when = datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
        t0 = time.perf_counter()
        h_small = _handover(small_team, outgoing, incoming, small, when)
        h_big = _handover(big_team, outgoing, incoming, big, when)
        build_s = time.perf_counter() - t0
        small_id, big_id = h_small.id, h_big.id
        db.session.commit()

        client = app.test_client()
        assert client.post("/auth/login", data={"email": "in@example.test", "password": PASSWORD}).status_code == 302
        api = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        engine = db.engine

        def page(hid):
            resp = client.get(f"/handover/{hid}")
            assert resp.status_code == 200, resp.status_code

        def read(hid):
            resp = api.get(f"/api/v1/handovers/{hid}", headers=headers)
            assert resp.status_code == 200, resp.status_code

        def export(hid):
            resp = api.get(f"/api/v1/handovers/{hid}/fhir", headers=headers)
            assert resp.status_code == 200, resp.status_code
            return resp.get_json()

        q_page = (_count(engine, lambda: page(small_id)), _count(engine, lambda: page(big_id)))
        q_api = (_count(engine, lambda: read(small_id)), _count(engine, lambda: read(big_id)))
        q_fhir = (_count(engine, lambda: export(small_id)), _count(engine, lambda: export(big_id)))
        page_ms = _median_ms(lambda: page(big_id))
        api_ms = _median_ms(lambda: read(big_id))
        fhir_http_ms = _median_ms(lambda: export(big_id))
        h_big = services.get_handover(big_id)
        sheet = load_sheet(h_big)
        pure_ms = _median_ms(lambda: fhir.export_bundle(sheet))
        bundle = export(big_id)
        from fhir.resources.R4B.bundle import Bundle

        validate_ms = _median_ms(lambda: Bundle.model_validate(bundle), rounds=5)
        versions = db.session.scalar(text("SELECT count(*) FROM handover_entries WHERE handover_id = :h"),
                                     {"h": big_id})
        engine_name = engine.dialect.name
        db.session.remove()
        engine.dispose()

    print(f"engine: {engine_name}; 30 patients x 3 versions = {versions} entry rows "
          f"({len(bundle['entry'])} FHIR resources); built in {build_s:.1f} s")
    print(f"queries, 3 vs 30 patients: page {q_page[0]} vs {q_page[1]}, API read {q_api[0]} vs {q_api[1]}, "
          f"FHIR export {q_fhir[0]} vs {q_fhir[1]}  -> constant: {q_page[0] == q_page[1] and q_api[0] == q_api[1]}")
    print(f"median of {ROUNDS}: handover page {page_ms:.1f} ms, API read {api_ms:.1f} ms, "
          f"FHIR export over HTTP {fhir_http_ms:.1f} ms (building the bundle alone {pure_ms:.2f} ms)")
    print(f"validating the exported bundle with fhir.resources R4B: {validate_ms:.1f} ms (median of 5)")


if __name__ == "__main__":
    main()
