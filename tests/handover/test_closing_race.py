"""Issue 12, item 1 (review): a save made while the next handover is being started is never lost.

Starting the next handover copies each patient's current entry from the previous one and closes it. A save to the
previous handover either happens before the copy (and is carried over) or is refused, naming who started the next
one, with the typed text kept. ``start_handover`` locks the previous handover's row and ``save_entry`` locks its
handover's row before checking that it is still open (PostgreSQL: SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE
already lets one writer in at a time).
"""

from __future__ import annotations

import html as htmlmod
import threading
import time

import pytest
from sqlalchemy import event, select, text

from core.accounts import Team, User
from core.db import db
from handover import services
from handover.models import Handover, HandoverEntry, Patient
from tests.conftest import login
from tests.handover.browserless import submit, value
from tests.handover.conftest import add_patients, start

ESCALATION = {"severity": "unstable", "situation": "chest pain 10 min ago, ECG done"}
LATER = "Early → Late"


def _text(resp) -> str:
    return htmlmod.unescape(resp.get_data(as_text=True))


def _carried(later_id: int, patient_id: int) -> HandoverEntry:
    db.session.expire_all()
    return services.current_entries(db.session.get(Handover, later_id))[patient_id]


def _start_elsewhere(app, ward, label=LATER) -> int:
    """Another person's request: its own application context and database session, committed."""
    team_id, user_id = ward.team.id, ward.incoming.id
    db.session.commit()  # this test's transaction ends first (on SQLite a transaction holds the write lock)
    with app.app_context():
        team = db.session.get(Team, team_id)
        later = services.start_handover(team, db.session.get(User, user_id), label=label,
                                        starts_at=services.latest_handover(team).starts_at)
        db.session.commit()
        later_id = later.id
        db.session.remove()
    return later_id


def test_a_save_to_a_handover_closed_meanwhile_is_refused_naming_who_started_the_next(app, ward):
    """Deterministic stale-state test: the handover was loaded (open) before someone else started the next one."""
    p, = add_patients(ward, 1)
    h = start(ward)
    assert not services.is_closed(h)  # what the editor's request saw
    later_id = _start_elsewhere(app, ward)
    with pytest.raises(services.HandoverClosed) as refused:
        services.save_entry(h, p, ward.outgoing, ESCALATION, base_version=1)
    message = refused.value.detail
    assert message.startswith("Not saved: this handover was closed when Ines Incoming started the next one")
    assert f"({LATER})" in message and "Your text is kept: save it in the new handover." in message
    assert refused.value.status == 409 and refused.value.extra["next_handover_id"] == later_id
    db.session.rollback()
    assert [v.situation for v in services.entry_versions(h, p.id)] == [""]  # nothing written in the closed one


def test_api_save_to_a_closed_handover_is_a_409_pointing_at_the_new_one(client, ward, make, bearer):
    p, = add_patients(ward, 1)
    h = start(ward)
    later = start(ward, label=LATER)
    resp = client.put(f"/api/v1/handovers/{h.id}/entries/{p.id}", json={"base_version": 1, **ESCALATION},
                      headers=bearer(make.token(ward.outgoing)))
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    assert resp.json["next_handover_id"] == later.id
    assert "started the next one" in resp.json["detail"] and "save it in the new handover" in resp.json["detail"]


def _opened_then_closed(app, ward):
    """The outgoing nurse opens a patient while the handover is open; meanwhile someone starts the next one.
    (patient, her client, the page's URL, the page as she has it, the new handover's id)"""
    p, = add_patients(ward, 1)
    h = start(ward)
    nurse = app.test_client()
    login(nurse, ward.outgoing)
    url = f"/handover/{h.id}/patients/{p.id}"
    page = _text(nurse.get(url))
    return p, nurse, url, page, _start_elsewhere(app, ward)


def test_on_the_page_her_text_is_kept_and_she_is_sent_to_the_new_handover(app, ward):
    p, nurse, url, page, later_id = _opened_then_closed(app, ward)
    resp = submit(nurse, url, page, "save-entry", ESCALATION)
    assert resp.status_code == 409
    body = _text(resp)
    assert "Not saved: this handover was closed when Ines Incoming started the next one" in body
    assert "Your text is kept: save it in the new handover." in body
    assert value(body, "situation") == ESCALATION["situation"]  # her text, still on the page
    assert _carried(later_id, p.id).situation == ""
    # one button takes her text to the same patient in the new handover: in the editor there, not yet saved
    moved = submit(nurse, url, body, "carry-text")
    assert moved.status_code == 200
    there = _text(moved)
    assert "Early → Late" in there and "not saved yet" in there
    assert value(there, "situation") == ESCALATION["situation"]
    saved = submit(nurse, f"/handover/{later_id}/patients/{p.id}", there, "save-entry")
    assert saved.status_code == 302
    entry = _carried(later_id, p.id)
    assert (entry.version, entry.severity.value, entry.situation) == (2, "unstable", ESCALATION["situation"])


def test_text_taken_to_the_new_handover_is_merged_not_overwritten_if_it_changed_there(app, ward):
    """If someone has already saved the patient in the new handover, her text is shown beside theirs to merge."""
    p, nurse, url, page, later_id = _opened_then_closed(app, ward)
    later = db.session.get(Handover, later_id)
    services.save_entry(later, p, ward.incoming, {"severity": "watcher", "situation": "seen by SpR"}, base_version=1)
    db.session.commit()
    body = _text(submit(nurse, url, page, "save-entry", ESCALATION))
    there = _text(submit(nurse, url, body, "carry-text"))
    resp = submit(nurse, f"/handover/{later_id}/patients/{p.id}", there, "save-entry")
    assert resp.status_code == 409
    merge = _text(resp)
    assert "Not saved: Ines Incoming saved this entry" in merge and "seen by SpR" in merge
    assert value(merge, "situation") == ESCALATION["situation"]
    assert _carried(later_id, p.id).situation == "seen by SpR"


# ----------------------------------------------------------------------------------- truly concurrent (PostgreSQL)


class Interleave:
    """Pauses one named thread at its first statement matching ``prefix`` until the other thread has finished or is
    waiting for a row lock (PostgreSQL's pg_locks says so): the interleaving the review described, made to happen
    every time rather than by chance."""

    def __init__(self, paused: str, prefix: str):
        self.paused, self.prefix = paused, prefix
        self.reached, self.other_done = threading.Event(), threading.Event()
        self.other_pid = None
        self.other_waited = False
        self._fired = False

    def listener(self, conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name != self.paused or self._fired or not statement.startswith(self.prefix):
            return
        self._fired = True
        self.reached.set()
        for _ in range(6000):  # a safety net, never an assertion: 60 s
            if self.other_done.is_set():
                return
            if self.other_pid is not None:
                with db.engine.connect() as probe:
                    if probe.scalar(text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted"),
                                    {"pid": self.other_pid}):
                        self.other_waited = True
                        return
            time.sleep(0.01)


def _run(app, name: str, work, results: dict, interleave: Interleave | None = None):
    def body():
        with app.app_context():
            try:
                pid = db.session.scalar(text("SELECT pg_backend_pid()"))
                if interleave is not None:
                    interleave.other_pid = pid
                results[name] = work()
                db.session.commit()
            except services.Conflict as exc:
                db.session.rollback()
                results[name] = exc
            finally:
                if interleave is not None:
                    interleave.other_done.set()
                db.session.remove()

    thread = threading.Thread(target=body, name=name)
    thread.start()
    return thread


def _save(ward, h_id, p_id):
    def work():
        h, p = db.session.get(Handover, h_id), db.session.get(Patient, p_id)
        return services.save_entry(h, p, db.session.get(User, ward.outgoing.id), ESCALATION, base_version=1).version
    return work


def _start_next(ward):
    def work():
        team = db.session.get(Team, ward.team.id)
        return services.start_handover(team, db.session.get(User, ward.incoming.id), label=LATER,
                                       starts_at=services.latest_handover(team).starts_at).id
    return work


@pytest.mark.parametrize("first", ["save", "start"])
def test_a_save_racing_the_start_of_the_next_handover_is_carried_over_or_refused_never_lost(app, ward, engine_name,
                                                                                            first):
    """``first`` = save: her save has locked the handover and is about to write when the next one is started.
    ``first`` = start: the next handover has copied the entries and is about to write when she saves."""
    if engine_name != "postgresql":
        pytest.skip("truly concurrent transactions: PostgreSQL (SQLite lets one writer in at a time)")
    p, = add_patients(ward, 1)
    h = start(ward)
    db.session.commit()
    results: dict = {}
    if first == "save":
        gate = Interleave("save", "UPDATE handover_entries")
        event.listen(db.engine, "before_cursor_execute", gate.listener)
        try:
            saver = _run(app, "save", _save(ward, h.id, p.id), results)
            assert gate.reached.wait(60)
            starter = _run(app, "start", _start_next(ward), results, interleave=gate)
            saver.join(90), starter.join(90)
        finally:
            event.remove(db.engine, "before_cursor_execute", gate.listener)
    else:
        gate = Interleave("start", "INSERT INTO handover_entries")
        event.listen(db.engine, "before_cursor_execute", gate.listener)
        try:
            starter = _run(app, "start", _start_next(ward), results)
            assert gate.reached.wait(60)
            saver = _run(app, "save", _save(ward, h.id, p.id), results, interleave=gate)
            starter.join(90), saver.join(90)
        finally:
            event.remove(db.engine, "before_cursor_execute", gate.listener)
    later_id = results["start"]
    assert isinstance(later_id, int), results
    carried = _carried(later_id, p.id)
    if isinstance(results["save"], services.Conflict):  # refused: nothing written in the closed handover
        assert "started the next one" in results["save"].detail
        assert [v.version for v in services.entry_versions(db.session.get(Handover, h.id), p.id)] == [1]
    else:  # saved: the new handover carries her escalation
        assert results["save"] == 2
        assert (carried.severity.value, carried.situation) == ("unstable", ESCALATION["situation"])
    # which way it went is decided by the lock: the other transaction waited for it
    assert gate.other_waited, "the second transaction did not wait for the handover's row lock"
    assert (first == "save") == (results["save"] == 2)


def test_two_people_starting_the_next_handover_at_once_make_one(app, ward, engine_name):
    """The same lock: a second start made from the same previous handover is refused (it would copy entries from a
    handover that is no longer the latest)."""
    if engine_name != "postgresql":
        pytest.skip("truly concurrent transactions: PostgreSQL")
    add_patients(ward, 1)
    start(ward)
    results: dict = {}
    gate = Interleave("one", "INSERT INTO handover_entries")
    event.listen(db.engine, "before_cursor_execute", gate.listener)
    try:
        one = _run(app, "one", _start_next(ward), results)
        assert gate.reached.wait(60)
        two = _run(app, "two", _start_next(ward), results, interleave=gate)
        one.join(90), two.join(90)
    finally:
        event.remove(db.engine, "before_cursor_execute", gate.listener)
    assert isinstance(results["one"], int) and isinstance(results["two"], services.Conflict), results
    assert "has just started the next handover" in results["two"].detail
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count(Handover.id))) == 2


def test_an_action_cannot_be_ticked_off_in_a_closed_handover(app, ward):
    """Same class: a write to a closed handover the new one never sees. An action ticked off there would still be
    outstanding in the new handover (and done twice). Refused, with the way to the new handover; the page shows no
    tick buttons once the handover is closed."""
    p, = add_patients(ward, 1)
    h = start(ward)
    services.save_entry(h, p, ward.outgoing, {"severity": "watcher", "actions": [{"text": "IV furosemide 40 mg"}]},
                        base_version=1)
    db.session.commit()
    entry = services.current_entries(h)[p.id]
    later_id = _start_elsewhere(app, ward)
    with pytest.raises(services.HandoverClosed) as refused:
        services.set_action_done(entry, 0, ward.outgoing, True)
    assert refused.value.extra["next_handover_id"] == later_id and refused.value.detail.startswith("Not done: ")
    db.session.rollback()
    assert services.current_entries(db.session.get(Handover, h.id))[p.id].action_status == {}
    nurse = app.test_client()
    login(nurse, ward.outgoing)
    page = _text(nurse.get(f"/handover/{h.id}/patients/{p.id}"))
    assert "IV furosemide 40 mg" in page and 'data-testid="action-toggle"' not in page
    resp = nurse.post(f"/handover/{h.id}/patients/{p.id}/actions/0", data={"csrf_token": _csrf(page)})
    assert resp.status_code == 302
    followed = _text(nurse.get(resp.headers["Location"]))
    assert "Not done: this handover was closed when Ines Incoming started the next one" in followed
    assert "Tick the action off in the new handover." in followed
    assert _carried(later_id, p.id).actions == [{"text": "IV furosemide 40 mg", "owner": None, "due_at": None}]
    assert services.current_entries(db.session.get(Handover, h.id))[p.id].action_status == {}


def _csrf(page: str) -> str:
    return value(page, "csrf_token")
