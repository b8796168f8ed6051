"""#17 emoji acknowledgements: a reaction counts once per person, a second tap takes it back, only the offered emoji
are accepted."""

from __future__ import annotations

from tests.factories import ward


def test_reactions_count_each_person_once_toggle_and_refuse_other_emoji(client, make, bearer):
    team, _coord, (a, b, c), _ = ward(make)
    ta, tb, tc = make.token(a), make.token(b), make.token(c)
    channel = client.get(f"/api/v1/teams/{team.id}/channels", headers=bearer(ta)).get_json()[0]
    pid = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "Running 10 min late"},
                      headers=bearer(ta)).get_json()["id"]
    url = f"/api/v1/posts/{pid}/reactions"
    client.post(url, json={"emoji": "👍"}, headers=bearer(tb))
    assert client.post(url, json={"emoji": "👍"}, headers=bearer(tc)).get_json() == [
        {"emoji": "👍", "count": 2, "mine": True}]
    assert client.post(url, json={"emoji": "👍"}, headers=bearer(tc)).get_json() == [
        {"emoji": "👍", "count": 1, "mine": False}]  # the second tap takes hers back
    bad = client.post(url, json={"emoji": "🍕"}, headers=bearer(tc))
    assert bad.status_code == 422
    seen = client.get(f"/api/v1/posts/{pid}", headers=bearer(ta)).get_json()["reactions"]
    assert seen == [{"emoji": "👍", "count": 1, "mine": False}]
