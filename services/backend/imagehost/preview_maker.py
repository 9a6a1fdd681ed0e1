"""The preview maker: a separate process that decodes uploaded images into previews.

Decoding untrusted files is the riskiest work on the server, so it never happens in a
request worker. The supervisor (preview_queue.py) starts these processes as
`python -m imagehost.preview_maker '<settings as JSON>'` and keeps each to one job at
a time; no other module imports this one, or Pillow. First, a maker limits itself: its address space to
PREVIEW_MEMORY_MB (a huge or hostile file fails with MemoryError, or the process dies,
and nothing else does), the files it writes to MAX_PREVIEW_FILE_BYTES, and its priority
(nice 10: uploads come first on a busy machine). The time limit is the supervisor's: a
job past PREVIEW_TIMEOUT gets its maker killed.

Protocol, one JSON object per line: once limited, the maker says {"ready": true} (its
start-up, Python and Pillow, is no job's time); the supervisor writes a job {"name",
"type"} to stdin; the maker answers {"name", "ok": true} once the preview is in the
store (written to a dot-file in the previews folder, which nginx never serves, fsynced;
then renamed to its name and the folder fsynced, or put into the bucket), or
{"name", "ok": false, "reason"}, with "later": true when trying again later may succeed
(the disk is full). It exits at the end of stdin, after MAX_JOBS jobs (a
fresh process returns memory a long-lived one fragments), and after a MemoryError.

With STORAGE=s3 the image is first downloaded from the bucket into a private file of
the previews folder (at most MAX_UPLOAD_BYTES; removed after the job), and the preview is
put into the bucket; a bucket that is full or cannot be reached is a failure to try
again later.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import secrets
import sys
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from . import previews
from .errors import InsufficientStorage, Unavailable
from .object_store import LocalStore, ObjectStore, S3Location, S3Store
from .previews import MakerSettings as Settings

MAX_JOBS = 500
MAX_PREVIEW_FILE_BYTES = 16 * 1024 * 1024
NICENESS = 10
WEBP_QUALITY = 80
# A profile larger than this is dropped from the preview (the preview is then shown as
# sRGB): some editors embed profiles of megabytes, more than the preview itself.
MAX_ICC_PROFILE_BYTES = 64 * 1024


class PreviewFailed(Exception):
    """This image cannot be made into a preview; the message says why (for the log)."""


def limit_this_process(settings: Settings) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (settings.memory_bytes, settings.memory_bytes))
    # A download from a bucket is a file this process writes, up to the largest upload.
    largest_file = max(MAX_PREVIEW_FILE_BYTES, settings.max_image_bytes + 1)
    resource.setrlimit(resource.RLIMIT_FSIZE, (largest_file, largest_file))
    os.nice(NICENESS)


def store_of(settings: Settings) -> ObjectStore:
    """The store the maker reads images from and puts previews into."""
    if settings.bucket is None:
        return LocalStore(settings.images_dir)
    return S3Store(S3Location(**settings.bucket))


def make_preview(settings: Settings, name: str, mime: str, store: ObjectStore | None = None) -> None:
    """Decode image `name` (of type `mime`, as validation found) and put its preview
    into `store` (default: the settings' store).

    Raises PreviewFailed when the file cannot be decoded as that type (or is larger than
    an upload may be), MemoryError when it needs more than the process may have, OSError
    when a file cannot be read or written, the store's errors (Unavailable,
    InsufficientStorage) when it fails.
    """
    store = store if store is not None else store_of(settings)
    try:
        # Into the previews folder, named as the maker's own files: a maker killed mid-job
        # leaves its download where the supervisor removes its files (preview_queue.reaped).
        with store.local_copy(name, previews.folder(settings.images_dir), settings.max_image_bytes) as path:
            picture = _decoded(settings, path, mime)
    except ValueError as exc:  # larger than an upload may be: not ours to decode
        raise PreviewFailed(str(exc)) from exc
    store.write_preview(name, _written(picture, previews.folder(settings.images_dir)))


def _decoded(settings: Settings, path: Path, mime: str) -> Image.Image:
    if mime not in previews.DECODING:
        raise PreviewFailed(f"no decoder for {mime}")
    pillow_format, turned_by_exif = previews.DECODING[mime]
    try:
        with Image.open(path, formats=[pillow_format]) as image:
            orientation = image.getexif().get(0x0112, 1) if turned_by_exif else 1
            icc_profile = image.info.get("icc_profile")
            # thumbnail() lets a JPEG decode at 1/2 to 1/8 scale (draft), then resizes.
            image.thumbnail((settings.max_side, settings.max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
            picture = _as_rgb_or_rgba(image)
    except (UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, ValueError, EOFError) as exc:
        raise PreviewFailed(f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        if exc.errno is None:  # Pillow's "broken data stream", "truncated file" and the like
            raise PreviewFailed(f"{type(exc).__name__}: {exc}") from exc
        raise
    picture = _upright(picture, orientation)
    # convert() and transpose() copy the file's info, its profile too: only the profile
    # kept here may reach the preview (_publish writes what info holds).
    picture.info = {}
    if isinstance(icc_profile, bytes) and len(icc_profile) <= MAX_ICC_PROFILE_BYTES:
        picture.info["icc_profile"] = icc_profile
    return picture


def _as_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """The loaded frame as RGB, or RGBA when it has any transparency (WebP keeps both)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    picture = image.convert("RGBA" if has_alpha else "RGB")
    picture.load()
    return picture


def _upright(picture: Image.Image, orientation: object) -> Image.Image:
    turns = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
    turn = turns.get(orientation) if isinstance(orientation, int) else None
    return picture.transpose(turn) if turn is not None else picture


def _written(picture: Image.Image, folder: Path) -> Path:
    """Write the preview to a new dot-file in `folder` (nginx serves none), fsynced."""
    temp = folder / previews.temp_name(os.getpid(), secrets.token_hex(8))
    options: dict[str, Any] = {"quality": WEBP_QUALITY, "method": 4}
    if "icc_profile" in picture.info:
        options["icc_profile"] = picture.info["icc_profile"]
    try:
        with open(temp, "xb") as file:
            picture.save(file, "WEBP", **options)
            file.flush()
            os.fchmod(file.fileno(), 0o644)
            os.fsync(file.fileno())
    except BaseException:
        _unlink_quietly(temp)
        raise
    return temp


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def answer_job(settings: Settings, line: str, store: ObjectStore | None = None) -> dict[str, object]:
    """Do the job on `line` and return the answer. A MemoryError passes through (the
    process is to end after answering it); every other failure is an answer."""
    try:
        job = json.loads(line)
        name, mime = job["name"], job["type"]
    except (ValueError, KeyError, TypeError):
        return {"name": None, "ok": False, "reason": "malformed job"}
    try:
        make_preview(settings, name, mime, store)
    except MemoryError:
        raise
    except (Unavailable, InsufficientStorage) as exc:  # the bucket: it may work again later
        return {"name": name, "ok": False, "later": True, "reason": str(exc)[:300]}
    except OSError as exc:
        # A full disk passes: the preview is to be made again later, not given up on.
        later = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        return {"name": name, "ok": False, "later": later, "reason": str(exc)[:300]}
    except PreviewFailed as exc:
        return {"name": name, "ok": False, "reason": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001 (a decoder bug must cost one preview, not the maker)
        return {"name": name, "ok": False, "reason": f"{type(exc).__name__}: {exc}"[:300]}
    return {"name": name, "ok": True}


def serve(settings: Settings, jobs: Any, answers: Any, store: ObjectStore | None = None) -> None:
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for _ in range(MAX_JOBS):
        line = jobs.readline()
        if not line:
            return
        try:
            answer = answer_job(settings, line, store)
        except MemoryError:
            name = _name_in(line)
            answers.write(json.dumps({"name": name, "ok": False, "reason": "needs more memory than allowed"}) + "\n")
            answers.flush()
            return
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def _name_in(line: str) -> object:
    try:
        return json.loads(line).get("name")
    except (ValueError, AttributeError):
        return None


def main(argv: list[str]) -> int:
    settings = Settings.from_json(argv[1])
    # Pillow's own check is a second fence after validation's (it warns above the
    # limit and refuses above twice it).
    Image.MAX_IMAGE_PIXELS = settings.max_pixels
    # Every format plugin now, before saying ready: else the first job pays for them
    # (70 ms, ten times a small image's preview) against PREVIEW_TIMEOUT.
    Image.init()
    store = store_of(settings)
    if isinstance(store, S3Store):
        _ = store.client  # boto3 loads its models now, before the memory limit and any job
    limit_this_process(settings)
    serve(settings, sys.stdin, sys.stdout, store)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
