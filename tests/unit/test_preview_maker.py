"""preview_maker.py: what it makes of each accepted type (in this process, with a temp
IMAGES_DIR), and the maker as the supervisor runs it (`python -m imagehost.preview_maker`):
its memory limit, its protocol, its end."""

from __future__ import annotations

import errno
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from imagehost import preview_maker, previews
from PIL import Image
from support import camera
from support.backend import BACKEND_SRC

NAME = "AbCdEfGhIjKlMnOp"
RED, BLUE, GREEN = (220, 20, 20), (20, 40, 220), (20, 200, 40)
MIB = 1024 * 1024


@pytest.fixture
def settings(tmp_path) -> previews.MakerSettings:
    (tmp_path / previews.FOLDER).mkdir()
    return previews.MakerSettings(images_dir=tmp_path, memory_bytes=1024 * MIB, max_pixels=50_000_000)


def marked(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A blue picture with a red block in its top-left corner: where the block ends up
    in the preview shows how it was turned."""
    picture = Image.new(mode, size, BLUE + (255,) * (mode == "RGBA"))
    block = Image.new(mode, (size[0] // 4, size[1] // 4), RED + (255,) * (mode == "RGBA"))
    picture.paste(block, (0, 0))
    return picture


def saved(picture: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


def animation(fmt: str, size: tuple[int, int] = (500, 300), **options) -> bytes:
    """Two frames, red then blue."""
    frames = [Image.new("RGB", size, colour) for colour in (RED, BLUE)]
    return saved(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)


def stored(settings: previews.MakerSettings, data: bytes, extension: str) -> str:
    name = NAME + extension
    (settings.images_dir / name).write_bytes(data)
    return name


def job(name: str, mime: str) -> str:
    return json.dumps({"name": name, "type": mime}) + "\n"


def preview_of(settings: previews.MakerSettings, data: bytes, extension: str, mime: str) -> Image.Image:
    """The preview the maker made of `data`, loaded; fails the test when it made none."""
    name = stored(settings, data, extension)
    answer = preview_maker.answer_job(settings, job(name, mime))
    assert answer == {"name": name, "ok": True}
    with Image.open(previews.path_of(settings.images_dir, name)) as preview:
        assert preview.format == "WEBP"
        preview.load()
        return preview.copy()  # with its info (the ICC profile)


def near(pixel, colour, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def corner_colours(preview: Image.Image) -> dict[str, tuple]:
    """The colour a little inside each corner (lossy WebP blurs the very edge)."""
    width, height = preview.size
    x0, y0, x1, y1 = width // 16, height // 16, width - 1 - width // 16, height - 1 - height // 16
    rgb = preview.convert("RGB")
    return {
        "top left": rgb.getpixel((x0, y0)),
        "top right": rgb.getpixel((x1, y0)),
        "bottom left": rgb.getpixel((x0, y1)),
        "bottom right": rgb.getpixel((x1, y1)),
    }


def red_corner(preview: Image.Image) -> str:
    reds = [corner for corner, colour in corner_colours(preview).items() if near(colour, RED)]
    assert len(reds) == 1, corner_colours(preview)
    return reds[0]


def files_in_previews(settings: previews.MakerSettings) -> list[str]:
    return sorted(os.listdir(previews.folder(settings.images_dir)))  # dot-files included


# --- what each type becomes ------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, extension, mime, options",
    [
        ("JPEG", ".jpg", "image/jpeg", {"quality": 90}),
        ("PNG", ".png", "image/png", {}),
        ("WEBP", ".webp", "image/webp", {"quality": 90}),
        ("AVIF", ".avif", "image/avif", {"quality": 90, "speed": 10}),
        ("GIF", ".gif", "image/gif", {}),
    ],
)
def test_each_type_becomes_a_webp_of_at_most_400_px_with_the_images_aspect(settings, fmt, extension, mime, options):
    preview = preview_of(settings, saved(marked((900, 600)), fmt, **options), extension, mime)
    assert preview.size == (400, 267)
    assert red_corner(preview) == "top left"


def test_a_tall_image_is_400_px_high(settings):
    preview = preview_of(settings, saved(marked((300, 1200)), "PNG"), ".png", "image/png")
    assert preview.size == (100, 400)


def test_a_small_image_is_not_enlarged(settings):
    preview = preview_of(settings, saved(marked((120, 80)), "PNG"), ".png", "image/png")
    assert preview.size == (120, 80)


def test_a_png_with_transparency_keeps_it_in_its_preview(settings):
    picture = Image.new("RGBA", (800, 400), (*GREEN, 255))
    picture.paste(Image.new("RGBA", (400, 400), (0, 0, 0, 0)), (0, 0))
    preview = preview_of(settings, saved(picture, "PNG"), ".png", "image/png")
    assert preview.mode == "RGBA"
    assert preview.getpixel((50, 100))[3] == 0
    assert preview.getpixel((350, 100))[3] == 255


def test_a_paletted_png_with_a_transparent_colour_keeps_it_in_its_preview(settings):
    picture = Image.new("P", (600, 300), 1)
    picture.putpalette([0, 0, 0, *GREEN] + [0] * 762)
    picture.paste(0, (0, 0, 300, 300))
    preview = preview_of(settings, saved(picture, "PNG", transparency=0), ".png", "image/png")
    assert preview.mode == "RGBA"
    assert preview.getpixel((50, 100))[3] == 0
    assert near(preview.getpixel((350, 100)), (*GREEN, 255))


@pytest.mark.parametrize(
    "fmt, extension, mime, options",
    [
        ("GIF", ".gif", "image/gif", {}),
        ("WEBP", ".webp", "image/webp", {"lossless": True}),
    ],
)
def test_an_animation_becomes_a_still_of_its_first_frame(settings, fmt, extension, mime, options):
    preview = preview_of(settings, animation(fmt, **options), extension, mime)
    assert not getattr(preview, "is_animated", False)
    assert preview.size == (400, 240)
    assert all(near(colour, RED) for colour in corner_colours(preview).values())


# --- turned as the browser shows it --------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, extension, mime",
    [("JPEG", ".jpg", "image/jpeg"), ("PNG", ".png", "image/png")],
)
@pytest.mark.parametrize(
    "orientation, corner",
    # EXIF orientation 6: turn 90° clockwise to show; 8: 90° counter-clockwise.
    [(6, "top right"), (8, "bottom left"), (3, "bottom right"), (1, "top left")],
)
def test_a_photo_with_exif_orientation_is_upright_in_its_preview(settings, fmt, extension, mime, orientation, corner):
    data = saved(marked((800, 600)), fmt, exif=camera.exif(orientation).tobytes())
    preview = preview_of(settings, data, extension, mime)
    assert preview.size == ((300, 400) if orientation in (6, 8) else (400, 300))
    assert red_corner(preview) == corner


def test_a_webp_is_not_turned_by_its_exif_orientation_as_chromium_does_not(settings):
    data = saved(marked((800, 600)), "WEBP", quality=90, exif=camera.exif(6).tobytes())
    preview = preview_of(settings, data, ".webp", "image/webp")
    assert preview.size == (400, 300)
    assert red_corner(preview) == "top left"


@pytest.mark.parametrize("orientation, corner", [(6, "top right"), (8, "bottom left")])
def test_an_avif_is_turned_by_its_irot_property(settings, orientation, corner):
    # Pillow writes an EXIF orientation as the irot/imir properties, which browsers apply.
    data = saved(marked((800, 600)), "AVIF", quality=90, speed=10, exif=camera.exif(orientation).tobytes())
    preview = preview_of(settings, data, ".avif", "image/avif")
    assert preview.size == (300, 400)
    assert red_corner(preview) == corner


def test_the_icc_profile_is_kept_in_the_preview(settings):
    data = saved(marked((800, 600)), "JPEG", icc_profile=camera.icc_profile())
    preview = preview_of(settings, data, ".jpg", "image/jpeg")
    assert preview.info.get("icc_profile") == camera.icc_profile()


@pytest.mark.parametrize(
    "data, extension, mime",
    [
        (camera.camera_jpeg(6, 480, 320), ".jpg", "image/jpeg"),
        (camera.camera_png(6, 480, 320), ".png", "image/png"),
        (camera.camera_webp("lossy", 480, 320), ".webp", "image/webp"),
    ],
    ids=["jpeg", "png", "webp"],
)
def test_the_preview_carries_no_exif_or_xmp_so_it_is_not_turned_twice_nor_tells_where(settings, data, extension, mime):
    name = stored(settings, data, extension)
    assert preview_maker.answer_job(settings, job(name, mime))["ok"]
    written = previews.path_of(settings.images_dir, name).read_bytes()
    assert b"EXIF" not in written and b"XMP " not in written
    assert not any(text.encode() in written for text in camera.PRIVATE)


def test_a_huge_icc_profile_is_left_out_of_the_preview(settings, monkeypatch):
    monkeypatch.setattr(preview_maker, "MAX_ICC_PROFILE_BYTES", len(camera.icc_profile()) - 1)
    data = saved(marked((800, 600)), "JPEG", icc_profile=camera.icc_profile())
    preview = preview_of(settings, data, ".jpg", "image/jpeg")
    assert not preview.info.get("icc_profile")


def test_the_preview_is_readable_by_nginx_and_has_no_companions(settings):
    name = stored(settings, saved(marked((600, 400)), "PNG"), ".png")
    assert preview_maker.answer_job(settings, job(name, "image/png"))["ok"]
    assert files_in_previews(settings) == [name + ".webp"]
    assert os.stat(previews.path_of(settings.images_dir, name)).st_mode & 0o777 == 0o644


# --- files it cannot make a preview of -------------------------------------------------------


def noisy_png() -> bytes:
    return saved(camera.picture(300, 200), "PNG")


def with_broken_idat(png: bytes) -> bytes:
    """`png` with bytes in the middle of its first IDAT's data changed, and the chunk's
    CRC made right again: only the compressed pixels are wrong."""
    start = png.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", png[start : start + 4])
    data = bytearray(png[start + 8 : start + 8 + length])
    middle = length // 2
    data[middle : middle + 64] = bytes(b ^ 0x5A for b in data[middle : middle + 64])
    chunk = png[start : start + 8] + bytes(data) + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    return png[:start] + chunk + png[start + 12 + length :]


@pytest.mark.parametrize(
    "data, extension, mime",
    [
        (noisy_png()[: len(noisy_png()) // 2], ".png", "image/png"),
        (with_broken_idat(noisy_png()), ".png", "image/png"),
        (saved(camera.picture(300, 200), "JPEG")[:600], ".jpg", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, ".png", "image/png"),
        (saved(camera.picture(30, 20), "GIF"), ".png", "image/png"),  # decoded only as its type
        (saved(camera.picture(30, 20), "PNG"), ".bmp", "image/bmp"),  # a type with no decoder
    ],
    ids=["truncated png", "corrupt idat", "truncated jpeg", "png signature only", "gif as png", "unknown type"],
)
def test_an_undecodable_file_gets_a_failed_answer_with_a_reason_and_leaves_no_file(settings, data, extension, mime):
    name = stored(settings, data, extension)
    answer = preview_maker.answer_job(settings, job(name, mime))
    assert answer["name"] == name and answer["ok"] is False and not answer.get("later")
    assert isinstance(answer["reason"], str) and answer["reason"]
    assert files_in_previews(settings) == []


def test_a_missing_image_gets_a_failed_answer(settings):
    answer = preview_maker.answer_job(settings, job(NAME + ".png", "image/png"))
    assert answer["ok"] is False and not answer.get("later")
    assert files_in_previews(settings) == []


def test_a_full_disk_while_writing_answers_later_and_leaves_no_dot_file(settings, monkeypatch):
    def no_space(self, file, *args, **kwargs):
        file.write(b"RIFF partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    name = stored(settings, saved(marked((600, 400)), "PNG"), ".png")
    monkeypatch.setattr(Image.Image, "save", no_space)
    answer = preview_maker.answer_job(settings, job(name, "image/png"))
    assert answer["ok"] is False and answer["later"] is True
    assert files_in_previews(settings) == []


def test_a_decoder_bug_costs_one_preview_not_the_maker(settings, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug in a decoder")

    name = stored(settings, saved(marked((600, 400)), "PNG"), ".png")
    monkeypatch.setattr(Image.Image, "thumbnail", bug)
    answer = preview_maker.answer_job(settings, job(name, "image/png"))
    assert answer["ok"] is False and "a bug in a decoder" in answer["reason"]


@pytest.mark.parametrize(
    "line",
    ["not json\n", "[1, 2]\n", '{"name": "x.png"}\n', "{}\n", "\n"],
)
def test_a_malformed_job_gets_a_malformed_answer(settings, line):
    assert preview_maker.answer_job(settings, line) == {"name": None, "ok": False, "reason": "malformed job"}


# --- the maker as the supervisor runs it ---------------------------------------------------


@pytest.fixture(scope="module")
def big_png() -> bytes:
    """6000 x 6000 pixels (103 MiB decoded as RGB) in a few hundred KiB."""
    return saved(Image.new("RGB", (6000, 6000), GREEN), "PNG")


class MakerProcess:
    """`python -m imagehost.preview_maker` with these settings, talked to line by line."""

    def __init__(self, settings: previews.MakerSettings):
        env = {**os.environ, "PYTHONPATH": str(BACKEND_SRC)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "imagehost.preview_maker", settings.to_json()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def greeting(self) -> dict:
        """What it says first: that it is ready for jobs."""
        assert self.process.stdout
        return json.loads(self.process.stdout.readline())

    def ask(self, line: str) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(line)
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, f"the maker ended without answering (exit code {self.process.wait(10)})"
        return json.loads(answer)

    def ended(self, timeout: float = 10) -> int:
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe:
                pipe.close()


@pytest.fixture
def maker_process():
    started: list[MakerProcess] = []

    def start(settings: previews.MakerSettings) -> MakerProcess:
        started.append(MakerProcess(settings))
        assert started[-1].greeting() == {"ready": True}
        return started[-1]

    yield start
    for process in started:
        process.close()


def test_an_image_needing_more_memory_than_allowed_gets_that_answer_and_the_maker_ends(
    settings, maker_process, big_png
):
    small = previews.MakerSettings(settings.images_dir, memory_bytes=128 * MIB, max_pixels=settings.max_pixels)
    maker = maker_process(small)
    name = stored(settings, big_png, ".png")
    assert maker.ask(job(name, "image/png")) == {"name": name, "ok": False, "reason": "needs more memory than allowed"}
    assert maker.ended() == 0
    assert files_in_previews(settings) == []


def test_the_same_big_image_gets_its_preview_with_enough_memory(settings, maker_process, big_png):
    maker = maker_process(previews.MakerSettings(settings.images_dir, 1024 * MIB, settings.max_pixels))
    name = stored(settings, big_png, ".png")
    assert maker.ask(job(name, "image/png")) == {"name": name, "ok": True}


def test_the_maker_answers_a_malformed_job_and_goes_on_with_the_next(settings, maker_process):
    maker = maker_process(settings)
    name = stored(settings, saved(marked((600, 400)), "PNG"), ".png")
    assert maker.ask("this is no job\n") == {"name": None, "ok": False, "reason": "malformed job"}
    assert maker.ask(job(name, "image/png")) == {"name": name, "ok": True}
    assert maker.process.poll() is None


def test_the_maker_ends_at_the_end_of_its_jobs(settings, maker_process):
    maker = maker_process(settings)
    assert maker.process.stdin is not None
    maker.process.stdin.close()
    assert maker.ended() == 0


def test_the_maker_has_limited_its_address_space_file_size_and_priority_once_it_says_it_is_ready(
    settings, maker_process
):
    maker = maker_process(previews.MakerSettings(settings.images_dir, 200 * MIB, settings.max_pixels))
    limits = Path(f"/proc/{maker.process.pid}/limits").read_text()
    address_space = next(line for line in limits.splitlines() if line.startswith("Max address space"))
    file_size = next(line for line in limits.splitlines() if line.startswith("Max file size"))
    assert address_space.split()[3:5] == [str(200 * MIB), str(200 * MIB)]
    assert file_size.split()[3:5] == [str(preview_maker.MAX_PREVIEW_FILE_BYTES)] * 2
    assert os.getpriority(os.PRIO_PROCESS, maker.process.pid) >= preview_maker.NICENESS


def test_the_maker_has_loaded_its_decoders_before_it_says_it_is_ready(settings, maker_process):
    # Loading them takes ten times a small preview: the first job must not pay for it
    # against PREVIEW_TIMEOUT.
    maker = maker_process(settings)
    mapped = Path(f"/proc/{maker.process.pid}/maps").read_text()
    assert all(f"PIL/_{module}." in mapped for module in ("webp", "avif")), "decoders loaded on the first job"
