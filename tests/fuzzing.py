"""The one fuzz loop: drive API operations from the OpenAPI document with schemathesis and hypothesis, collect every
operation's failure, and fail with the seed and the command that replays the run exactly.

Every fuzz test fails on any 5xx and on any response that does not match its own documented schema or content type
(``CHECKS``: a refusal must be application/problem+json as documented). (schemathesis' pytest plugin does not run
under pytest 9, so the operations are driven through its Python API with hypothesis directly.)

The run is random, so it keeps finding new shapes, but never unrepeatable: every run uses one seed, printed with a
failure together with the failing request and the command that replays it exactly (``--hypothesis-seed=N``, or
``SHIFTBRIDGE_FUZZ_SEED=N``). Dates and times are drawn from the whole calendar, years 1 to 9999 with any UTC offset,
not just plausible ones: that is where OverflowErrors live.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
EDGE_INSTANTS = ["0001-01-01T00:00:00+00:16", "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59-00:16",
                 "9999-12-31T23:59:59.999999+14:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59Z"]
_offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
_instants = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                         timezones=st.none() | _offsets.map(lambda off: timezone(timedelta(minutes=off // timedelta(
                             minutes=1)))))
schemathesis.openapi.format("date-time", st.sampled_from(EDGE_INSTANTS) | _instants.map(datetime.isoformat))
schemathesis.openapi.format("date", st.sampled_from(["0001-01-01", "9999-12-31"])
                            | st.dates().map(lambda d: d.isoformat()))


def run_seed(config) -> int:
    """--hypothesis-seed, else SHIFTBRIDGE_FUZZ_SEED, else a fresh random seed (printed if anything fails)."""
    chosen = config.getoption("hypothesis_seed", default=None) or os.environ.get("SHIFTBRIDGE_FUZZ_SEED")
    return int(chosen) if chosen not in (None, "") else random.SystemRandom().randrange(2**32)


def operations(app, keep: Callable[[str], bool] = lambda path: True) -> list:
    """The documented API operations whose path (``/api/v1/...``) ``keep`` accepts."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [op for op in (result.ok() for result in schema.get_all_operations()) if keep(op.path)]


def fuzz(request, ops, *, headers: dict, examples: int, prepare: Callable | None = None,
         derandomize: bool = False) -> None:
    """Send ``examples`` generated requests to each of ``ops`` with ``headers`` (``prepare(case)`` may adjust a case
    first: real ids, a current version) and fail, after trying them all, listing every operation that broke a check.
    ``derandomize``: the same examples on every run (no seed to print)."""
    chosen = run_seed(request.config)
    failures = []
    for operation in ops:

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=derandomize, print_blob=True)
        def run(case):
            if prepare is not None:
                prepare(case)
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            (run if derandomize else seed(chosen)(run))()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: B036 (schemathesis raises a BaseExceptionGroup) - collect every failure
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    replay = (f"PYTHONPATH=$PWD .venv/bin/pytest -n 0 -p no:cacheprovider '{request.node.nodeid}'"
              + ("" if derandomize else f" --hypothesis-seed={chosen}"))
    assert not failures, (
        ("Fuzzing failed (derandomized)" if derandomize else f"Fuzzing failed with seed {chosen}")
        + f". Replay exactly with:\n  {replay}\n\n" + "\n\n".join(failures))
