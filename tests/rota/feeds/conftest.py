"""Fixtures of the calendar-feed tests."""

from __future__ import annotations

import pytest

from tests.rota.feeds.helpers import shift_type


@pytest.fixture
def ward(make):
    manager = make.user(display_name="Wendy Manager", mobile="07700 900111", grade="Band 7")
    sam = make.user(display_name="Sam Patel", mobile="07700 900222")
    alex = make.user(display_name="Alex Okafor", mobile="07700 900333")
    team = make.team("Ward 7B", coordinators=[manager], staff=[sam, alex], site="St Elsewhere")
    return {"team": team, "manager": manager, "sam": sam, "alex": alex, "night": shift_type(team)}
