"""The demo's history gives every chart of the ward's insights something to show, once, with the audit chain intact."""

from sqlalchemy import select

from core import audit
from core.accounts import Team
from core.db import db


def test_demo_history_makes_non_trivial_charts(app):
    from core.registry import demo_seeders_of
    from insights import demo, service

    for _, _, seed in demo_seeders_of(app):
        seed()
    db.session.commit()
    ward = db.session.scalar(select(Team).where(Team.name == "Ward 7B Acute Medicine"))
    first, last = service.default_dates(ward.timezone)
    cur, prev = service.compare([ward.id], first, last, {ward.id: ward.timezone}, people_for={ward.id})
    for m in (cur[ward.id], prev[ward.id]):
        o = m.open_shifts
        assert o["created"] >= 10 and 0 < o["filled"] < o["created"], o
        assert all(o["by_how"].values()) and o["by_where"]["own"] and o["by_where"]["bank"], o
        assert o["time_to_fill_median_min"] < o["time_to_fill_p90_min"]
        assert m.swaps["approved"] and m.swaps["auto_approved"] and m.swaps["refused"], m.swaps
        assert m.broadcasts["sms"] and m.broadcasts["push"] and m.broadcasts["read_rate"], m.broadcasts
        assert m.cover["slots"] and m.cover["unfilled_at_start"], m.cover
        assert 0 < m.cover["filled_at_publication_rate"] < 100, m.cover
        h = m.handover
        assert h["handed_over"] >= 50 and h["overdue"] and h["acceptance_median_min"] < h["acceptance_p90_min"], h
        w = m.working_time
        assert w["warnings_accepted"] and w["overrides"] and w["blocking_avoided"] and w["blocking_by_rule"], w
        assert any("[number removed]" in reason for reason, _n in w["override_reasons"]), w
    assert cur[ward.id].people
    assert audit.verify().ok
    assert demo.seed_insights() == [] and demo.seed_handover_history() == []
    from handover import services as handovers  # the handover demo's own handover is still the ward's latest

    assert handovers.latest_handover(ward).label == "Day → Night" and handovers.latest_handover(ward).ready_at is None
