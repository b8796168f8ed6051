"""rota.feeds.ical's lean writer sends exactly the bytes icalendar would, and clients read what the database holds.

Generated events stress what the writer does by hand: TEXT escaping (``\\``, ``;``, ``,``, ``\\N``, CR/LF), folding
at 75 octets next to multi-byte characters (``·``, ``–``, emoji) and next to a backslash or ``^``, reminders, missing
locations and links. The seed is printed; rerun one with ``ICAL_WRITER_SEED=<seed>``.
"""

import os
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rota.feeds import ical
from tests.rota.feeds.helpers import parse_icalendar, parse_icaljs, parse_vobject

ALPHABET = ["a", "B", " ", "7", "·", "–", "é", "😀", "\\", "^", ";", ",", ":", "\n", "\r\n", "\\N", '"', "'"]


def _text(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(ALPHABET) if rng.random() < 0.3 else rng.choice("abcdefgh ")
                   for _ in range(rng.randint(1, longest)))


def _events(rng: random.Random, n: int) -> list[ical.FeedEvent]:
    base = datetime(2026, 3, 20, tzinfo=UTC)
    out = []
    for i in range(n):
        starts = base + timedelta(minutes=rng.randint(0, 60 * 24 * 40), seconds=rng.choice([0, 0, 17]),
                                  microseconds=rng.choice([0, 123456]))
        out.append(ical.FeedEvent(
            uid=f"shift-{i}{rng.choice(['', '.team', '.open'])}@rota.example.nhs.uk", starts_at=starts,
            ends_at=starts + timedelta(minutes=rng.randint(30, 900)), summary=_text(rng, 120),
            description=_text(rng, 400), sequence=rng.randint(0, 3000),
            last_modified=starts - timedelta(days=rng.randint(0, 30)),
            location=rng.choice([None, "", _text(rng, 90)]),
            url=rng.choice([None, f"https://rota.example.nhs.uk/rota/shifts/{i}" + "x" * rng.randint(0, 80)]),
            cancelled=rng.random() < 0.2, busy=rng.random() < 0.5,
            reminder_minutes=rng.choice([None, 0, 15, 60, 90, 1440, 2000])))
    return out


def test_lean_writer_gives_icalendars_bytes_for_generated_events():
    seed = int(os.environ.get("ICAL_WRITER_SEED", random.randrange(1 << 30)))
    print(f"reproduce with ICAL_WRITER_SEED={seed}")
    rng = random.Random(seed)
    events = _events(rng, 400)
    cal = ical.FeedCalendar("Shiftbridge: Ward 7B · rota", "Everyone's shifts; by team, as published.", tuple(events))
    expected = ical.build(cal).to_ical()
    assert ical.render(cal) == expected, f"seed {seed}"
    for event in events:  # event by event too, so a failure names the smallest case
        one = ical.FeedCalendar("c", "d", (event,))
        assert ical.render(one) == ical.build(one).to_ical(), (seed, event)


def test_reused_event_bytes_give_the_same_feed_and_only_new_events_are_written():
    rng = random.Random(7)
    events = _events(rng, 50)
    pieces: dict = {}
    first = ical.render(ical.FeedCalendar("c", "d", tuple(events)), pieces)
    assert len(pieces) == 50
    changed = [*events[1:], replace(events[0], sequence=events[0].sequence + 1)]
    kept = {e: pieces[e] for e in changed if e in pieces}
    second = ical.render(ical.FeedCalendar("c", "d", tuple(changed)), kept)
    assert len(kept) == 50  # 49 reused, one written
    assert first != second
    assert second == ical.build(ical.FeedCalendar("c", "d", tuple(changed))).to_ical()


def test_every_parser_reads_the_lean_writers_instants():
    rng = random.Random(11)
    events = _events(rng, 40)
    data = ical.render(ical.FeedCalendar("Shiftbridge: team", "d", tuple(events)))
    want = {e.uid: (ical._utc(e.starts_at), ical._utc(e.ends_at)) for e in events}
    for parsed in (parse_icalendar(data), parse_vobject(data), *parse_icaljs(data)):
        assert {uid: (v["start"], v["end"]) for uid, v in parsed.items() if uid != "__calendar__"} == want
