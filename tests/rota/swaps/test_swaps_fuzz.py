"""Fuzz the swap, offer and open-shift endpoints (the suite-wide fuzz test covers them too; this one runs them with
real shifts and requests in the database, so more of their code is reached)."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from core.db import db
from tests.conftest import Factory
from tests.rota.swaps import factories as data

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
MINE = ("/swaps", "/open-shifts", "/shifts/{shift_id}/claim", "/shifts/{shift_id}/assign",
        "/users/{user_id}/eligible-shifts")


def test_swap_endpoints_survive_fuzzing(app):
    make = Factory()
    admin = make.admin()
    w = data.ward(make, 3)
    a, b, _ = w.staff
    from core.accounts import TeamRole, add_member

    add_member(w.team, admin, TeamRole.coordinator)
    for i in range(3):
        data.shift(w.team, starts_at=data.soon(2 + i), assignee=a)
        data.shift(w.team, starts_at=data.soon(10 + i))
    db.session.commit()
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if op.path.removeprefix("/api/v1").startswith(MINE)]
    assert len(operations) >= 12
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except BaseException as exc:  # noqa: BLE001  (collect every operation's failure, then report them together)
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
