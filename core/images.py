"""The photo pipeline shared by handover images and channel photos: checked, re-encoded without metadata,
thumbnailed, with bounded memory and a bounded number of photos processed at once per worker.

Every upload is decoded by Pillow and written out again as a fresh JPEG: nothing of the original file (EXIF, GPS,
XMP, ICC, maker notes, trailing bytes) survives. HEIC from iPhones is decoded with pillow-heif when it is installed;
without it HEIC is refused with a message that says so.

Memory is bounded (issue #13): the peak a photo's processing takes is computed from its header (``_Shape``) and a
photo over ``HANDOVER_IMAGE_MEMORY_MB`` is refused, with its kind's megapixel cap, before a pixel is decoded. The
settings keep the name of their first user (``HANDOVER_IMAGE_*``): the budget and the processing slots are the
worker's, shared by every package that accepts photos.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from dataclasses import dataclass

from flask import current_app, has_app_context
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from core import limits
from core.errors import Busy, ValidationFailed

try:  # optional: iPhone photos
    import pillow_heif

    pillow_heif.register_heif_opener()
    pillow_heif.options.DECODE_THREADS = 1  # one decode thread: no per-thread buffers, and the slot below is per photo
    HEIC_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the deployment
    HEIC_SUPPORTED = False

ALLOWED_FORMATS = {"JPEG", "PNG", "HEIF"} if HEIC_SUPPORTED else {"JPEG", "PNG"}
MAX_PIXELS = limits.IMAGE_MAX_PIXELS
FULL_EDGE = limits.IMAGE_FULL_EDGE
THUMB_EDGE = limits.IMAGE_THUMB_EDGE

# Working memory (bench/bench_images.py measures the real peaks against this model). Pillow holds RGB, RGBA and CMYK
# as 4 bytes a pixel, grey and palette as 1 (_STORED); _REDUCIBLE modes are resized without a full-size conversion.
_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_REDUCIBLE = {"L", "RGB", "RGBA", "LA", "CMYK"}
PREMULTIPLIED = 4  # resizing a photo with transparency works on a premultiplied full-size copy
HEIF_DECODER = 4.5  # libheif's decoded RGB buffer and its working planes (the picture is then resized band by band)
SLACK = 8 * 1024 * 1024  # decoder and encoder state, allocator rounding


def max_bytes() -> int:
    return int(current_app.config.get("HANDOVER_IMAGE_MAX_BYTES", limits.IMAGE_MAX_BYTES))


def memory_budget() -> int:
    """Bytes one photo may take to process (``HANDOVER_IMAGE_MEMORY_MB``, default 150)."""
    megabytes = current_app.config.get("HANDOVER_IMAGE_MEMORY_MB", limits.IMAGE_MEMORY_MB) if has_app_context() \
        else limits.IMAGE_MEMORY_MB
    return int(megabytes) * 1024 * 1024


def _refuse(message: str):
    raise ValidationFailed(message, errors={"file": [message]})


def _kinds() -> str:
    return "JPEG, PNG" + (" or HEIC" if HEIC_SUPPORTED else "")


@dataclass(frozen=True)
class _Shape:
    """What the file's header says, enough to know the memory its processing takes before decoding a pixel."""

    fmt: str
    mode: str
    alpha: bool = False
    coefficients: float = 0.0  # progressive JPEG: DCT coefficients kept per pixel (1.5 for 4:2:0 colour)

    def working_bytes(self, width: int, height: int) -> int:
        """Peak bytes of processing a ``width`` x ``height`` photo of this kind (checked by bench/bench_images.py)."""
        out_width, out_height = _fitted(width, height, FULL_EDGE)
        if self.fmt == "HEIF":  # libheif's buffer, resized band by band; then the resized photo and its copies
            return int(width * height * (HEIF_DECODER + self.alpha) + 3 * 4 * out_width * out_height + SLACK)
        decoded_width, decoded_height = _jpeg_scaled(width, height) if self.fmt == "JPEG" else (width, height)
        pixels = decoded_width * decoded_height
        cost = pixels * _STORED.get(self.mode, 4) + 4 * out_width * out_height + SLACK
        if self.mode not in _REDUCIBLE:
            cost += pixels * 4  # converted to RGB(A) at full size first
        if self.alpha:
            cost += pixels * PREMULTIPLIED
        # Image.thumbnail: an optional 1/n reduction, then a two-pass resize through an out_width x rows intermediate
        factor_x, factor_y = int(decoded_width / out_width / 2) or 1, int(decoded_height / out_height / 2) or 1
        rows = -(-decoded_height // factor_y)
        if factor_x > 1 or factor_y > 1:
            cost += 4 * -(-decoded_width // factor_x) * rows
        cost += 4 * out_width * rows
        return int(cost + width * height * 2 * self.coefficients)  # libjpeg keeps every coefficient as 2 bytes

    def megapixel_cap(self, aspect: float = 4 / 3) -> float:
        """The largest photo of this kind (and aspect) that fits the memory budget, in megapixels."""
        budget, low, high = memory_budget(), 0.0, MAX_PIXELS / 1e6
        for _ in range(40):
            mid = (low + high) / 2
            width = int((mid * 1e6 * aspect) ** 0.5)
            low, high = (mid, high) if self.working_bytes(width, int(mid * 1e6 / width)) <= budget else (low, mid)
        return low


def _jpeg_scaled(width: int, height: int) -> tuple[int, int]:
    """The size libjpeg decodes to when asked for the final size (``Image.draft``: 1/2, 1/4 or 1/8 in the DCT)."""
    target = _fitted(width, height, FULL_EDGE)
    scale = min(width // target[0], height // target[1])
    s = next(s for s in (8, 4, 2, 1) if scale >= s)
    return (width + s - 1) // s, (height + s - 1) // s


def _fitted(width: int, height: int, edge: int) -> tuple[int, int]:
    factor = min(1.0, edge / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def _shape(probe) -> _Shape:
    alpha = probe.mode in ("RGBA", "LA", "PA") or (probe.mode == "P" and "transparency" in probe.info)
    coefficients = 0.0
    if probe.format == "JPEG" and (probe.info.get("progressive") or probe.info.get("progression")):
        layers = getattr(probe, "layer", None) or [("", 1, 1, 0)] * len(probe.getbands())
        h_max, v_max = max(h for _, h, _, _ in layers), max(v for _, _, v, _ in layers)
        coefficients = sum(h * v for _, h, v, _ in layers) / (h_max * v_max)
    return _Shape(probe.format, probe.mode, alpha, coefficients)


def megapixel_cap(fmt: str, mode: str, *, progressive: bool = False, alpha: bool | None = None) -> float:
    """Largest accepted 4:3 photo of a kind, in megapixels (progressive JPEGs assumed 4:2:0 colour)."""
    alpha = mode in ("RGBA", "LA", "PA") if alpha is None else alpha
    return _Shape(fmt, mode, alpha, 1.5 if progressive else 0.0).megapixel_cap()


def processing_slot():
    """One of ``HANDOVER_IMAGE_CONCURRENCY`` (default 1) photo-processing slots of this worker process, waited for up
    to ``HANDOVER_IMAGE_WAIT_SECONDS`` (default 10); then ``Busy`` (503, "try again") rather than an unbounded
    queue of uploads, each holding its decoded pixels."""
    size = int(current_app.config.get("HANDOVER_IMAGE_CONCURRENCY", limits.IMAGE_CONCURRENCY))
    wait = float(current_app.config.get("HANDOVER_IMAGE_WAIT_SECONDS", limits.IMAGE_WAIT_SECONDS))
    with _SLOTS_LOCK:
        slots = _SLOTS.setdefault(size, threading.BoundedSemaphore(size))
    return _Slot(slots, wait)


class _Slot:
    def __init__(self, semaphore, wait: float):
        self.semaphore, self.wait = semaphore, wait

    def __enter__(self):
        if not self.semaphore.acquire(timeout=self.wait):
            raise Busy("The server is busy processing other photos. Try again in a minute.",
                       retry_after=30)
        return self

    def __exit__(self, *exc):
        self.semaphore.release()
        return False


_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()

_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def reencode(data: bytes) -> tuple[bytes, bytes, int, int, str]:
    """Return (full JPEG, thumbnail JPEG, width, height, original format) or refuse with a clear message.

    Memory is bounded: the header (size, mode) is read first and a photo whose processing would take more than
    ``memory_budget()`` is refused before any pixel is decoded; JPEGs are decoded at reduced size in the DCT
    (``draft``); everything else happens on the reduced picture; at most ``HANDOVER_IMAGE_CONCURRENCY`` photos are
    processed at once per worker."""
    limit = max_bytes()
    if not data:
        _refuse(f"The file is empty. Choose a photo ({_kinds()}).")
    if len(data) > limit:
        _refuse(f"The photo is too large ({len(data) / 1048576:.1f} MB). The limit is {limit / 1048576:.0f} MB.")
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc", b"ftypheim") and not HEIC_SUPPORTED:
        _refuse("HEIC photos cannot be read on this server (no HEIC decoder installed). Set the camera to "
                "'Most compatible' (JPEG) or send a JPEG or PNG.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:  # lazy: only the header has been read
                fmt = probe.format
                if fmt not in ALLOWED_FORMATS:
                    _refuse(f"Only photos can be attached: {_kinds()} (this file is {fmt or 'not an image'}).")
                if probe.width * probe.height > MAX_PIXELS:
                    _refuse("The photo has too many pixels to be a camera photo.")
                _check_memory(probe)
                with processing_slot():
                    image = heif_reduced(data) if fmt == "HEIF" else _reduced(probe)
                    full, thumb = io.BytesIO(), io.BytesIO()
                    image.save(full, "JPEG", quality=85, optimize=True)
                    ImageOps.contain(image, (THUMB_EDGE, THUMB_EDGE)).save(thumb, "JPEG", quality=80)
    except (ValidationFailed, Busy):
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
            SyntaxError, ValueError, TypeError, EOFError, RuntimeError) as exc:
        _refuse(f"That file is not a readable image. Attach a photo ({_kinds()}). ({type(exc).__name__})")
    return full.getvalue(), thumb.getvalue(), image.width, image.height, fmt


def _check_memory(probe) -> None:
    shape = _shape(probe)
    if shape.working_bytes(probe.width, probe.height) <= memory_budget():
        return
    kind = {"HEIF": "A HEIC photo", "PNG": "A PNG image with transparency" if shape.alpha else "A PNG image",
            "JPEG": "A progressive JPEG" if shape.coefficients else "A JPEG"}[shape.fmt]
    instead = ("set the iPhone camera to 'Most Compatible' (JPEG)" if shape.fmt == "HEIF"
               else "send it as a JPEG" if shape.fmt == "PNG" else "send a smaller copy")
    cap = shape.megapixel_cap(probe.width / probe.height)
    _refuse(f"This photo is too big to process: {probe.width} × {probe.height} pixels "
            f"({probe.width * probe.height / 1e6:.0f} megapixels). {kind} can be at most {cap:.0f} megapixels "
            f"here: {instead}, or take the photo at a lower resolution.")


def heif_reduced(data: bytes) -> Image.Image:
    """HEIC: libheif decodes into its own buffer (already upright); that buffer is resized band by band, each band
    read with enough rows around it for the filter, so the result equals a whole-picture resize while the full-size
    picture never exists a second time as a Pillow image."""
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    if heif.mode not in ("RGB", "RGBA", "L"):
        return _reduced(heif.to_pillow())
    (width, height), mode = heif.size, heif.mode
    pixels, stride = memoryview(heif.data), heif.stride
    out_width, out_height = _fitted(width, height, FULL_EDGE)
    scale = height / out_height
    margin = math.ceil(3 * scale) + 1  # Lanczos reaches 3 output rows either side
    reduced = Image.new(mode, (out_width, out_height))
    for y in range(0, out_height, 64):
        y_end = min(out_height, y + 64)
        top, bottom = max(0, math.floor(y * scale) - margin), min(height, math.ceil(y_end * scale) + margin)
        band = Image.frombytes(mode, (width, bottom - top), pixels[top * stride:bottom * stride], "raw", mode, stride)
        reduced.paste(band.resize((out_width, y_end - y), Image.Resampling.LANCZOS,
                                  box=(0, y * scale - top, width, y_end * scale - top)), (0, y))
    return _reduced(reduced)


def _reduced(probe) -> Image.Image:
    """The photo at most FULL_EDGE on its long side, upright, opaque, as a new image made from the pixels alone (no
    info dict, EXIF or ICC profile is carried across). Nothing is converted or copied at full size that the memory
    estimate does not count."""
    target = _fitted(probe.width, probe.height, FULL_EDGE)
    if probe.format == "JPEG":
        probe.draft("RGB" if probe.mode == "RGB" else None, target)  # DCT scaling: 1/2, 1/4 or 1/8 of the pixels
    probe.load()
    orientation = probe.getexif().get(ExifTags.Base.Orientation)  # read before the pixels leave the file object
    image = probe
    if image.mode not in _REDUCIBLE:
        image = image.convert("RGBA" if _shape(probe).alpha else "RGB")
    image.thumbnail((FULL_EDGE, FULL_EDGE))
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])  # keep the photo upright once the EXIF tag is gone
    clean = Image.new("RGB" if image.mode != "L" else "L", image.size, "white")
    if image.mode in ("RGBA", "LA"):
        clean.paste(image, mask=image)  # flatten transparency onto white
    else:
        clean.paste(image if image.mode in ("RGB", "L") else image.convert("RGB"))
    return clean
