"""Fuzz every documented endpoint from the OpenAPI document (authenticated as an administrator).

Fails on any 5xx and on any response that does not match its own documented schema or content type. It grows by
itself as packages add endpoints. (schemathesis' pytest plugin does not run under pytest 9, so the operations are
driven through its Python API with hypothesis directly.)

The loop, the checks, the seed and the calendar-wide dates are in :mod:`tests.fuzzing`; a failure prints the seed
and the command that replays it (``pytest tests/core/test_openapi_fuzz.py --hypothesis-seed=N``, or
``SHIFTBRIDGE_FUZZ_SEED=N``).
"""

from __future__ import annotations

from tests import fuzzing
from tests.conftest import Factory

EXAMPLES = 30


def test_every_endpoint_survives_fuzzing(app, request):
    make = Factory()
    admin = make.admin()
    make.team("Fuzz ward", coordinators=[admin])
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    operations = fuzzing.operations(app)
    assert len(operations) >= 4
    fuzzing.fuzz(request, operations, headers=headers, examples=EXAMPLES)
