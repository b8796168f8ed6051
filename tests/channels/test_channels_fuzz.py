"""Fuzz every channels API operation with *real* ids (issue #17: "documented in OpenAPI and fuzzed like the rest").

The suite-wide fuzz test reaches these operations too, but with random ids nearly every request is a 404; here
the channel, post, team and attachment exist, so generated bodies reach the services. Fails on any 5xx or any
response that does not match its documented schema or content type; a failure prints the replay command."""

from __future__ import annotations

import io
import re

from flask import g
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from tests import fuzzing
from tests.channels.routes import channel_routes
from tests.conftest import Factory
from tests.handover.conftest import jpeg_with_gps


def _openapi_paths(app) -> set[str]:
    return {re.sub(r"<(?:[^>]*:)?(\w+)>", r"{\1}", path) for _, path, _ in channel_routes(app)
            if path.startswith("/api/")}


def test_channel_endpoints_survive_fuzzing_with_real_ids(app, client, request, tmp_path):
    app.config["CHANNELS_UPLOAD_DIR"] = str(tmp_path)
    make = Factory()
    admin = make.admin()
    nurse = make.user()
    team = make.team("Fuzz ward", coordinators=[admin], staff=[nurse])
    db.session.commit()
    headers = {"Authorization": f"Bearer {make.token(admin)}"}
    channel = client.get(f"/api/v1/teams/{team.id}/channels", headers=headers).get_json()[0]
    form = {"file": (io.BytesIO(jpeg_with_gps()), "photo.jpg"), "text": "New fridge", "no_patient_information": "true"}
    post = client.post(f"/api/v1/channels/{channel['id']}/attachments", headers=headers, data=form,
                       content_type="multipart/form-data").get_json()
    ids = {"team_id": team.id, "channel_id": channel["id"], "post_id": post["id"],
           "attachment_id": post["attachments"][0]["id"]}
    documented = _openapi_paths(app)
    operations = fuzzing.operations(app, lambda path: path in documented)
    assert len(operations) == 23, sorted(f"{o.method} {o.path}" for o in operations)  # every channels API route

    def prepare(case):
        if case.path_parameters:
            case.path_parameters = {k: ids.get(k, v) for k, v in case.path_parameters.items()}
        # the generated case carries junk bearer tokens for the documented security scheme; send the real one
        case.headers = {**(case.headers or {}), **headers}
        # requests made inside the test's app context share its ``g``: forget the caller of the previous one
        for key in ("_login_user", "auth_via_token", "session_ended", "session_ended_user_id"):
            g.pop(key, None)

    fuzzing.fuzz(request, operations, headers=headers, examples=10, prepare=prepare, derandomize=True)
    reached = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == admin.id)))
    # the generated requests got past validation into the services, not just 404s and 422s
    print("REACHED", sorted(reached))
    assert {"channel.posted", "channel.post_edited", "channel.notifications_set"} <= reached, reached
