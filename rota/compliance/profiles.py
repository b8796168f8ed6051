"""Which working-time rules apply to whom: a person's rule profile in a team, and who may see it.

The rules themselves are pure functions in :mod:`rota.compliance.rules`; this module chooses a person's rule sets:

* doctors in training (``user.is_doctor_in_training``) get TCS2016 (as amended 2019) + WTR, everyone else WTR;
* a team's settings may name other rule sets, change severities, switch rules off, add local rules (e.g.
  "LOCAL-long3": at most 3 long days in a row), pick the fortnightly weekly-rest pattern, set the rota cycle;
* a person's settings may record the WTR opt-out, name rule sets and add local rules;
* trust-wide severities come from configuration ``COMPLIANCE_SEVERITIES`` (``{"WTR-rest11": "block"}``) and
  ``COMPLIANCE_DISABLED_RULES``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from flask import current_app, has_app_context
from sqlalchemy import bindparam, select

from core import timeutil
from core.accounts import Membership, Team, TeamRole
from core.db import db
from rota.compliance import rules
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from rota.compliance.rules import RuleSet


@dataclass
class Profile:
    """The rules that apply to one person in one team."""

    rule_sets: list[RuleSet]
    opted_out: bool = False
    break_minutes: int | None = None
    names: list[str] = field(default_factory=list)


@cache
def _person_settings():
    return select(PersonComplianceSettings).where(PersonComplianceSettings.user_id == bindparam("user_id"))


@cache
def _person_and_team_settings():
    """Both rows in one round trip: the team, with its settings and the person's (either may be missing). Built
    once (every check of a change reads it)."""
    return (select(PersonComplianceSettings, TeamComplianceSettings).select_from(Team)
            .outerjoin(TeamComplianceSettings, TeamComplianceSettings.team_id == Team.id)
            .outerjoin(PersonComplianceSettings, PersonComplianceSettings.user_id == bindparam("user_id"))
            .where(Team.id == bindparam("team_id")))


def _settings(user, team):
    if team is None:
        return db.session.scalar(_person_settings(), {"user_id": user.id}), None
    row = db.session.execute(_person_and_team_settings(), {"user_id": user.id, "team_id": team.id}).first()
    return (row[0], row[1]) if row is not None else (None, None)


def home_team(user):
    ms = sorted(getattr(user, "memberships", []) or [], key=lambda m: m.id)
    return ms[0].team if ms else None


def default_rule_set_names(user) -> list[str]:
    return ["TCS2016", "WTR"] if getattr(user, "is_doctor_in_training", False) else ["WTR"]


def trust_overrides() -> tuple[dict[str, str], set[str]]:
    """The trust's configuration: severities it sets (``COMPLIANCE_SEVERITIES``) and rules it switched off
    (``COMPLIANCE_DISABLED_RULES``)."""
    config = current_app.config if has_app_context() else {}
    return dict(config.get("COMPLIANCE_SEVERITIES") or {}), set(config.get("COMPLIANCE_DISABLED_RULES") or ())


def may_see_person(viewer, person) -> bool:
    """A person's working-time checks and settings: themselves, coordinators of one of their teams, administrators."""

    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return False
    if viewer.is_admin or viewer.id == person.id:
        return True
    # One query (is the person on a team the viewer coordinates?) rather than loading both people's memberships.
    managed = select(Membership.team_id).where(Membership.user_id == viewer.id,
                                               Membership.role == TeamRole.coordinator)
    return db.session.scalar(select(Membership.id).where(Membership.user_id == person.id,
                                                         Membership.team_id.in_(managed)).limit(1)) is not None


def today_for(person) -> date:
    """Today's date in the person's home team's zone."""
    team = home_team(person)
    return datetime.now(timeutil.zone(getattr(team, "timezone", None) or timeutil.DEFAULT_ZONE)).date()


def profile_for(user, team=None, *, rule_sets: Iterable[str] | None = None, person_row=None, team_row=None,
                loaded: bool = False) -> Profile:
    """Rule sets for ``user`` (in ``team``, default their first team), with the team's and person's overrides.
    ``rule_sets`` names sets to use instead of the person's own (a coordinator comparing, e.g. ["TCS2016v1"])."""
    team = team if team is not None else home_team(user)
    if not loaded:
        person_row, team_row = _settings(user, team)
    severities, disabled = trust_overrides()
    params: dict = {}
    extra_specs: list = []
    names = None
    if team_row is not None:
        severities.update(team_row.severities or {})
        disabled.update(team_row.disabled_rules or ())
        extra_specs.extend(team_row.extra_rules or ())
        names = team_row.rule_sets or None
        if team_row.weekly_rest_fortnightly:
            params["WTR-weekly"] = {"fortnightly": True}
        if team_row.rota_cycle_weeks:
            for rid in ("TCS-avg48", "TCS-weekend"):
                key = "reference_weeks" if rid == "TCS-avg48" else "cycle_weeks"
                params[rid] = {key: team_row.rota_cycle_weeks}
    opted_out = False
    if person_row is not None:
        opted_out = bool(person_row.wtr_opt_out)
        extra_specs.extend(person_row.extra_rules or ())
        names = person_row.rule_sets or names
    names = list(rule_sets) if rule_sets else (names or default_rule_set_names(user))
    sets = [rules.customise(rules.RULE_SETS[n], severities=severities, disabled=disabled, params=params)
            for n in names if n in rules.RULE_SETS]
    extra = [rules.local_rule(s) for s in extra_specs if isinstance(s, dict) and str(s.get("id", "")).strip()]
    if extra and not rule_sets:
        sets.append(rules.customise(rules.RuleSet("LOCAL", "Local rules", ()), severities=severities,
                                    disabled=disabled, extra=extra))
    return Profile(sets, opted_out, team_row.break_minutes if team_row is not None else None,
                   [s.name for s in sets])


def profiles_for(users, team, *, rule_sets=None) -> tuple[dict[int, Profile], int | None]:
    """Everyone's rule profile in ``team`` with one query (the team's settings row beside their own rows), and the
    team's rostered break. Without a person's own settings a profile depends only on their staff group, so it is
    shared."""

    ids = [u.id for u in users]
    if team is None:
        persons, team_row = {p.user_id: p for p in db.session.scalars(_person_rows(), {"ids": ids})}, None
    else:  # the team's row beside each person's own, in one statement
        rows = db.session.execute(_team_and_person_rows(), {"team_id": team.id, "ids": ids}).all()
        persons = {p.user_id: p for _, p in rows if p is not None}
        team_row = rows[0][0] if rows else None
    shared: dict[tuple, Profile] = {}

    def profile(user) -> Profile:
        row = persons.get(user.id)
        if row is not None or team is None:  # no team: each person's home team decides
            return profile_for(user, team, rule_sets=rule_sets, person_row=row, team_row=team_row, loaded=True)
        key = tuple(default_rule_set_names(user))
        if key not in shared:
            shared[key] = profile_for(user, team, rule_sets=rule_sets, team_row=team_row, loaded=True)
        return shared[key]

    return {u.id: profile(u) for u in users}, (team_row.break_minutes if team_row is not None else None)


@cache
def _person_rows():
    return select(PersonComplianceSettings).where(PersonComplianceSettings.user_id.in_(bindparam("ids",
                                                                                                 expanding=True)))


@cache
def _team_and_person_rows():
    """The team's compliance settings row (or None) on every row, with each of the people's own rows (or one row
    with None when none of them has one). Built once."""
    return (select(TeamComplianceSettings, PersonComplianceSettings).select_from(Team)
            .outerjoin(TeamComplianceSettings, TeamComplianceSettings.team_id == Team.id)
            .outerjoin(PersonComplianceSettings,
                       PersonComplianceSettings.user_id.in_(bindparam("ids", expanding=True)))
            .where(Team.id == bindparam("team_id")))


def zone_name(team) -> str:
    return getattr(team, "timezone", None) or timeutil.DEFAULT_ZONE
