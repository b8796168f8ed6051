"""The insights operations survive fuzzing (schemathesis, as an administrator who coordinates a team): no 5xx, and
every answer matches its documented schema and content type. The whole API is fuzzed by tests/core."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, seed, settings

from tests.conftest import Factory
from tests.core.test_openapi_fuzz import CHECKS, _seed


def test_insights_endpoints_survive_fuzzing(app, request):
    make = Factory()
    admin = make.admin()
    make.team("Fuzz ward", coordinators=[admin], site="General")
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations() if "insights" in r.ok().path]
    assert len(operations) == 2
    run_seed = _seed(request.config)
    failures = []
    for operation in operations:

        @seed(run_seed)
        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except BaseException as exc:  # noqa: B036 (schemathesis raises a BaseExceptionGroup)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, f"seed {run_seed}:\n" + "\n\n".join(failures)
