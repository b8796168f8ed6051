"""The one ward factory every test package builds on: a team with its coordinator, its staff and the usual shift
types (Early, Late, Night), made through the real services as a coordinator would make them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from core.accounts import Team, User
from core.db import db
from core.timeutil import DEFAULT_ZONE
from rota import services
from rota.models import ShiftKind, ShiftType

# The shift types of every test ward (tests/rota/swaps/factories.shift_type and .night find these by code).
SHIFT_TYPES = (
    dict(code="E", name="Early", start_local=time(7), duration_minutes=510, kind=ShiftKind.day),
    dict(code="L", name="Late", start_local=time(13), duration_minutes=510, kind=ShiftKind.day),
    dict(code="N", name="Night", start_local=time(19, 30), duration_minutes=750, kind=ShiftKind.night),
)
EARLY, LATE, NIGHT = SHIFT_TYPES
# The 20:00 Night of 12 hours the working-time rules tests (tests/rota/compliance, test_grid_markers_focus) count on.
NIGHT_20_12H = dict(NIGHT, start_local=time(20), duration_minutes=720)


@dataclass
class Ward:
    team: Team
    coordinator: User
    staff: list[User]
    types: dict[str, ShiftType]
    tokens: dict[int, str] = field(default_factory=dict)

    def __iter__(self):
        """``team, coordinator, staff, types = ward(make)``."""
        return iter((self.team, self.coordinator, self.staff, self.types))

    def token(self, make, user: User) -> str:
        """One bearer token per person, made the first time it is asked for."""
        if user.id not in self.tokens:
            self.tokens[user.id] = make.token(user)
        return self.tokens[user.id]


def staff_name(i: int) -> str:
    return f"Nurse {chr(65 + i)}" if i < 26 else f"Nurse {i}"


def ward(make, nurses: int = 3, *, name: str | None = None, tz: str = DEFAULT_ZONE, grade: str = "Band 5",
         skills=("IV-trained",), coordinator: str | dict = "Wendy Coordinator", people: list[dict] | None = None,
         types=SHIFT_TYPES, **team_kw) -> Ward:
    """A ward of ``nurses`` staff (Nurse A, Nurse B, … of ``grade`` with ``skills`` and a staff number) and one
    coordinator (Band 7), in zone ``tz``, with the shift types E, L and N.

    ``people`` names and shapes the staff explicitly (one ``make.user`` keyword dict each, in place of ``nurses``);
    ``coordinator`` may be such a dict too; ``types`` gives other shift-type specs (``()`` for none); ``team_kw``
    (e.g. ``site``) goes to the team."""
    coord_kw = {"display_name": coordinator} if isinstance(coordinator, str) else dict(coordinator)
    coord = make.user(**{"grade": "Band 7", **coord_kw})
    if people is None:
        staff = [make.user(display_name=staff_name(i), grade=grade, skills=list(skills), staff_number=f"N{make.n:04d}")
                 for i in range(nurses)]
    else:
        staff = [make.user(**p) for p in people]
    team = make.team(name, coordinators=[coord], staff=staff, timezone=tz, **team_kw)
    types = {spec["code"]: services.create_shift_type(team, actor=coord, **spec) for spec in types}
    db.session.commit()
    return Ward(team, coord, staff, types)
