"""The coordinator's Home lists their teams' handovers handed over but not accepted yet (issue #15)."""

from tests.conftest import login
from tests.handover.conftest import add_patients, start, write_all


def test_coordinator_home_shows_a_handover_nobody_has_accepted(app, client, ward):
    add_patients(ward, 1)
    h = start(ward)
    write_all(h, ward)
    login(client, ward.outgoing)
    assert client.post(f"/handover/{h.id}/ready").status_code in (302, 303)
    coordinator, outsider = app.test_client(), app.test_client()
    login(coordinator, ward.coordinator)
    page = coordinator.get("/").get_data(as_text=True)
    assert 'data-testid="home-unaccepted-handovers"' in page and "Ward 7B: Night → Early" in page
    login(outsider, ward.outsider)
    assert "home-unaccepted-handovers" not in outsider.get("/").get_data(as_text=True)
