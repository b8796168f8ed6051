"""One team loader for the team pages of every package (#14, "one of each helper"): no such team is the plain 404;
a team the signed-in person is not on is a refusal (403, audited, as the rota's services refuse); a page that changes
the team refuses a member who does not coordinate it (403). Before, the rota core's pages answered an outsider 403
and its sub-packages' pages (requests, swaps, compliance, auto-roster) 404.

Handover (clinical access rules of its own, docs/handover.md) and insights (managers only; an outsider is not told
the team exists, docs/insights.md) keep their documented policies."""

from __future__ import annotations

from sqlalchemy import func, select

from core.audit import AuditEntry
from tests.conftest import login

OWN_POLICY = ("/handover/", "/insights/")


def _team_pages(app) -> list[str]:
    return sorted(r.rule for r in app.url_map.iter_rules()
                  if "GET" in r.methods and set(r.arguments) == {"team_id"} and r.rule.startswith("/teams/"))


def test_every_team_page_refuses_an_outsider_and_404s_a_team_that_does_not_exist(app, client, make):
    from core.db import db

    outsider = make.user()
    make.team("Ward 1", staff=[outsider])
    theirs = make.team("Ward 2", coordinators=[make.user()])
    pages = _team_pages(app)
    assert len(pages) >= 15 and not any(p.startswith(OWN_POLICY) for p in pages)
    login(client, outsider)
    refused = db.session.scalar(select(func.count(AuditEntry.id)))
    answers = {p: client.get(p.replace("<int:team_id>", str(theirs.id))).status_code for p in pages}
    assert set(answers.values()) == {403}, {p: s for p, s in answers.items() if s != 403}
    assert db.session.scalar(select(func.count(AuditEntry.id))) >= refused + len(pages)  # each refusal audited
    missing = {p: client.get(p.replace("<int:team_id>", "987654")).status_code for p in pages}
    assert set(missing.values()) == {404}, {p: s for p, s in missing.items() if s != 404}
