"""Per-team change stamps of what calendar feeds show (issue #22): one hook on the ORM session, not calls scattered
through the services.

Every flush that adds, changes or deletes a row a team feed (or a personal feed) shows moves the stamp of each team
concerned on by one (``calendar_feed_stamps``), in the same transaction, so a feed's validator is read from those
rows alone (``rota.feeds.fetch.find_feed``) and a calendar polling an unchanged feed gets 304 without its shifts
being read. What moves a team's stamp:

* a shift of the team (created, edited, assigned, cancelled, deleted; its old team too when it moves), a release
  of one of its shifts and a gap opening (the requirement an open shift was opened for);
* a rota period of the team (publication), one of its shift types, one of its staffing requirements, the team
  itself (name, site, zone), its feed setting (staff may subscribe), a membership in it;
* a person's leave, a person's name (team feeds show who works each shift), staff group, grade or skills (who counts
  towards a requirement), or their removal: every team they belong to or hold a shift in.

The cover of each slot (a shift type on a day: its requirements, who holds it, its open places) is kept under these
stamps too (``team_stamps``, through ``rota.cover.TEAM_STAMPS``; ``tests/rota/swaps/test_open_shift_cover_kept.py``).

The grid's working-time markers are kept under these stamps too (``people_stamps``, through
``rota.services.PEOPLE_STAMPS``; ``rota.compliance.team_report.grid_verdicts``): a write that can change a verdict —
a person's shift in any team, their leave, a shift type, a team's zone — must keep moving a stamp
(``tests/rota/compliance/test_grid_marker_cache.py``).

Bulk statements through the session (``session.execute(update(Shift)...)``, ``insert(Shift)`` with rows) are seen
too (``do_orm_execute``): the teams of the rows they match are stamped. Only SQL sent past the session (a raw
connection) goes unseen; nothing in the application does that for these tables.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Table, bindparam, event, inspect, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.accounts import Membership, Team, User
from core.db import db, now_utc
from rota.feeds.models import FeedStamp, TeamFeedSetting
from rota.models import GapOpening, Leave, RotaPeriod, Shift, ShiftRelease, ShiftType, StaffingRequirement

_TEAM_COLUMN = {Shift: "team_id", RotaPeriod: "team_id", ShiftType: "team_id", Membership: "team_id",
                TeamFeedSetting: "team_id", Team: "id", StaffingRequirement: "team_id"}
_PERSON_COLUMN = {Leave: "user_id", User: "id"}
_SHIFT_COLUMN = {ShiftRelease: "shift_id", GapOpening: "shift_id"}  # rows of a shift: its team's stamp
TRACKED = (*_TEAM_COLUMN, *_PERSON_COLUMN, *_SHIFT_COLUMN)
_PERSON_SHOWN = ("display_name", "staff_group", "grade", "skills")  # what feeds and cover read of a person
_PENDING = "calendar_feed_stamp_teams"


def _values(obj, name: str) -> set:
    """The attribute's current value and, for a changed row, the value it had (a shift moved between teams)."""
    history = inspect(obj).attrs[name].history
    current = getattr(obj, name)  # loads it if expired (a row read, then committed, then changed or deleted)
    return {v for v in (current, *history.deleted) if v is not None}


def _person_teams(conn, user_ids: set[int]) -> set[int]:
    if not user_ids:
        return set()
    return set(conn.scalars(union(select(Membership.team_id).where(Membership.user_id.in_(user_ids)),
                                  select(Shift.team_id).where(Shift.assignee_id.in_(user_ids)))))


def people_stamps(user_ids, lo, hi) -> tuple:
    """The change stamps of the teams whose writes can change what the rules engine sees of these people between
    ``lo`` and ``hi``: every team they belong to (a leave booking or a change of a person moves those) and every team
    they hold a shift in that starts in [lo, hi) (a shift that moves in or out of that span moves its team's stamp
    and changes this list). ``rota.services.PEOPLE_STAMPS`` hook: the grid's markers are kept under it."""
    return tuple(tuple(r) for r in db.session.execute(_people_stamps(), {"ids": list(user_ids), "lo": lo, "hi": hi}))


@cache
def _people_stamps():
    """Built once per process (building it cost as much as running it)."""
    ids = bindparam("ids", expanding=True)
    teams = union(select(Membership.team_id.label("team_id")).where(Membership.user_id.in_(ids)),
                  select(Shift.team_id).where(Shift.assignee_id.in_(ids), Shift.starts_at >= bindparam("lo"),
                                              Shift.starts_at < bindparam("hi"))).subquery()
    return (select(teams.c.team_id, FeedStamp.version).outerjoin(FeedStamp, FeedStamp.team_id == teams.c.team_id)
            .order_by(teams.c.team_id))


def team_stamps(team_ids, known: dict | None = None) -> dict | None:
    """Team id -> (version, time of the last change) of the teams that have a stamp. None while this session holds
    writes not yet committed, whose stamps move only at the commit: nothing it reads may be kept under the stamps
    it would read now. ``known``: the stamps the caller read with its own rows (``with_team_stamps``), before what
    is to be kept under them: used instead of reading them again. ``rota.cover.TEAM_STAMPS`` hook: each slot's
    cover is kept under its team's stamp."""
    session = db.session()
    if session.new or session.dirty or session.deleted or session.info.get(_PENDING):
        return None
    if known is not None:
        return {team_id: known[team_id] for team_id in team_ids if team_id in known}
    return {team_id: (version, changed_at) for team_id, version, changed_at
            in session.execute(_team_stamps(), {"ids": sorted(team_ids)})}


def with_team_stamps(stmt, team_id):
    """``stmt`` with the stamp of the team that ``team_id`` (a column of it) names as two more columns, its version
    and time of the last change (None for a team with none yet), read in the same statement: the stamps
    ``team_stamps(..., known=...)`` is given. ``rota.cover.TEAM_STAMP_JOIN`` hook."""
    return stmt.outerjoin(FeedStamp, FeedStamp.team_id == team_id).add_columns(FeedStamp.version, FeedStamp.changed_at)


@cache
def _team_stamps():
    return select(FeedStamp.team_id, FeedStamp.version, FeedStamp.changed_at).where(
        FeedStamp.team_id.in_(bindparam("ids", expanding=True)))


def _release_teams(conn, shift_ids: set[int]) -> set[int]:
    if not shift_ids:
        return set()
    return set(conn.scalars(select(Shift.team_id).where(Shift.id.in_(shift_ids))))


def _object_teams(session: Session, objects) -> set[int]:
    teams, people, shifts = set(), set(), set()
    for obj in objects:
        kind = type(obj)
        if kind in _TEAM_COLUMN:
            teams |= _values(obj, _TEAM_COLUMN[kind])
        elif kind is User:
            attrs = inspect(obj).attrs
            if obj in session.deleted or any(attrs[name].history.has_changes() for name in _PERSON_SHOWN):
                people |= _values(obj, "id")
        elif kind is Leave:
            people |= _values(obj, "user_id")
            teams |= _values(obj, "team_id")
        elif kind in _SHIFT_COLUMN:
            shifts |= _values(obj, _SHIFT_COLUMN[kind])
    if people or shifts:
        conn = session.connection()
        teams |= _person_teams(conn, people) | _release_teams(conn, shifts)
    return teams


def _note(session: Session, teams) -> None:
    session.info.setdefault(_PENDING, set()).update(t for t in teams if t is not None)


def bump(session: Session, team_ids) -> None:
    """Move the stamps of ``team_ids`` on by one, in the session's transaction (rows are created on first use)."""
    team_ids = sorted({int(t) for t in team_ids if t is not None})  # one lock order everywhere: no deadlock
    if not team_ids:
        return
    conn = session.connection()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    table: Table = FeedStamp.__table__
    now = now_utc()
    stmt = dialect.insert(table).values([{"team_id": t, "version": 1, "changed_at": now} for t in team_ids])
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.team_id],
                                      set_={"version": table.c.version + 1, "changed_at": now})
    conn.execute(stmt)


@event.listens_for(Session, "before_flush")
def _before_flush(session, flush_context, instances) -> None:
    # Changed and deleted rows are read now, while the rows they point to (a deleted person's memberships) exist.
    dirty = [o for o in session.deleted if isinstance(o, TRACKED)] + [
        o for o in session.dirty if isinstance(o, TRACKED) and session.is_modified(o, include_collections=False)]
    if dirty:
        _note(session, _object_teams(session, dirty))


@event.listens_for(Session, "after_flush")
def _after_flush(session, flush_context) -> None:
    # New rows are read now, when their keys (a shift's team set through a relationship) are known.
    new = [o for o in session.new if isinstance(o, TRACKED) and not isinstance(o, User)]
    if new:
        _note(session, _object_teams(session, new))


@event.listens_for(Session, "before_commit")
def _before_commit(session) -> None:
    """The stamps are written last, just before the commit (after its final flush), in team order: a transaction
    holds their row locks only while it commits, after every other lock it takes, so no two writers deadlock. A
    savepoint's release is not the commit: what it changed is stamped when the transaction commits."""
    if session.in_nested_transaction():
        return
    if session.new or session.dirty or session.deleted:
        session.flush()
    teams = session.info.pop(_PENDING, None)
    if teams:
        bump(session, teams)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session, transaction) -> None:
    if transaction.parent is None:  # the end of the outermost transaction: a rollback forgets what it noted
        session.info.pop(_PENDING, None)


@event.listens_for(Session, "do_orm_execute")
def _bulk(state):
    """``session.execute(update(Shift)...)`` and friends: note the teams of the rows the statement matches (read
    before it runs, as a delete leaves nothing to read after)."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    mapper = state.bind_mapper
    kind = mapper.class_ if mapper is not None else None
    if kind not in TRACKED:
        return None
    session, stmt = state.session, state.statement
    conn = session.connection()
    teams: set[int] = set()
    if state.is_insert:
        rows = state.parameters if isinstance(state.parameters, list) else [state.parameters or {}]
        if not any(rows):  # insert(...).values(...): the values are in the statement, not worth digging out
            teams |= set(conn.scalars(select(Team.id)))
        for row in rows:
            if kind in _TEAM_COLUMN:
                teams.add(row.get(_TEAM_COLUMN[kind]))
            elif kind in _SHIFT_COLUMN:
                teams |= _release_teams(conn, {row.get(_SHIFT_COLUMN[kind])} - {None})
            else:
                teams |= _person_teams(conn, {row.get(_PERSON_COLUMN[kind])} - {None})
                teams.add(row.get("team_id"))
    else:
        where = [stmt.whereclause] if stmt.whereclause is not None else []
        table = mapper.local_table
        if kind in _TEAM_COLUMN:
            teams |= set(conn.scalars(select(table.c[_TEAM_COLUMN[kind]]).where(*where)))
        elif kind in _SHIFT_COLUMN:
            teams |= set(conn.scalars(select(Shift.team_id).where(
                Shift.id.in_(select(table.c[_SHIFT_COLUMN[kind]]).where(*where)))))
        else:
            teams |= _person_teams(conn, set(conn.scalars(select(table.c[_PERSON_COLUMN[kind]]).where(*where))))
    _note(session, teams)
    return None
