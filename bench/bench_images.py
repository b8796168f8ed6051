"""Handover photos: peak memory (RSS) of re-encoding the worst photo of each kind the server still accepts, and of the
40-megapixel transparent PNG from issue #13 (155 KB on disk, ~620 MB to decode in full before the fix).

Each photo is processed by ``handover.images.reencode`` in a fresh Python process; the figure is that process's peak
RSS (``VmHWM``, as ``ru_maxrss`` but not inherited from the parent; it counts Pillow's and libheif's C buffers, unlike
tracemalloc) minus its peak before the call (imports and the upload bytes). Prints figures measured in this run.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

_CHILD = r"""
import json, resource, sys
from flask import Flask


def peak_mb():
    # VmHWM belongs to this process's own address space; ru_maxrss would also carry the parent's RSS at fork time.
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


from core.errors import DomainError
from handover import images

app = Flask("bench-images")
app.config.update(json.loads(sys.argv[2]))
data = open(sys.argv[1], "rb").read()
before = peak_mb()
with app.app_context():
    try:
        _, _, width, height, fmt = images.reencode(data)
        outcome = f"accepted, stored {width}x{height}"
    except DomainError as exc:
        outcome = f"refused ({exc.status}): {exc.detail}"
peak = peak_mb()
print(json.dumps({"before_mb": before, "peak_mb": peak, "outcome": outcome}))
"""


def measure(data: bytes, config: dict | None = None) -> dict:
    """Re-encode ``data`` in a fresh process: ``{"before_mb", "peak_mb", "used_mb", "outcome"}``."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(data)
        f.flush()
        env = {**os.environ, "PYTHONPATH": str(root)}
        out = subprocess.run([sys.executable, "-c", _CHILD, f.name, json.dumps(config or {})], cwd=root, env=env,
                             capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["used_mb"] = result["peak_mb"] - result["before_mb"]
    return result


def png(width: int, height: int, mode: str = "RGBA") -> bytes:
    """A flat-colour PNG of any size built row by row (a 40 MP one is ~160 KB and never exists decoded here). Modes:
    RGBA, RGB, L, LA, I;16 (16-bit grey) and P (a palette with a transparent entry)."""
    depth, colour_type, pixel = {"RGBA": (8, 6, b"\x1e\x78\xc8\x80"), "RGB": (8, 2, b"\x1e\x78\xc8"),
                                 "L": (8, 0, b"\x78"), "LA": (8, 4, b"\x78\x80"), "I;16": (16, 0, b"\x78\x00"),
                                 "P": (8, 3, b"\x01")}[mode]
    row = b"\x00" + pixel * width
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((depth, colour_type, 0, 0, 0))
    palette = chunk(b"PLTE", b"\x00\x00\x00\x1e\x78\xc8") + chunk(b"tRNS", b"\x00") if mode == "P" else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + palette + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg(width: int, height: int, mode: str = "RGB", **options) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert(mode).save(buf, "JPEG", quality=80, **options)
    return buf.getvalue()


def heic(width: int, height: int) -> bytes:
    import pillow_heif
    from PIL import Image

    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (width, height), (10, 120, 200))).save(buf, quality=40)
    return buf.getvalue()


def _at_most(megapixels: float, aspect=(4, 3)) -> tuple[int, int]:
    """The largest width x height of the given aspect ratio within ``megapixels``."""
    unit = int((megapixels * 1e6 / (aspect[0] * aspect[1])) ** 0.5)
    return unit * aspect[0], unit * aspect[1]


def cases():
    from handover import images

    yield "issue #13: 40 MP transparent PNG (7744x5164)", png(7744, 5164, "RGBA")
    yield "40 MP baseline JPEG (the pixel cap)", jpeg(*_at_most(40, (3, 2)))
    yield "40 MP CMYK JPEG", jpeg(*_at_most(40, (3, 2)), mode="CMYK")
    for label, (fmt, mode, progressive, alpha), make in (
            ("transparent PNG", ("PNG", "RGBA", False, True), lambda w, h: png(w, h, "RGBA")),
            ("opaque PNG", ("PNG", "RGB", False, False), lambda w, h: png(w, h, "RGB")),
            ("palette PNG with transparency", ("PNG", "P", False, True), lambda w, h: png(w, h, "P")),
            ("16-bit grey PNG", ("PNG", "I;16", False, False), lambda w, h: png(w, h, "I;16")),
            ("progressive JPEG", ("JPEG", "RGB", True, False), lambda w, h: jpeg(w, h, progressive=True)),
            ("HEIC (iPhone)", ("HEIF", "RGB", False, False), heic)):
        if fmt == "HEIF" and not images.HEIC_SUPPORTED:
            continue
        cap = images.megapixel_cap(fmt, mode, progressive=progressive, alpha=alpha)
        w, h = _at_most(cap)
        yield f"largest accepted {label}: {w}x{h} = {w * h / 1e6:.1f} MP (cap {cap:.1f} MP)", make(w, h)


def main() -> None:
    worst = 0.0
    for label, data in cases():
        r = measure(data)
        if r["outcome"].startswith("accepted"):
            worst = max(worst, r["used_mb"])
        print(f"{label}, {len(data) / 1024:.0f} KB file: peak RSS {r['peak_mb']:.0f} MiB "
              f"(+{r['used_mb']:.0f} MiB for processing) - {r['outcome']}", flush=True)
    print(f"worst accepted photo: +{worst:.0f} MiB over the worker's own memory (target <= 150 MiB)")


if __name__ == "__main__":
    main()
