"""Fuzz the swap, offer and open-shift endpoints (the suite-wide fuzz test covers them too; this one runs them with
real shifts and requests in the database, so more of their code is reached)."""

from core.db import db
from tests import fuzzing
from tests.conftest import Factory
from tests.rota.swaps import factories as data

MINE = ("/swaps", "/open-shifts", "/shifts/{shift_id}/claim", "/shifts/{shift_id}/assign",
        "/users/{user_id}/eligible-shifts")


def test_swap_endpoints_survive_fuzzing(app, request):
    make = Factory()
    admin = make.admin()
    w = data.ward(make, 3)
    a, b, _ = w.staff
    from core.accounts import TeamRole, add_member

    add_member(w.team, admin, TeamRole.coordinator)
    for i in range(3):
        data.shift(w.team, starts_at=data.soon(2 + i), assignee=a)
        data.shift(w.team, starts_at=data.soon(10 + i))
    db.session.commit()
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    operations = fuzzing.operations(app, lambda path: path.removeprefix("/api/v1").startswith(MINE))
    assert len(operations) >= 12
    fuzzing.fuzz(request, operations, headers=headers, examples=12)
