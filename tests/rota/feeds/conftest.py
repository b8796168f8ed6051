"""Fixtures of the calendar-feed tests."""

from __future__ import annotations

from datetime import time

import pytest

from rota.models import ShiftKind
from tests import factories

NIGHT = dict(code="N", name="Night", start_local=time(21), duration_minutes=720, kind=ShiftKind.night)


@pytest.fixture
def ward(make):
    w = factories.ward(make, name="Ward 7B", site="St Elsewhere", types=[NIGHT],
                       coordinator=dict(display_name="Wendy Manager", mobile="07700 900111"),
                       people=[dict(display_name="Sam Patel", mobile="07700 900222"),
                               dict(display_name="Alex Okafor", mobile="07700 900333")])
    sam, alex = w.staff
    return {"team": w.team, "manager": w.coordinator, "sam": sam, "alex": alex, "night": w.types["N"]}
