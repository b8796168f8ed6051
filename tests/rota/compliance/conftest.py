"""Fixtures the working-time compliance tests share."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def ward(make):
    """Ward 7B: a coordinator, a doctor in training, two nurses; Late, Early and a 20:00 12-hour Night."""
    w = factories.ward(make, name="Ward 7B", coordinator="Cora Coordinator",
                       people=[dict(display_name="Dev Doctor", staff_group="medical", grade="ST3"),
                               dict(display_name="Nia Nurse"), dict(display_name="Olu Other")],
                       types=[factories.LATE, factories.EARLY, factories.NIGHT_20_12H])
    doctor, nurse, other = w.staff
    return type("Ward", (), dict(team=w.team, coord=w.coordinator, doctor=doctor, nurse=nurse, other=other,
                                 late=w.types["L"], early=w.types["E"], night=w.types["N"]))
