"""Fuzz every documented endpoint from the OpenAPI document (authenticated as an administrator).

Fails on any 5xx and on any response that does not match its own documented schema or content type. It grows by
itself as packages add endpoints. (schemathesis' pytest plugin does not run under pytest 9, so the operations are
driven through its Python API with hypothesis directly.)
"""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import Factory

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
EXAMPLES = 30


def test_every_endpoint_survives_fuzzing(app):
    make = Factory()
    admin = make.admin()
    make.team("Fuzz ward", coordinators=[admin])
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
