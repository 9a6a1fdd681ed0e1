"""Previews: the small picture of each image that galleries show instead of the file.

Each image `<name>` gets `IMAGES_DIR/previews/<name>.webp`, at most PREVIEW_MAX_SIDE
pixels on its longer side, upright as a browser shows the image, the first frame of an
animation. nginx serves them as it serves the images (services/nginx), at
`/images/previews/<name>.webp`.

This module only names and removes previews; it never imports an image decoder.
Decoding untrusted files happens in preview_maker.py's processes, with memory and time
limits, started and fed by preview_queue.py in the supervisor. A row's `preview` column
says where its preview stands (PENDING, READY, FAILED): a listing gives the preview's
address unless making it failed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .validation import AVIF, GIF, JPEG, PNG, WEBP, is_image_name

FOLDER = "previews"
EXTENSION = ".webp"
TEMP_SUFFIX = ".part"
MAX_SIDE = 400

# Previews are made only while the images volume has room left for this many more of
# the largest uploads (bytes and files): an original cannot be made again, a preview can,
# so on a disk that is nearly full the last room goes to uploads.
ROOM_KEPT_FOR_UPLOADS = 8

PENDING = "pending"
READY = "ready"
FAILED = "failed"

# How the maker opens each accepted type: Pillow's format name (so a file is decoded
# only as the type validation found), and whether the browser turns the image by its
# EXIF orientation, which the preview must then show turned too. Chromium applies it
# for JPEG and PNG (metadata.py), not for a WebP's EXIF; an AVIF is turned by its
# irot/imir properties, which Pillow reports as the EXIF orientation.
DECODING: dict[str, tuple[str, bool]] = {
    JPEG.mime: ("JPEG", True),
    PNG.mime: ("PNG", True),
    GIF.mime: ("GIF", False),
    WEBP.mime: ("WEBP", False),
    AVIF.mime: ("AVIF", True),
}


def preview_name(image_name: str) -> str:
    return image_name + EXTENSION


def image_name_of(file_name: str) -> str | None:
    """The image a file in the previews folder belongs to; None for any other file."""
    if not file_name.endswith(EXTENSION):
        return None
    name = file_name.removesuffix(EXTENSION)
    return name if is_image_name(name) else None


def folder(images_dir: str | Path) -> Path:
    return Path(images_dir) / FOLDER


def path_of(images_dir: str | Path, image_name: str) -> Path:
    return folder(images_dir) / preview_name(image_name)


def remove(images_dir: str | Path, image_name: str) -> None:
    """Remove an image's preview if it has one. Not fsynced: a preview that comes back
    after a crash belongs to no row, and the start-up reconcile removes it."""
    try:
        os.unlink(path_of(images_dir, image_name))
    except FileNotFoundError:
        pass


def room_to_make(images_dir: str | Path, max_upload_bytes: int) -> bool:
    """Whether the images volume has more free than ROOM_KEPT_FOR_UPLOADS uploads need."""
    disk = os.statvfs(images_dir)
    bytes_free = disk.f_bavail * disk.f_frsize
    # A file system without an inode limit (btrfs, some network ones) reports 0 files.
    files_free = disk.f_favail if disk.f_files else ROOM_KEPT_FOR_UPLOADS
    return bytes_free >= ROOM_KEPT_FOR_UPLOADS * max_upload_bytes and files_free >= ROOM_KEPT_FOR_UPLOADS


def temp_name(pid: int, random: str) -> str:
    """A maker's file while it writes it: a dot-file (nginx serves none) named by its pid."""
    return f".{pid}-{random}{TEMP_SUFFIX}"


def remove_temp_files(images_dir: str | Path, pid: int | None = None) -> int:
    """Remove the makers' unfinished files, or only those of process `pid` (which has
    exited); returns how many. Only for when no maker, or not that one, is running."""
    pattern = f".{pid if pid is not None else '*'}-*{TEMP_SUFFIX}"
    removed = 0
    for path in folder(images_dir).glob(pattern):
        try:
            os.unlink(path)
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def share(images_dir: str | Path, image_name: str, same_content: Iterable[str]) -> bool:
    """Give image `image_name` the preview of the first of `same_content` (images with
    the same bytes) that has one, as a hard link: identical images share one preview
    file as they share one image file (storage.py). False when none could be linked."""
    target = path_of(images_dir, image_name)
    for other in same_content:
        try:
            os.link(path_of(images_dir, other), target, follow_symlinks=False)
        except FileExistsError:
            return True  # made already (a restart between making it and recording it)
        except OSError:  # deleted meanwhile, or at the filesystem's link limit
            continue
        return True
    return False


def files(images_dir: str | Path) -> set[str]:
    """Names of the images that have a preview file; empty when there is no folder."""
    try:
        with os.scandir(folder(images_dir)) as entries:
            names = (image_name_of(entry.name) for entry in entries if entry.is_file(follow_symlinks=False))
            return {name for name in names if name is not None}
    except FileNotFoundError:
        return set()


@dataclass(frozen=True)
class MakerSettings:
    """What a preview maker process is started with (as JSON on its command line).

    `bucket`: None for IMAGES_DIR, else object_store.S3Location's fields but the
    credentials (a command line is anyone's to read: they come in the environment).
    `max_image_bytes`: the largest image a maker downloads from a bucket."""

    images_dir: Path
    memory_bytes: int
    max_pixels: int
    max_side: int = MAX_SIDE
    bucket: dict[str, str] | None = None
    max_image_bytes: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "images_dir": str(self.images_dir),
                "memory_bytes": self.memory_bytes,
                "max_pixels": self.max_pixels,
                "max_side": self.max_side,
                "bucket": self.bucket,
                "max_image_bytes": self.max_image_bytes,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> MakerSettings:
        raw = json.loads(text)
        return cls(
            Path(raw["images_dir"]),
            raw["memory_bytes"],
            raw["max_pixels"],
            raw["max_side"],
            raw.get("bucket"),
            raw.get("max_image_bytes", 0),
        )
