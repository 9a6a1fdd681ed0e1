"""Pictures made in code for the browser tests and the bench: landscapes (sky, sun, hills)
that look like photos in a thumbnail grid, so the screenshots show something real.

`landscape(seed)` returns the bytes of a valid PNG of a few KB; the same seed gives the
same picture, different seeds give different colours and hills, hence different bytes.
`photo(seed)` returns a camera-sized JPEG of that landscape, with a camera's grain, as
heavy as a real photo (2-3 MB at 3000x2000): what previews exist to spare a gallery.
"""

from __future__ import annotations

import io
import math
import random
import struct
import zlib

from PIL import Image, ImageChops

# (sky top, sky at the horizon, sun, far hills, near hills)
PALETTES = [
    ((38, 70, 140), (250, 180, 120), (255, 236, 190), (120, 90, 130), (52, 48, 80)),
    ((120, 180, 235), (220, 236, 250), (255, 250, 220), (110, 160, 120), (50, 110, 80)),
    ((20, 24, 60), (120, 80, 150), (250, 210, 230), (70, 50, 100), (30, 22, 50)),
    ((250, 150, 90), (255, 220, 150), (255, 245, 210), (200, 110, 80), (120, 60, 60)),
    ((90, 150, 200), (200, 225, 240), (255, 255, 240), (100, 130, 160), (50, 70, 100)),
    ((160, 200, 190), (240, 235, 210), (255, 240, 200), (140, 170, 120), (80, 110, 70)),
    ((18, 60, 80), (120, 190, 190), (255, 240, 200), (40, 110, 120), (15, 55, 65)),
    ((240, 150, 170), (255, 215, 200), (255, 250, 235), (170, 100, 140), (90, 50, 90)),
    ((200, 140, 60), (250, 215, 140), (255, 248, 220), (150, 100, 50), (80, 55, 35)),
    ((170, 200, 230), (235, 242, 250), (255, 255, 255), (150, 170, 200), (90, 110, 150)),
]


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG from `height` rows of `width` * 3 bytes."""
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    )


def landscape(seed: int, width: int = 240, height: int = 160) -> bytes:
    """A landscape PNG: gradient sky, a sun, two ranges of hills."""
    rng = random.Random(seed)
    sky_top, horizon, sun, far, near = PALETTES[seed % len(PALETTES)]
    sun_x, sun_y, sun_r = rng.uniform(0.2, 0.8) * width, rng.uniform(0.25, 0.45) * height, height * 0.11
    waves = [(rng.uniform(1.0, 3.5), rng.uniform(0, 6.3), rng.uniform(0.03, 0.08)) for _ in range(3)]

    def ridge(x: float, base: float, scale: float) -> float:
        return height * (base + scale * sum(a * math.sin(f * x / width * 6.3 + p) for f, p, a in waves))

    far_line = [ridge(x, 0.62, 1.0) for x in range(width)]
    near_line = [ridge(x * 1.7 + 40, 0.78, 0.8) for x in range(width)]
    rows = []
    for y in range(height):
        row = bytearray()
        sky = _mix(sky_top, horizon, min(1.0, y / (height * 0.7)))
        for x in range(width):
            if y >= near_line[x]:
                colour = _mix(near, (0, 0, 0), min(0.5, (y - near_line[x]) / height))
            elif y >= far_line[x]:
                colour = _mix(far, near, min(1.0, (y - far_line[x]) / (height * 0.4)))
            else:
                distance = math.hypot(x - sun_x, y - sun_y)
                glow = max(0.0, 1.0 - distance / (sun_r * 3.2)) ** 2 * 0.55
                colour = sun if distance <= sun_r else _mix(sky, sun, glow)
            row += bytes(colour)
        rows.append(bytes(row))
    return encode_png(width, height, rows)


def photo(seed: int, width: int = 3000, height: int = 2000, quality: int = 90) -> bytes:
    """A JPEG photo of landscape(seed): the small picture scaled up, then grain at two
    scales (blotches of about 6 px and per-pixel noise), as a sensor and a lens leave
    them. The grain is what makes it weigh as much as a real photo and its preview as
    much as a real preview; without it both would be a few KB. The grain is drawn anew
    each call (Pillow's own generator), so two calls give different bytes of the same
    scene and about the same size."""
    small = Image.open(io.BytesIO(landscape(seed, max(1, width // 10), max(1, height // 10))))
    picture = small.resize((width, height), Image.Resampling.BICUBIC)
    blotches = Image.effect_noise((max(1, width // 6), max(1, height // 6)), 12)
    for grain in (blotches.resize((width, height), Image.Resampling.BICUBIC), Image.effect_noise((width, height), 12)):
        picture = ImageChops.add(picture, Image.merge("RGB", [grain] * 3), offset=-128)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality)
    return out.getvalue()
