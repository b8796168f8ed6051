"""Shared set-up for the rota tests: a ward with shift types E/L/N and a few nurses."""

from datetime import time

from core.db import db
from rota import services


def ward(make, *, nurses=3, name=None, tz="Europe/London"):
    coord = make.user(grade="Band 7")
    staff = [make.user(grade="Band 5", staff_number=f"N{make.n:04d}") for _ in range(nurses)]
    team = make.team(name, coordinators=[coord], staff=staff, timezone=tz)
    types = {
        "E": services.create_shift_type(team, code="E", name="Early", start_local=time(7), duration_minutes=510,
                                        actor=coord),
        "L": services.create_shift_type(team, code="L", name="Late", start_local=time(13), duration_minutes=510,
                                        actor=coord),
        "N": services.create_shift_type(team, code="N", name="Night", start_local=time(19, 30),
                                        duration_minutes=750, kind="night", actor=coord),
    }
    db.session.commit()
    return team, coord, staff, types
