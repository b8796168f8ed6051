"""The insights operations survive fuzzing (schemathesis, as an administrator who coordinates a team): no 5xx, and
every answer matches its documented schema and content type. The whole API is fuzzed by tests/core."""

from __future__ import annotations

from tests import fuzzing
from tests.conftest import Factory


def test_insights_endpoints_survive_fuzzing(app, request):
    make = Factory()
    admin = make.admin()
    make.team("Fuzz ward", coordinators=[admin], site="General")
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    operations = fuzzing.operations(app, lambda path: "insights" in path)
    assert len(operations) == 2
    fuzzing.fuzz(request, operations, headers=headers, examples=40)
