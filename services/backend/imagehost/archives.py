"""Whole backups: the images and a snapshot of the index in one .tar.gz, and back.

`write_archive` runs beside the live service (`make backup`, `python -m imagehost
backup`): it takes no instance lock and changes nothing in IMAGES_DIR or DATA_DIR. The
index is copied first, then the images: an image uploaded in between is in the archive
without its row (a restore indexes it, without a delete token), which is better than a
row without its image. `restore_archive` runs with the service stopped (it takes the
instance lock) and puts both back.

Inside the archive: `data/index.sqlite3` (with the index in PostgreSQL,
`data/index.pgdump` instead: pg_dump's custom format, one consistent snapshot of the
database, put back by pg_restore) and `images/<name>` for every published image (names
the backend makes; never .tmp, lock files or anything else). Identical images share one
file (storage.py); tar stores its bytes once, under the first name, and the other names
as hard links to that member, which a restore links again the same way.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path

from . import backups, storage
from .validation import is_image_name

INDEX_MEMBER = "data/index.sqlite3"
DUMP_MEMBER = "data/index.pgdump"
IMAGES_PREFIX = "images/"


class ArchiveError(Exception):
    """The archive cannot be written or used; the message says why."""


def archive_name(now: float) -> str:
    return f"imagehost-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}.tar.gz"


def write_archive(index_path: Path, images_dir: Path, output_dir: Path, database_url: str = "") -> tuple[Path, int]:
    """Write `output_dir/imagehost-<UTC time>.tar.gz` (0600); return its path and the
    number of images in it. Written under a temp name and renamed when complete. With a
    `database_url`, the index is that PostgreSQL database, dumped with pg_dump.

    Raises ArchiveError when the index cannot be copied or the archive not written
    (nothing is left behind then).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / archive_name(time.time())
    if path.exists():
        raise ArchiveError(f"{path} exists already: wait a second and try again")
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".imagehost-backup-") as work:
        snapshot = Path(work) / "index"
        if database_url:
            _pg_tool("pg_dump", database_url, "--format=custom", "--no-owner", "--no-privileges", f"--file={snapshot}")
        else:
            try:
                backups.copy_index(index_path, snapshot)
            except backups.SnapshotError as exc:
                raise ArchiveError(str(exc)) from exc
        partial = Path(work) / path.name
        try:
            count = _write_tar(partial, snapshot, DUMP_MEMBER if database_url else INDEX_MEMBER, images_dir)
            os.chmod(partial, 0o600)
            os.replace(partial, path)
        except OSError as exc:
            raise ArchiveError(f"cannot write {path}: {exc}") from exc
    return path, count


def _write_tar(path: Path, snapshot: Path, member: str, images_dir: Path) -> int:
    count = 0
    # Level 1: images are compressed already; the index is what shrinks, and it does at 1.
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(snapshot, member)
        for name in sorted(storage.image_files(images_dir)):
            try:
                tar.add(images_dir / name, IMAGES_PREFIX + name)
            except FileNotFoundError:  # deleted since the listing: its row goes at restore
                continue
            count += 1
    with open(path, "rb") as written:
        os.fsync(written.fileno())
    return count


def restore_archive(archive: Path, index_path: Path, images_dir: Path, database_url: str = "") -> int:
    """Put the archive's index and images in place; return the number of images.

    With a `database_url`, the archive's dump replaces that PostgreSQL database's tables
    (pg_restore --clean, in one transaction: all or nothing) instead of the file.

    Call with the service stopped and its instance lock held. An index already there is
    kept beside it as `index.sqlite3.before-restore-<UTC time>` (with its -wal and
    -shm, which must never meet the restored file). Images are added (one already there
    is replaced by the archive's), each under a temp name, fsynced and renamed; an
    image stored as a hard link is linked to its target, just restored, the same way.
    Raises ArchiveError, before changing anything, when the archive cannot be read, has
    no index, or its index is not a sound SQLite file (a dump pg_restore cannot read),
    or is of the other engine.
    """
    wanted = DUMP_MEMBER if database_url else INDEX_MEMBER
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = _checked_members(tar, wanted)
            with tempfile.TemporaryDirectory(dir=index_path.parent, prefix=".imagehost-restore-") as work:
                restored_index = Path(work) / "index"
                _extract(tar, members.pop(wanted), restored_index, 0o600)
                if database_url:
                    _pg_tool("pg_restore", "", "--list", str(restored_index))
                else:
                    _check_index(restored_index)
                for name, member in members.items():
                    destination = images_dir / name.removeprefix(IMAGES_PREFIX)
                    if member.islnk():
                        _place_link(images_dir / member.linkname.removeprefix(IMAGES_PREFIX), destination)
                    else:
                        _place(tar, member, destination)
                storage.fsync_dir(images_dir)
                if database_url:
                    _restore_dump(restored_index, database_url)
                else:
                    _move_aside(index_path)
                    os.replace(restored_index, index_path)
                    storage.fsync_dir(index_path.parent)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"cannot restore from {archive}: {exc}") from exc
    return len(members)


def _checked_members(tar: tarfile.TarFile, wanted: str) -> dict[str, tarfile.TarInfo]:
    """The archive's index and image members by name, in the archive's order;
    ArchiveError for anything that is not what we write: a regular file, or an image
    hard-linked to an image file earlier in the archive (never a symlink, a path
    elsewhere, a name we never make, a link to anything else, or a name twice)."""
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        name = member.name
        if not (member.isfile() or _links_an_earlier_image(member, members)) or not _is_ours(name):
            raise ArchiveError(f"the archive has {name!r}, which no imagehost backup holds: is it one?")
        if name in members:
            raise ArchiveError(f"the archive has {name!r} twice, which no imagehost backup does: is it one?")
        members[name] = member
    other = INDEX_MEMBER if wanted == DUMP_MEMBER else DUMP_MEMBER
    if other in members:
        now, then = ("PostgreSQL", "SQLite") if wanted == DUMP_MEMBER else ("SQLite", "PostgreSQL")
        raise ArchiveError(
            f"the archive's index is {then}'s ({other}) and this service's is in {now} "
            "(DATABASE_URL): restore it with the setting it was made with"
        )
    if wanted not in members:
        raise ArchiveError(f"the archive has no {wanted}: is it an imagehost backup?")
    return members


def _is_ours(name: str) -> bool:
    return name in (INDEX_MEMBER, DUMP_MEMBER) or _is_image_member(name)


def _is_image_member(name: str) -> bool:
    return name.startswith(IMAGES_PREFIX) and is_image_name(name.removeprefix(IMAGES_PREFIX))


def _links_an_earlier_image(member: tarfile.TarInfo, earlier: dict[str, tarfile.TarInfo]) -> bool:
    """True for an image stored as a hard link to an image file already in the archive."""
    target = earlier.get(member.linkname)
    return (
        member.islnk()
        and _is_image_member(member.name)
        and target is not None
        and target.isfile()
        and _is_image_member(target.name)
    )


def _place_link(target: Path, destination: Path) -> None:
    """Give `target` (an image just restored) the name `destination` too: a hard link
    under a dot name, then renamed, as `_place` does with a copy."""
    temp = destination.with_name(f".{destination.name}.restoring")
    try:
        temp.unlink(missing_ok=True)
        os.link(target, temp, follow_symlinks=False)
        os.replace(temp, destination)
    finally:
        temp.unlink(missing_ok=True)


def _place(tar: tarfile.TarFile, member: tarfile.TarInfo, destination: Path) -> None:
    """Extract an image under a dot name (never served, never indexed), then rename it."""
    temp = destination.with_name(f".{destination.name}.restoring")
    try:
        _extract(tar, member, temp, 0o644)
        os.replace(temp, destination)
    finally:
        temp.unlink(missing_ok=True)


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, destination: Path, mode: int) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise ArchiveError(f"cannot read {member.name} in the archive")
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with source, os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 18)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(destination, mode)


def _check_index(path: Path) -> None:
    try:
        connection = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise ArchiveError(f"the archive's index is not a usable SQLite file: {exc}") from exc
    if result != "ok":
        raise ArchiveError(f"the archive's index is damaged: {result}")


def _move_aside(index_path: Path) -> None:
    if not index_path.exists():
        for suffix in ("-wal", "-shm"):  # a journal without its file is stale
            Path(f"{index_path}{suffix}").unlink(missing_ok=True)
        return
    aside = f"{index_path}.before-restore-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.lexists(f"{index_path}{suffix}"):
            os.replace(f"{index_path}{suffix}", f"{aside}{suffix}")


def _restore_dump(dump: Path, database_url: str) -> None:
    """Replace the index's tables in `database_url` by the dump's, in one transaction."""
    _pg_tool(
        "pg_restore",
        database_url,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        str(dump),
    )


def _pg_tool(tool: str, database_url: str, *arguments: str) -> None:
    """backups.run_pg_tool (the password in the environment, a time limit), its
    SnapshotError an ArchiveError with the same words."""
    try:
        backups.run_pg_tool(tool, database_url, *arguments)
    except backups.SnapshotError as exc:
        raise ArchiveError(str(exc)) from exc
