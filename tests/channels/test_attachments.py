"""Photos and PDFs on channel posts (issue #17): the handover's photo pipeline (re-encoded, EXIF/GPS gone, the
same limits and refusals), a short allow-list of files, served only to the channel's members, never cached, gone
with the post, kept under legal hold; bad input is a clear refusal with nothing stored and the typed text kept."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from bench.bench_images import png
from channels import governance
from channels.models import Attachment, Channel, Post
from core.db import db, now_utc
from core.images import processing_slot
from tests.conftest import login
from tests.factories import ward
from tests.handover.conftest import jpeg_with_gps

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
ISSUE_PNG = (7744, 5164)  # the 40 MP transparent PNG of handover issue #13


@pytest.fixture
def files_dir(app, tmp_path):
    app.config["CHANNELS_UPLOAD_DIR"] = str(tmp_path)
    return tmp_path


@pytest.fixture
def team_channel(client, make, bearer, files_dir):
    team, coord, (a, b, c), _ = ward(make)
    channel = client.get(f"/api/v1/teams/{team.id}/channels", headers=bearer(make.token(a))).get_json()[0]
    return team, coord, a, b, channel


def _upload(client, bearer, token, channel_id, data, name="photo.jpg", text="", confirm=True):
    form = {"file": (io.BytesIO(data), name), "text": text}
    if confirm:
        form["no_patient_information"] = "true"
    return client.post(f"/api/v1/channels/{channel_id}/attachments", headers=bearer(token), data=form,
                       content_type="multipart/form-data")


def _nothing_stored(files_dir):
    assert db.session.scalar(select(func.count(Post.id))) == 0
    assert db.session.scalar(select(func.count(Attachment.id))) == 0
    assert list(files_dir.iterdir()) == []


def test_a_photo_is_re_encoded_without_its_location_and_only_members_can_open_it(client, make, bearer, team_channel):
    team, coord, a, b, channel = team_channel
    resp = _upload(client, bearer, make.token(a), channel["id"], jpeg_with_gps(), text="New drug fridge in the sluice")
    assert resp.status_code == 201, resp.get_json()
    post = resp.get_json()
    [att] = post["attachments"]
    assert post["text"] == "New drug fridge in the sluice" and att["kind"] == "photo"
    assert (att["width"], att["height"], att["content_type"]) == (640, 480, "image/jpeg")

    got = client.get(att["api_url"], headers=bearer(make.token(b)))  # another member
    assert got.status_code == 200 and got.mimetype == "image/jpeg"
    assert got.headers["Cache-Control"] == "no-store" and got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"].startswith("inline")
    photo = Image.open(io.BytesIO(got.data))
    assert not photo.getexif() and "comment" not in photo.info
    assert b"SecretCam" not in got.data and b"patient wound" not in got.data
    assert client.get(att["api_url"] + "?size=thumb", headers=bearer(make.token(b))).status_code == 200

    outsider = make.user()
    other_team = make.team(staff=[outsider])
    assert other_team.id != team.id
    assert client.get(att["api_url"], headers=bearer(make.token(outsider))).status_code == 403
    login(client, outsider)
    assert client.get(att["url"]).status_code == 403
    assert client.get(att["url"] + "?size=thumb").status_code == 403


def test_a_pdf_is_downloaded_never_opened_in_the_site(client, make, bearer, team_channel):
    team, coord, a, b, channel = team_channel
    resp = _upload(client, bearer, make.token(a), channel["id"], PDF, name="../../December rota (v2).pdf")
    assert resp.status_code == 201, resp.get_json()
    [att] = resp.get_json()["attachments"]
    assert att["kind"] == "file" and att["filename"] == "December rota _v2_.pdf" and att["thumb_url"] is None
    got = client.get(att["api_url"], headers=bearer(make.token(b)))
    assert got.status_code == 200 and got.mimetype == "application/pdf" and got.data == PDF
    assert got.headers["Content-Disposition"] == 'attachment; filename="December rota _v2_.pdf"'
    assert got.headers["Cache-Control"] == "no-store" and got.headers["X-Content-Type-Options"] == "nosniff"
    # a name in another script is kept, and sent in the header's RFC 5987 form (not a 500)
    resp = _upload(client, bearer, make.token(a), channel["id"], PDF, name="Графік змін.pdf")
    [att] = resp.get_json()["attachments"]
    assert att["filename"] == "Графік змін.pdf"
    got = client.get(att["api_url"], headers=bearer(make.token(b)))
    assert got.status_code == 200 and "filename*=UTF-8''" in got.headers["Content-Disposition"]


@pytest.mark.parametrize("case", ["wrong type", "html named pdf", "pdf too big", "photo too big", "40 MP png",
                                  "unreadable image", "empty", "not confirmed", "nhs number in caption",
                                  "nhs number in file name"])
def test_bad_uploads_are_refused_clearly_and_store_nothing(app, client, make, bearer, team_channel, files_dir, case):
    team, coord, a, b, channel = team_channel
    data, name, text, confirm = jpeg_with_gps(), "photo.jpg", "", True
    expect = None
    if case == "wrong type":
        data, name, expect = b"GIF89a" + b"\0" * 64, "x.gif", "Only photos and PDF files can be attached here"
    elif case == "html named pdf":
        data, name, expect = b"<html><script>alert(1)</script>", "rota.pdf", "Only photos and PDF files"
    elif case == "pdf too big":
        app.config["CHANNELS_FILE_MAX_BYTES"] = 1024
        data, name, expect = PDF + b"0" * 2048, "big.pdf", "The limit for a PDF is"
    elif case == "photo too big":
        app.config["HANDOVER_IMAGE_MAX_BYTES"] = 1024
        expect = "The photo is too large"
    elif case == "40 MP png":
        data, name, expect = png(*ISSUE_PNG, "RGBA"), "screen.png", "This photo is too big to process: 7744 × 5164"
    elif case == "unreadable image":
        data, expect = b"\xff\xd8\xff" + b"junk" * 50, "That file is not a readable image"
    elif case == "empty":
        data, expect = b"", "The file is empty"
    elif case == "not confirmed":
        confirm, expect = False, "shows no patient information"
    elif case == "nhs number in caption":
        text, expect = "Bed 4 is 943 476 5919", "move this to the handover"
    else:
        name, expect = "943 476 5919 wound.jpg", "move this to the handover"
    resp = _upload(client, bearer, make.token(a), channel["id"], data, name=name, text=text, confirm=confirm)
    assert resp.status_code == 422, (resp.status_code, resp.get_json())
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert expect in body["detail"] or any(expect in m for ms in (body.get("errors") or {}).values() for m in ms), body
    _nothing_stored(files_dir)


def test_the_40_megapixel_png_gets_the_handovers_refusal_on_the_phone_page_and_keeps_the_typed_text(
        client, make, team_channel, files_dir):
    team, coord, a, b, channel = team_channel
    login(client, a)
    resp = client.post(f"/channels/{channel['id']}/posts", content_type="multipart/form-data",
                       data={"text": "Photo of the new escalation flowchart", "no_patient_information": "y",
                             "file": (io.BytesIO(png(*ISSUE_PNG, "RGBA")), "screen.png")})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "This photo is too big to process: 7744 × 5164 pixels" in page and "send it as a JPEG" in page
    assert "Photo of the new escalation flowchart</textarea>" in page
    _nothing_stored(files_dir)
    # the unconfirmed photo: the checkbox is asked for, the text stays
    resp = client.post(f"/channels/{channel['id']}/posts", content_type="multipart/form-data",
                       data={"text": "Fridge temp chart", "file": (io.BytesIO(jpeg_with_gps()), "chart.jpg")})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'data-testid="confirm-error"' in page and "Fridge temp chart</textarea>" in page
    _nothing_stored(files_dir)
    # confirmed: posted and shown as a thumbnail
    resp = client.post(f"/channels/{channel['id']}/posts", content_type="multipart/form-data",
                       data={"text": "Fridge temp chart", "no_patient_information": "y",
                             "file": (io.BytesIO(jpeg_with_gps()), "chart.jpg")})
    assert resp.status_code == 302
    page = client.get(f"/channels/{channel['id']}").get_data(as_text=True)
    assert 'data-testid="attachment-photo"' in page and 'enctype="multipart/form-data"' in page


def test_a_busy_worker_says_try_again(app, client, make, bearer, team_channel, files_dir):
    app.config["HANDOVER_IMAGE_WAIT_SECONDS"] = 0
    team, coord, a, b, channel = team_channel
    with processing_slot():  # every photo slot of this process is taken (by a handover photo, say)
        resp = _upload(client, bearer, make.token(a), channel["id"], jpeg_with_gps())
        assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
        assert "busy processing other photos" in resp.get_json()["detail"] and resp.headers["Retry-After"]
    _nothing_stored(files_dir)
    assert _upload(client, bearer, make.token(a), channel["id"], jpeg_with_gps()).status_code == 201


def test_attachments_go_with_the_post_and_stay_under_legal_hold(client, make, bearer, team_channel, files_dir):
    team, coord, a, b, channel = team_channel
    ta = make.token(a)
    first = _upload(client, bearer, ta, channel["id"], jpeg_with_gps()).get_json()
    assert len(list(files_dir.iterdir())) == 2  # the photo and its thumbnail
    assert client.delete(f"/api/v1/posts/{first['id']}", headers=bearer(ta)).status_code == 200
    assert list(files_dir.iterdir()) == [] and db.session.scalar(select(func.count(Attachment.id))) == 0
    assert client.get(first["attachments"][0]["api_url"], headers=bearer(ta)).status_code == 404

    db.session.get(Channel, channel["id"]).legal_hold = True
    db.session.commit()
    held = _upload(client, bearer, ta, channel["id"], PDF, name="notice.pdf").get_json()
    assert client.delete(f"/api/v1/posts/{held['id']}", headers=bearer(ta)).get_json()["attachments"] == []
    assert len(list(files_dir.iterdir())) == 1  # kept for the hold...
    assert db.session.scalar(select(Attachment.deleted_at)) is not None
    assert client.get(held["attachments"][0]["api_url"], headers=bearer(ta)).status_code == 404  # ...not served


def test_retention_purges_the_files_with_the_posts(client, make, bearer, team_channel, files_dir):
    team, coord, a, b, channel = team_channel
    old = _upload(client, bearer, make.token(a), channel["id"], PDF, name="old.pdf").get_json()
    db.session.get(Post, old["id"]).created_at = now_utc() - timedelta(days=120)
    db.session.commit()
    assert len(list(files_dir.iterdir())) == 1
    assert governance.purge_expired() == 1
    assert len(list(files_dir.iterdir())) == 1  # not before the commit: a rolled-back purge keeps them
    db.session.commit()
    assert list(files_dir.iterdir()) == [] and db.session.scalar(select(func.count(Attachment.id))) == 0


def test_the_subject_access_export_lists_the_persons_photos_and_files(client, make, bearer, team_channel):
    team, coord, a, b, channel = team_channel
    _upload(client, bearer, make.token(a), channel["id"], PDF, name="Fire drill.pdf")
    data = governance.export_person(a.email)
    assert [(x["kind"], x["filename"], x["bytes"]) for x in data["attachments"]] == [("file", "Fire drill.pdf",
                                                                                       len(PDF))]
    assert "1 photo(s) or file(s)" in governance.export_html(data)


def test_a_thread_reply_can_carry_a_photo_by_api_and_on_the_page(client, make, bearer, team_channel, files_dir):
    team, coord, a, b, channel = team_channel
    parent = client.post(f"/api/v1/channels/{channel['id']}/posts", headers=bearer(make.token(a)),
                         json={"text": "Which sling goes with the new hoist?"}).get_json()
    url = f"/api/v1/posts/{parent['id']}/replies/attachments"
    resp = client.post(url, headers=bearer(make.token(b)), content_type="multipart/form-data",
                       data={"file": (io.BytesIO(jpeg_with_gps()), "sling.jpg"), "text": "This one",
                             "no_patient_information": "true"})
    assert resp.status_code == 201, resp.get_json()
    reply = resp.get_json()
    assert reply["parent_id"] == parent["id"] and reply["text"] == "This one"
    [att] = reply["attachments"]
    got = client.get(att["api_url"], headers=bearer(make.token(a)))
    assert got.status_code == 200 and not Image.open(io.BytesIO(got.data)).getexif()
    replies = client.get(f"/api/v1/posts/{parent['id']}/replies", headers=bearer(make.token(a))).get_json()["items"]
    assert [r["attachments"][0]["kind"] for r in replies] == ["photo"]
    # unconfirmed: a problem+json, nothing more stored
    bad = client.post(url, headers=bearer(make.token(b)), content_type="multipart/form-data",
                      data={"file": (io.BytesIO(jpeg_with_gps()), "sling.jpg")})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert db.session.scalar(select(func.count(Attachment.id))) == 1

    # the thread page: the reply form takes a photo and the reply shows it
    login(client, a)
    thread = f"/channels/{channel['id']}/posts/{parent['id']}"
    page = client.get(thread).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'data-testid="attachment-photo"' in page
    resp = client.post(f"{thread}/replies", content_type="multipart/form-data",
                       data={"text": "Thanks", "file": (io.BytesIO(jpeg_with_gps()), "x.jpg")})
    assert resp.status_code == 422 and "Thanks</textarea>" in resp.get_data(as_text=True)
    resp = client.post(f"{thread}/replies", content_type="multipart/form-data",
                       data={"text": "", "no_patient_information": "y",
                             "file": (io.BytesIO(jpeg_with_gps()), "label.jpg")})
    assert resp.status_code == 302
    assert db.session.scalar(select(func.count(Attachment.id))) == 2
    assert client.get(thread).get_data(as_text=True).count('data-testid="attachment-photo"') == 2
