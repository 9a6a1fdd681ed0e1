"""Images encoded by Pillow (in the tests' lock, not the bench's): real WebP and AVIF
files, whose sizes an independent reader can check. The bench imports `images` only."""

from __future__ import annotations

import io

from PIL import Image


def encoded(fmt: str, size: tuple[int, int] = (37, 23), mode: str = "RGB", **options) -> bytes:
    """A one-colour image of `size` saved by Pillow as `fmt` ("WEBP", "AVIF", "JPEG"...)."""
    buffer = io.BytesIO()
    Image.new(mode, size, (30, 120, 200, 128)[: len(mode)]).save(buffer, fmt, **options)
    return buffer.getvalue()


def animated_webp(size: tuple[int, int] = (40, 30), frames: int = 3) -> bytes:
    buffer = io.BytesIO()
    pictures = [Image.new("RGB", size, (i * 60, 0, 0)) for i in range(frames)]
    pictures[0].save(buffer, "WEBP", save_all=True, append_images=pictures[1:], duration=100, lossless=True)
    return buffer.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    """Width and height as Pillow reads them."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size
