"""Home page, health check, NHS.UK asset route and the audit log pages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import redis
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, has_request_context, render_template, request, send_from_directory
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select, text
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from core import accounts, audit, audit_trail, registry, timeutil
from core.accounts import Team, User
from core.db import db
from core.limits import FIRST_YEAR, LAST_YEAR
from core.links import local_path
from core.security import no_store

bp = Blueprint("web", __name__)

# Packages add header links: (order, label, endpoint, predicate(user) -> bool).
NAV_ITEMS = "nav_items"
# Menu items ordered at or after this go under "More" on a wide screen (the header is one row at 1366 px); a phone's
# menu lists them all.
NAV_MORE_FROM = 50
# Packages add /healthz checks: (name, fn() -> (ok, detail)); a failing one makes the status "degraded" (still 200:
# the web process itself is fine), e.g. notifications' "worker" (no heartbeat lately).
HEALTH_CHECKS = "health_checks"


def as_choices(pairs) -> list[SelectChoice]:
    """``(value, label)`` pairs as wtforms ``SelectChoice`` objects (tuples are deprecated in wtforms 3.3 and go in
    3.4). Every select and radio field's choices pass through here."""
    return [p if isinstance(p, SelectChoice) else SelectChoice(p[0], p[1]) for p in pairs]


def add_nav_item(app, order: int, label: str, endpoint: str, predicate=lambda user: True) -> None:
    app.extensions.setdefault(NAV_ITEMS, []).append((order, label, endpoint, predicate))


bp.add_app_template_filter(local_path, "local_path")  # templates link to a stored, user-supplied path only if safe


def viewer_zone() -> str:
    """The zone a person reads times in: their first team's (by name), else the service's default zone."""
    if current_user.is_authenticated and current_user.memberships:
        return min(current_user.memberships, key=lambda m: m.team.name).team.timezone
    return current_app.config.get("DEFAULT_TIMEZONE") or timeutil.DEFAULT_ZONE


@bp.app_template_filter("local_time")
def local_time(value, team=None, fmt: str = "%a %d %b %H:%M", name_zone: bool = True) -> str:
    """``{{ shift.starts_at | local_time(team) }}``: a stored UTC instant in the team's zone (a Team, or a zone name;
    the reader's own zone when none is given), with the zone named ('Sun 25 Oct 01:30 GMT')."""
    if value is None:
        return ""
    tz = getattr(team, "timezone", team) or viewer_zone()
    return timeutil.format_local(value, tz, fmt, name_zone=name_zone)


@bp.record_once
def _page_urls_built_once(state) -> None:
    """Templates' ``url_for`` for an address that names no record (a page, the menu, a static file): the same on
    every request from the same mount point, so built once per process rather than some thirty times per page.
    Anything with other values (ids, queries, ``_external``) is built as before."""
    app = state.app
    build, built = app.url_for, {}

    def url_for(endpoint: str, **values) -> str:
        if endpoint.startswith(".") or not values.keys() <= {"filename"} or not has_request_context():
            return build(endpoint, **values)
        key = (request.script_root, endpoint, values.get("filename"))
        url = built.get(key)
        if url is None:
            url = built[key] = build(endpoint, **values)
        return url

    app.jinja_env.globals["url_for"] = url_for


@bp.app_context_processor
def _navigation():
    if not current_user.is_authenticated:
        return {"nav_items": [], "nav_more": []}
    # The menu names every team of theirs: read with the memberships, not a query per team.
    accounts.load_membership_teams(current_user._get_current_object())
    items = [i for i in sorted(current_app.extensions.get(NAV_ITEMS, []), key=lambda i: i[0]) if i[3](current_user)]
    return {"nav_items": [(label, endpoint) for order, label, endpoint, _ in items if order < NAV_MORE_FROM],
            "nav_more": [(label, endpoint) for order, label, endpoint, _ in items if order >= NAV_MORE_FROM]}


@bp.get("/")
@login_required
def home():
    panels = [panel(current_user) for panel in registry.home_panels_of(current_app)]
    return render_template("core/home.html", panels=[p for p in panels if p])


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        body = {"status": "ok", "database": "reachable"}
        for name, check in current_app.extensions.get(HEALTH_CHECKS, []):
            ok, body[name] = check()
            body["status"] = body["status"] if ok else "degraded"
        db.session.rollback()
        return body
    except Exception:
        db.session.rollback()
        return {"status": "error", "database": "unreachable"}, 503


@bp.get("/readyz")
def readyz():
    """For the load balancer and the orchestrator: 200 only when this node can do useful work — the database
    answers, Redis answers (when configured), the schema is at the migrations' heads, and every package check
    passes (notifications: a worker's heartbeat younger than NOTIFICATIONS_WORKER_STALE_SECONDS)."""
    checks: dict = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
        applied = set(db.session.scalars(text("SELECT version_num FROM alembic_version")))
        missing = sorted(migration_heads() - applied_revisions(frozenset(applied)))
        checks["migrations"] = "ok" if not missing else {"missing": missing}
        for name, check in current_app.extensions.get(HEALTH_CHECKS, []):
            ok, detail = check()
            checks[name] = "ok" if ok else detail
    except Exception as exc:  # noqa: BLE001  (the class only: a driver message can quote values)
        checks.setdefault("database", f"unreachable ({type(exc).__name__})")
    finally:
        db.session.rollback()
    for name, url in _redis_urls().items():
        checks[name] = _redis_ok(url)
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


_scripts: dict[str, ScriptDirectory] = {}
_applied: dict[tuple[str, frozenset], frozenset] = {}


def _script() -> ScriptDirectory:
    """migrations/ read once per process."""
    folder = str(Path(current_app.root_path) / "migrations")
    if folder not in _scripts:
        config = Config()
        config.set_main_option("script_location", folder)
        _scripts[folder] = ScriptDirectory.from_config(config)
    return _scripts[folder]


def migration_heads() -> frozenset:
    """The revision ids at the tips of migrations/."""
    return frozenset(_script().get_heads())


def applied_revisions(version_rows: frozenset) -> frozenset:
    """Every revision the database has, given the rows of its alembic_version table: those rows and all they stand
    on, dependencies included. Alembic drops a revision's row once a revision that ``depends_on`` it is applied, so
    that revision is a head of the scripts but not a row (#20's index migration depends on three heads)."""
    script = _script()
    key = (script.dir, version_rows)
    if key not in _applied:
        try:
            found = {r.revision for r in script.revision_map.iterate_revisions(tuple(version_rows), "base")}
        except Exception:  # noqa: BLE001  (a row naming a revision these scripts lack: only the rows count)
            found = set()
        _applied[key] = frozenset(found | version_rows)
    return _applied[key]


def _redis_urls() -> dict:
    urls = {}
    if current_app.config.get("REDIS_URL"):
        urls["redis"] = current_app.config["REDIS_URL"]
    limits = str(current_app.config.get("RATELIMIT_STORAGE_URI", ""))
    if limits.startswith(("redis://", "rediss://")) and limits != urls.get("redis"):
        urls["rate_limit_storage"] = limits
    return urls


def _redis_ok(url: str) -> str:

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"unreachable ({type(exc).__name__})"


@bp.get("/assets/<path:filename>")
def nhsuk_assets(filename: str):
    # nhsuk-frontend's CSS refers to its icons as /assets/images/...; they are copied here by `make assets`.
    folder = Path(current_app.static_folder) / "vendor" / "nhsuk" / "assets"
    resp = send_from_directory(folder, filename, max_age=86400)
    return resp


def in_calendar(form, field) -> None:
    """Form dates (and date-times) between FIRST_YEAR and LAST_YEAR, as the API's fields require; later arithmetic
    at year 1 or 9999 overflows."""
    if field.data and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(f"Give a date between {FIRST_YEAR} and {LAST_YEAR}.")


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    team_id = SelectField("Team", coerce=int, validators=[Optional()])
    person = StringField("Person (name or email)", validators=[Optional(), Length(max=120)])
    entity_type = StringField("Entity", validators=[Optional(), Length(max=64)])
    action = StringField("Action starts with", validators=[Optional(), Length(max=64)])
    since = DateField("From", validators=[Optional(), in_calendar])
    until = DateField("To (inclusive)", validators=[Optional(), in_calendar])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100_000)])


def _audit_filters(viewer):
    form = AuditFilterForm(request.args)
    teams = db.session.scalars(select(Team).order_by(Team.name)).all()
    visible = [t for t in teams if viewer.is_admin or t.id in viewer.managed_team_ids]
    form.team_id.choices = as_choices([(0, "All teams")] + [(t.id, t.name) for t in visible])
    if not form.validate():
        return form, None
    day = lambda d: datetime.combine(d, time.min, tzinfo=UTC) if d else None  # noqa: E731
    stmt = audit_trail.visible_query(
        viewer,
        team_id=form.team_id.data or None,
        person=(form.person.data or "").strip().replace("\x00", "") or None,
        entity_type=(form.entity_type.data or "").strip() or None,
        action=(form.action.data or "").strip() or None,
        since=day(form.since.data),
        until=day(form.until.data) + timedelta(days=1) if form.until.data else None,
    )
    return form, stmt


@bp.get("/audit")
@login_required
@no_store
def audit_log():
    form, stmt = _audit_filters(current_user)
    rows, total, page_no = [], 0, form.page.data or 1
    if stmt is not None:
        rows, total = audit_trail.page(stmt, page_no, current_app.config["AUDIT_PAGE_SIZE"])
    status = 200 if stmt is not None else 422
    actor_ids = {r.actor_id for r in rows}
    people = {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(actor_ids)))}
    query = request.args.to_dict()
    query.pop("page", None)
    return render_template("core/audit.html", form=form, rows=rows, total=total, page_no=page_no, people=people,
                           per_page=current_app.config["AUDIT_PAGE_SIZE"], query=query), status


@bp.get("/audit.csv")
@login_required
@no_store
def audit_csv():
    form, stmt = _audit_filters(current_user)
    if stmt is None:
        return render_template("core/audit.html", form=form, rows=[], total=0, page_no=1, people={},
                               per_page=1, query={}), 422
    rows = db.session.scalars(stmt.order_by(audit.AuditEntry.id)).all()
    return Response(audit_trail.to_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=shiftbridge-audit.csv"})
