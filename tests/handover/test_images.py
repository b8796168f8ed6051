"""Handover photos: bounded memory (issue #13 item 7). A photo is refused, with a message saying why, before it is
decoded when decoding it would take more than HANDOVER_IMAGE_MEMORY_MB; JPEGs are decoded at reduced size; a worker
processes at most HANDOVER_IMAGE_CONCURRENCY photos at once and says "busy, try again" instead of queueing.

Memory is measured as the peak RSS of a fresh process (bench/bench_images.py), which counts Pillow's C buffers."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops
from sqlalchemy import select

from bench.bench_images import heic, jpeg, measure, png
from core.db import db
from handover import images
from handover.models import HandoverImage
from tests.conftest import login
from tests.handover.conftest import add_patients, jpeg_with_gps, start
from tests.handover.test_pages import follow

BUDGET_MB = 150  # issue #13: processing the worst accepted photo must not cost a worker more than this
ISSUE_PNG = (7744, 5164)  # 40 MP, RGBA: ~160 KB on disk, ~620 MB to process before the fix


@pytest.fixture
def tokens(ward, make):
    return {"outgoing": make.token(ward.outgoing)}


def _post_api(client, bearer, tokens, h, p, data, name="x.png"):
    return client.post(f"/api/v1/handovers/{h.id}/entries/{p.id}/images", headers=bearer(tokens["outgoing"]),
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_the_40_megapixel_transparent_png_is_refused_with_a_reason_in_the_api_and_on_the_page(client, ward, tokens,
                                                                                                bearer):
    p, = add_patients(ward, 1)
    h = start(ward)
    data = png(*ISSUE_PNG, "RGBA")
    assert len(data) < 200 * 1024  # small file, huge decoded
    resp = _post_api(client, bearer, tokens, h, p, data)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.status_code
    message = resp.json["errors"]["file"][0]
    assert "too big to process" in message and "7744 × 5164" in message and "transparency" in message
    assert "JPEG" in message  # tells the user what to send instead
    login(client, ward.outgoing)
    page = follow(client, client.post(f"/handover/{h.id}/patients/{p.id}/images",
                                      data={"photo": (io.BytesIO(data), "screen.png")},
                                      content_type="multipart/form-data")).get_data(as_text=True)
    assert "Photo not attached: This photo is too big to process" in page
    assert db.session.scalar(select(HandoverImage)) is None


@pytest.mark.parametrize("kind", ["issue png", "40 MP jpeg", "largest transparent png", "largest progressive jpeg",
                                  "24 MP heic"])
def test_processing_a_photo_costs_at_most_the_memory_budget_or_is_refused(kind):
    if kind == "issue png":
        data = png(*ISSUE_PNG, "RGBA")
    elif kind == "40 MP jpeg":
        data = jpeg(7744, 5164)
    elif kind == "24 MP heic":  # an iPhone 15's default photo size
        pytest.importorskip("pillow_heif")
        data = heic(5712, 4284)
    else:
        fmt, mode, progressive = ("PNG", "RGBA", False) if kind == "largest transparent png" else ("JPEG", "RGB", True)
        side = int((images.megapixel_cap(fmt, mode, progressive=progressive) * 1e6 / 12) ** 0.5)
        data = png(4 * side, 3 * side, "RGBA") if fmt == "PNG" else jpeg(4 * side, 3 * side, progressive=True)
    result = measure(data)
    if kind == "issue png":
        assert result["outcome"].startswith("refused (422): This photo is too big to process"), result
    else:
        assert result["outcome"].startswith("accepted"), result
    assert result["used_mb"] <= BUDGET_MB, result


def test_a_photo_over_its_kinds_cap_is_refused_just_above_and_accepted_just_below(app, ward):
    cap = images.megapixel_cap("PNG", "RGBA")
    assert cap < images.MAX_PIXELS / 1e6  # transparent PNGs get a lower cap than the 40 MP of a camera photo
    unit = int((cap * 1e6 / 12) ** 0.5)  # the cap is for 4:3 photos
    assert images.reencode(png(4 * unit, 3 * unit, "RGBA"))[2:4] == (2048, 1536)
    with pytest.raises(images.ValidationFailed, match="too big to process"):
        images.reencode(png(4 * unit + 8, 3 * unit + 6, "RGBA"))


def test_a_heic_photo_is_resized_band_by_band_as_a_whole_picture_resize(app):
    pillow_heif = pytest.importorskip("pillow_heif")
    import os

    noise = Image.frombytes("RGB", (2100, 300), os.urandom(2100 * 300 * 3)).resize((4200, 600))
    buf = io.BytesIO()
    pillow_heif.from_pillow(noise).save(buf, quality=40)
    decoded = pillow_heif.open_heif(io.BytesIO(buf.getvalue())).to_pillow()
    full, thumb, width, height, fmt = images.reencode(buf.getvalue())
    assert (width, height, fmt) == (2048, 293, "HEIF")
    whole = decoded.resize((2048, 293), Image.Resampling.LANCZOS)
    difference = ImageChops.difference(images.heif_reduced(buf.getvalue()), whole)
    assert max(high for _, high in difference.getextrema()) <= 1  # at most a rounding step, no seams between bands


def test_jpeg_orientation_is_applied_after_reduced_size_decoding(app):
    img = Image.new("RGB", (4000, 2000), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    full, thumb, width, height, fmt = images.reencode(buf.getvalue())
    assert (width, height) == (1024, 2048) and fmt == "JPEG"
    assert Image.open(io.BytesIO(thumb)).size == (160, 320)
    assert not Image.open(io.BytesIO(full)).getexif()


def test_a_busy_worker_says_try_again_instead_of_queueing(app, client, ward, tokens, bearer):
    app.config["HANDOVER_IMAGE_WAIT_SECONDS"] = 0
    p, = add_patients(ward, 1)
    h = start(ward)
    with images.processing_slot():  # every slot of this process is taken by another upload
        resp = _post_api(client, bearer, tokens, h, p, jpeg_with_gps(), "w.jpg")
        assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
        assert "busy processing other photos" in resp.json["detail"] and resp.headers["Retry-After"]
        login(client, ward.outgoing)
        page = follow(client, client.post(f"/handover/{h.id}/patients/{p.id}/images",
                                          data={"photo": (io.BytesIO(jpeg_with_gps()), "w.jpg")},
                                          content_type="multipart/form-data")).get_data(as_text=True)
        assert "Photo not attached: The server is busy processing other photos" in page
    assert db.session.scalar(select(HandoverImage)) is None
    # the slot is free again: the same photo goes through
    assert _post_api(client, bearer, tokens, h, p, jpeg_with_gps(), "w.jpg").status_code == 201
