"""An outsider (signed in, on another team) gets 403 on every channel URL and API path, every method (issue #17).

The paths are read from the application's own URL map, not listed by hand, so a channel route added later is
checked without anyone remembering to add it here; only ``/channels`` (the outsider's own list) has no channel,
post, team or attachment in its path."""

from __future__ import annotations

import io

from channels import services
from core.db import db
from tests.channels.routes import FORM, MULTIPART, api_body, channel_routes, urls
from tests.conftest import login
from tests.factories import ward
from tests.handover.conftest import jpeg_with_gps


def api_request(method: str, url: str) -> dict:
    body = api_body(method, url)
    if body is MULTIPART:
        return {"data": {"file": (io.BytesIO(jpeg_with_gps()), "photo.jpg"), "text": "x",
                         "no_patient_information": "true"}, "content_type": "multipart/form-data"}
    return {} if body is None else {"json": body}


def _world(make, client, bearer):
    team, coord, (a, *_), _ = ward(make)
    channel = services.team_channel(team)
    db.session.commit()
    form = {"file": (io.BytesIO(jpeg_with_gps()), "photo.jpg"), "text": "New fridge", "no_patient_information": "true"}
    resp = client.post(f"/api/v1/channels/{channel.id}/attachments", headers=bearer(make.token(a)), data=form,
                       content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    post = resp.get_json()
    outsider = make.user()
    make.team("Ward 9", staff=[outsider])
    db.session.commit()
    return {"channel_id": channel.id, "post_id": post["id"], "team_id": team.id,
            "attachment_id": post["attachments"][0]["id"]}, outsider


def test_every_channel_route_is_in_the_list_this_test_walks(app):
    paths = {p for _, p, _ in channel_routes(app)}
    assert len(channel_routes(app)) >= 37, sorted(paths)
    # the API paths the issue names are all among them
    for path in ("/api/v1/teams/<int:team_id>/channels", "/api/v1/channels/<int:channel_id>/posts",
                 "/api/v1/posts/<int:post_id>", "/api/v1/posts/<int:post_id>/replies",
                 "/api/v1/channels/<int:channel_id>/read", "/api/v1/posts/<int:post_id>/acknowledge",
                 "/api/v1/posts/<int:post_id>/reactions"):
        assert path in paths, path


def test_an_outsider_gets_403_on_every_channel_api_path(app, client, make, bearer, tmp_path):
    app.config["CHANNELS_UPLOAD_DIR"] = str(tmp_path)
    ids, outsider = _world(make, client, bearer)
    headers = bearer(make.token(outsider))
    wrong = []
    for method, url in urls(app, ids):
        if not url.startswith("/api/"):
            continue
        resp = client.open(url, method=method, headers=headers, **api_request(method, url))
        if resp.status_code != 403 or resp.mimetype != "application/problem+json":
            wrong.append((method, url, resp.status_code))
    assert not wrong
    assert "New fridge" not in str(client.get(f"/api/v1/channels/{ids['channel_id']}/posts", headers=headers).data)


def test_an_outsider_gets_403_on_every_channel_page(app, client, make, bearer, tmp_path):
    app.config.update(CHANNELS_UPLOAD_DIR=str(tmp_path), WTF_CSRF_ENABLED=False)
    ids, outsider = _world(make, client, bearer)
    login(client, outsider)
    wrong = []
    checked = 0
    for method, url in urls(app, ids):
        if url.startswith("/api/"):
            continue
        checked += 1
        resp = client.open(url, method=method, data=FORM)
        if resp.status_code != 403:
            wrong.append((method, url, resp.status_code))
    assert checked >= 20 and not wrong
