"""Warnings about someone else name them, never "your" (issue #15)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rota.wording import about

OWEN = SimpleNamespace(id=7, display_name="Owen Hale")


@pytest.mark.parametrize(("mine", "theirs"), [
    ("Only 5 h rest between your Late ending Tue 21:30 and your Early starting Wed 02:30 (at least 11 h).",
     "Only 5 h rest between Owen's Late ending Tue 21:30 and their Early starting Wed 02:30 (at least 11 h)."),
    ("Your average week would be 52 h (you have opted out of the 48-hour week).",
     "Owen's average week would be 52 h (Owen has opted out of the 48-hour week)."),
    ("You would work 3 of the 4 weekends from Sat 05 Dec (maximum 2).",
     "Owen would work 3 of the 4 weekends from Sat 05 Dec (maximum 2)."),
    ("You are Band 3; this shift needs Band 5 or above", "Owen is Band 3; this shift needs Band 5 or above"),
    ("You already work Mon 07 Dec 07:00–15:30", "Owen already works Mon 07 Dec 07:00–15:30"),
    ("You have no clinical grade; this shift needs registered nurses",
     "Owen has no clinical grade; this shift needs registered nurses"),
])
def test_messages_about_someone_else_name_them(mine, theirs):
    assert about(mine, OWEN, reader=SimpleNamespace(id=1)) == theirs
    assert about(mine, OWEN, reader=OWEN) == mine  # read by Owen himself: unchanged


def test_every_engine_message_reads_without_you_for_someone_else():
    """Real verdicts from the rules engine: a rest breach and a long week, rewritten for a coordinator."""
    from datetime import UTC, datetime, timedelta

    from rota.compliance import rules

    t0 = datetime(2026, 12, 7, 7, tzinfo=UTC)
    shifts = [rules.WorkShift(t0 + timedelta(hours=i * 18), t0 + timedelta(hours=i * 18 + 13), id=i + 1)
              for i in range(7)]
    verdicts = rules.evaluate(shifts, ("WTR", "TCS2016"))
    assert verdicts
    for v in verdicts:
        text = about(v.message, OWEN, reader=SimpleNamespace(id=1))
        assert not any(w in text.lower().split() for w in ("you", "your", "you're")), text


def test_offer_wizard_names_the_colleague_a_warning_is_about(app, make, monkeypatch):
    from core.db import db
    from rota.compliance.rules import Verdict
    from tests.rota.swaps import factories as data
    from tests.rota.swaps.test_swaps_pages import signed_in

    w = data.ward(make, 2)
    a, b = w.staff
    b.display_name = "Owen Hale"
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    x_id, b_id = x.id, b.id
    db.session.commit()  # end the read (on SQLite it would hold the lock the sign-in needs)

    def engine(user, *, add=(), remove=(), rule_sets=None):
        return [Verdict("WTR-rest11", "warn", "5 h", "11 h", "Only 5 h rest between your Late ending Tue 21:30 and "
                        "your Early starting Wed 02:30 (at least 11 h).")] if user.id == b_id else []

    data.fake_engine(monkeypatch, engine)
    page = signed_in(app, a).get(f"/shifts/{x_id}/offer").get_data(as_text=True)
    assert "Only 5 h rest between Owen&#39;s Late" in page and "your Late" not in page


def test_the_offer_wizard_shows_plain_words_and_whom_without_the_rule_id(app, make, monkeypatch):
    """#15: a candidate's warning reads in plain words, with no rule id in the sentence, and the candidate is told apart
    by staff group, grade and team."""
    from core.db import db
    from rota.compliance.rules import Verdict
    from tests.rota.swaps import factories as data
    from tests.rota.swaps.test_swaps_pages import signed_in

    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    x_id, b_id, b_name, team_name = x.id, b.id, b.display_name, w.team.name
    db.session.commit()

    def engine(user, *, add=(), remove=(), rule_sets=None):
        return [Verdict("WTR-rest11", "warn", "5 h", "11 h", "Only 5 h rest (at least 11 h).")] if user.id == b_id \
            else []

    data.fake_engine(monkeypatch, engine)
    page = signed_in(app, a).get(f"/shifts/{x_id}/offer").get_data(as_text=True)
    assert "Warnings: Only 5 h rest (at least 11 h)." in page and "WTR-rest11" not in page
    assert f'for="u-{b_id}">{b_name} (Band 5 registered nurse, {team_name})</label>' in page
