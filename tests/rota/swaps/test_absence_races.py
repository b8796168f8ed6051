"""Double taps and two coordinators at once, as real concurrent requests (run on PostgreSQL with
TEST_DATABASE_URL): one absence, one request for cover — never two, never a 500."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from core.db import db
from notifications.models import Broadcast
from rota.models import Leave, ShiftState
from rota.swaps.absence_models import ShiftAbsence
from tests.conftest import TEST_PASSWORD
from tests.rota.swaps import factories as data
from tests.rota.swaps.test_absence import _night, _shift


def _signed_in(base_url: str, email: str) -> requests.Session:
    s = requests.Session()
    r = s.post(base_url + "/auth/login", data={"email": email, "password": TEST_PASSWORD}, allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    return s


def _together(base_url: str, calls: list[tuple[requests.Session, str, dict]]) -> list[int]:
    db.session.commit()  # end the test's own transaction (SQLite: it would hold the write lock)
    barrier = threading.Barrier(len(calls))

    def one(call):
        session, path, form = call
        barrier.wait()
        return session.post(base_url + path, data=form, allow_redirects=False, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return sorted(pool.map(one, calls))


def test_a_double_tap_on_sick_records_one_absence(live_server, make):
    w, s = _night(make)
    email, shift_id = w.staff[0].email, s.id
    db.session.commit()
    tabs = [_signed_in(live_server.url, email) for _ in range(4)]
    codes = _together(live_server.url, [(t, f"/shifts/{shift_id}/cant-make-it", {"reason": "sick"}) for t in tabs])
    assert codes == [302, 422, 422, 422], codes
    assert db.session.scalar(select(func.count()).select_from(ShiftAbsence)) == 1
    assert db.session.scalar(select(func.count()).select_from(Leave)) == 1
    assert _shift(shift_id).state == ShiftState.open


def test_two_coordinators_asking_for_cover_at_once_send_one_request(live_server, make):
    w, s = _night(make)
    second = make.user(display_name="Second Coordinator", grade="Band 7")
    from core import accounts
    from core.accounts import TeamRole

    accounts.add_member(w.team, second, TeamRole.coordinator)
    gap = data.shift(w.team, starts_at=s.starts_at, hours=12, stype=data.night(w.team))
    emails, gap_id = [w.coordinator.email, second.email], gap.id
    db.session.commit()
    sessions = [_signed_in(live_server.url, e) for e in emails for _ in range(2)]
    codes = _together(live_server.url, [(x, f"/shifts/{gap_id}/ask-cover", {}) for x in sessions])
    assert codes == [302] * 4, codes  # each lands on a page: the report, or Home saying it was already asked
    assert db.session.scalar(select(func.count()).select_from(Broadcast)) == 1
