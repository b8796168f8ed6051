"""Fuzz every documented endpoint from the OpenAPI document (authenticated as an administrator).

Fails on any 5xx and on any response that does not match its own documented schema or content type. It grows by
itself as packages add endpoints. (schemathesis' pytest plugin does not run under pytest 9, so the operations are
driven through its Python API with hypothesis directly.)

The run is random, so it keeps finding new shapes, but never unrepeatable: every run uses one seed, printed with a
failure together with the failing request and the command that replays it exactly
(``pytest tests/core/test_openapi_fuzz.py --hypothesis-seed=N``, or ``SHIFTBRIDGE_FUZZ_SEED=N``). Dates and times
are drawn from the whole calendar, years 1 to 9999 with any UTC offset, not just plausible ones: that is where
OverflowErrors live.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import Factory

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
EXAMPLES = 30
EDGE_INSTANTS = ["0001-01-01T00:00:00+00:16", "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59-00:16",
                 "9999-12-31T23:59:59.999999+14:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59Z"]
_offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
_instants = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                         timezones=st.none() | _offsets.map(lambda off: timezone(timedelta(minutes=off // timedelta(
                             minutes=1)))))
schemathesis.openapi.format("date-time", st.sampled_from(EDGE_INSTANTS) | _instants.map(datetime.isoformat))
schemathesis.openapi.format("date", st.sampled_from(["0001-01-01", "9999-12-31"])
                            | st.dates().map(lambda d: d.isoformat()))


def _seed(config) -> int:
    """--hypothesis-seed, else SHIFTBRIDGE_FUZZ_SEED, else a fresh random seed (printed if anything fails)."""
    chosen = config.getoption("hypothesis_seed", default=None) or os.environ.get("SHIFTBRIDGE_FUZZ_SEED")
    return int(chosen) if chosen not in (None, "") else random.SystemRandom().randrange(2**32)


def test_every_endpoint_survives_fuzzing(app, request):
    make = Factory()
    admin = make.admin()
    make.team("Fuzz ward", coordinators=[admin])
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4
    run_seed = _seed(request.config)
    failures = []
    for operation in operations:

        @seed(run_seed)
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  print_blob=True)
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: B036 (schemathesis raises a BaseExceptionGroup) - collect every failure
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, (
        f"Fuzzing failed with seed {run_seed}. Replay exactly with:\n"
        f"  PYTHONPATH=$PWD .venv/bin/pytest -n 0 -p no:cacheprovider tests/core/test_openapi_fuzz.py "
        f"--hypothesis-seed={run_seed}\n\n" + "\n\n".join(failures))
