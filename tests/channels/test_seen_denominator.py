""""Seen by n of m": the m is a rule of channels.services (members now, the author aside only while a member)."""

from __future__ import annotations

from channels import reading, services
from channels.models import Post
from core.db import db
from tests.conftest import login
from tests.factories import ward


def test_seen_denominator_counts_members_less_an_author_who_is_one():
    assert reading.seen_denominator(Post(author_id=7), [5, 6, 7, 8]) == 3  # the author cannot "see" their own
    assert reading.seen_denominator(Post(author_id=None), [5, 6, 7, 8]) == 4  # a Shiftbridge (system) post
    assert reading.seen_denominator(Post(author_id=9), [5, 6, 7, 8]) == 4  # the author has left the channel
    assert reading.seen_denominator(Post(author_id=7), []) == 0


def test_the_page_says_of_how_many_after_the_author_left(app, client, make):
    app.config["WTF_CSRF_ENABLED"] = False
    team, coord, (a, b, c), _ = ward(make)
    channel = services.team_channel(team)
    p = services.post(channel, a, "Bay 3 needs a hand")
    a.active = False  # a leaver drops out of the channel at once
    db.session.commit()
    login(client, b)
    page = client.get(f"/channels/{channel.id}").get_data(as_text=True)
    assert "Seen by 0 of 3</a>" in page  # coordinator, b and c: the leaver is not subtracted twice
    seen = client.get(f"/channels/{channel.id}/posts/{p.id}/seen").get_data(as_text=True)
    assert "Seen by 1 of 3<" in seen  # b has read it by opening the channel
