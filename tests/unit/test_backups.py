"""Snapshots of the index (backups.py), whole archives (archives.py) and the version
(version.py)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import psycopg
import pytest
from imagehost import __main__ as cli
from imagehost import archives, backups, handlers, index_postgres, index_sqlite, version
from imagehost.config import Config
from imagehost.errors import Unavailable
from imagehost.index_postgres import PostgresEngine
from imagehost.web import Request, RequestBody
from loguru import logger
from support.postgres import restore_dump
from support.rows import add_row
from support.tmpfs import tmpfs

NAME = "Abcdefghijkl_-0123456789.png"


def make_index(folder: Path, names: list[str]) -> Path:
    path = folder / "index.sqlite3"
    index_sqlite.migrate(path)
    db = index_sqlite.SqliteIndex(path)
    try:
        for name in names:
            add_row(db, name, original_name="a.png", delete_token_hash="f" * 64)
    finally:
        db.close()
    return path


def rows_of(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("SELECT name FROM images ORDER BY id")]
    finally:
        connection.close()


def test_a_snapshot_name_carries_the_utc_time_and_eight_random_hex_digits():
    name = backups.snapshot_name(1_795_000_000.9, "0a1b2c3d")
    assert name == "index-20261118T110640Z-0a1b2c3d.sqlite3"
    assert backups.is_snapshot_name(name)
    dump = backups.snapshot_name(1_795_000_000.9, "0a1b2c3d", backups.DUMP_SUFFIX)
    assert dump == "index-20261118T110640Z-0a1b2c3d.pgdump"
    assert backups.is_snapshot_name(dump)


@pytest.mark.parametrize(
    "name",
    [
        "index-20261127T101500Z-0a1b2c3d.sqlite3.partial",
        ".index-20261127T101500Z-0a1b2c3d.sqlite3.partial",
        "index-20261127T101500Z-0A1B2C3D.sqlite3",
        "index-20261127T101500Z-0a1b2c3d.sqlite3-wal",
        "index.sqlite3",
        "../index-20261127T101500Z-0a1b2c3d.sqlite3",
    ],
)
def test_only_names_the_backups_make_are_snapshots(name):
    assert not backups.is_snapshot_name(name)


def test_a_snapshot_is_one_self_contained_file_with_every_committed_row(tmp_path):
    source = make_index(tmp_path, ["a" * 12 + ".png", "b" * 12 + ".png"])
    snapshot = backups.make_snapshot(source, tmp_path / "backups")
    assert rows_of(snapshot) == ["a" * 12 + ".png", "b" * 12 + ".png"]
    assert sorted(os.listdir(tmp_path / "backups")) == [snapshot.name]  # no -wal, no temp file
    assert snapshot.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "backups").stat().st_mode & 0o777 == 0o700
    connection = sqlite3.connect(snapshot)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    connection.close()


def test_a_snapshot_taken_while_another_connection_writes_completes_and_is_consistent(tmp_path):
    source = make_index(tmp_path, [])
    writer = index_sqlite.SqliteIndex(source)
    stop = threading.Event()
    written: list[str] = []

    def write() -> None:
        for n in range(2000):
            if stop.is_set():
                return
            name = f"{n:012d}.png"
            add_row(writer, name, original_name="a.png")
            written.append(name)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(written) < 20 and thread.is_alive():
            time.sleep(0.01)
        snapshot = backups.make_snapshot(source, tmp_path / "backups")
    finally:
        stop.set()
        thread.join(30)
        writer.close()
    rows = rows_of(snapshot)
    assert rows == written[: len(rows)]  # a prefix: one moment of the index, no gaps
    assert len(rows) >= 20


def test_pruning_keeps_the_newest_and_removes_only_old_snapshots_and_stale_temp_files(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    names = [backups.snapshot_name(1_700_000_000 + i, f"{i:08x}") for i in range(7)]
    for name in reversed(names):  # made out of order: the name's time decides
        (folder / name).write_bytes(b"x")
    stale = folder / f".{names[0]}.partial"
    fresh = folder / f".{names[1]}.partial"
    for temp in (stale, fresh):
        temp.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    (folder / "notes.txt").write_bytes(b"mine")

    removed = backups.prune(folder, keep=3)

    assert [path.name for path in removed] == names[:4]
    assert [path.name for path in backups.snapshots(folder)] == names[4:]
    assert backups.newest(folder).name == names[-1]
    assert not stale.exists() and fresh.exists() and (folder / "notes.txt").exists()


def test_a_missing_index_makes_no_snapshot_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(backups.SnapshotError, match="cannot copy the index"):
        backups.make_snapshot(tmp_path / "absent.sqlite3", tmp_path / "backups")
    assert os.listdir(tmp_path / "backups") == []
    assert backups.newest(tmp_path / "backups") is None
    assert backups.newest(tmp_path / "never-made") is None


def test_an_archive_restores_into_empty_folders_and_keeps_an_index_already_there_aside(tmp_path):
    images_dir = tmp_path / "images"
    (images_dir / ".tmp").mkdir(parents=True)
    (images_dir / NAME).write_bytes(b"png bytes")
    (images_dir / ".imagehost.lock").write_bytes(b"pid 1")
    (images_dir / ".tmp" / "upload-1-x.part").write_bytes(b"half")
    source = make_index(tmp_path, [NAME])
    archive, count = archives.write_archive(source, images_dir, tmp_path / "out")
    assert count == 1 and archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["data/index.sqlite3", f"images/{NAME}"]

    restored_images, restored_data = tmp_path / "restored-images", tmp_path / "restored-data"
    restored_images.mkdir()
    restored_data.mkdir()
    (restored_data / "index.sqlite3").write_bytes(b"the old index")
    (restored_data / "index.sqlite3-wal").write_bytes(b"its wal")
    assert archives.restore_archive(archive, restored_data / "index.sqlite3", restored_images) == 1

    assert (restored_images / NAME).read_bytes() == b"png bytes"
    assert rows_of(restored_data / "index.sqlite3") == [NAME]
    aside = sorted(p.name for p in restored_data.iterdir() if "before-restore" in p.name)
    assert len(aside) == 2 and aside[1].endswith("-wal")
    assert not (restored_data / "index.sqlite3-wal").exists()
    assert sorted(os.listdir(restored_images)) == [NAME]


def test_identical_images_are_archived_once_and_restored_as_one_file_again(tmp_path):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    names = [NAME, "Bbcdefghijkl_-0123456789.png", "Cbcdefghijkl_-0123456789.png"]
    (images_dir / names[0]).write_bytes(b"shared png bytes" * 1000)
    for name in names[1:]:
        os.link(images_dir / names[0], images_dir / name)
    archive, count = archives.write_archive(make_index(tmp_path, names), images_dir, tmp_path / "out")
    assert count == 3
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("images/")]
    assert [m.isfile() for m in members] == [True, False, False]
    assert all(m.islnk() and m.linkname == f"images/{NAME}" for m in members[1:])

    restored_images, restored_data = tmp_path / "restored-images", tmp_path / "restored-data"
    restored_images.mkdir()
    restored_data.mkdir()
    assert archives.restore_archive(archive, restored_data / "index.sqlite3", restored_images) == 3
    restored = [os.lstat(restored_images / name) for name in names]
    assert {(st.st_ino, st.st_nlink, st.st_mode & 0o777) for st in restored} == {(restored[0].st_ino, 3, 0o644)}
    assert (restored_images / names[2]).read_bytes() == b"shared png bytes" * 1000
    assert sorted(os.listdir(restored_images)) == sorted(names)


def tar_with(tmp_path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    path = tmp_path / "crafted.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            member.size = len(data) if member.isfile() else 0
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def symlink(name: str, target: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = tarfile.SYMTYPE, target
    return member


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("images/../../escaped.png"),
        tarfile.TarInfo("/etc/cron.d/x"),
        tarfile.TarInfo("images/.imagehost.lock"),
        tarfile.TarInfo("data/imagehost.lock"),
        symlink(f"images/{NAME}", "/etc/passwd"),
        symlink("data/index.sqlite3", "/etc/passwd"),
    ],
    ids=["traversal", "absolute", "lock-file", "data-lock", "image-symlink", "index-symlink"],
)
def test_a_restore_refuses_an_archive_with_anything_a_backup_never_holds_and_changes_nothing(tmp_path, member):
    archive = tar_with(tmp_path, [tarfile.TarInfo("data/index.sqlite3"), member])
    (tmp_path / "images").mkdir()
    (tmp_path / "data").mkdir()
    with pytest.raises(archives.ArchiveError, match="no imagehost backup holds"):
        archives.restore_archive(archive, tmp_path / "data" / "index.sqlite3", tmp_path / "images")
    assert os.listdir(tmp_path / "images") == [] and os.listdir(tmp_path / "data") == []


def hardlink(name: str, target: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = tarfile.LNKTYPE, target
    return member


OTHER = "Bbcdefghijkl_-0123456789.png"


@pytest.mark.parametrize(
    "members",
    [
        [hardlink(f"images/{OTHER}", "/etc/passwd")],
        [hardlink(f"images/{OTHER}", "images/../../etc/passwd")],
        [hardlink(f"images/{OTHER}", "data/index.sqlite3")],
        [hardlink(f"images/{OTHER}", f"images/{NAME}")],
        [hardlink(f"images/{OTHER}", f"images/{NAME}"), tarfile.TarInfo(f"images/{NAME}")],
        [tarfile.TarInfo(f"images/{NAME}"), hardlink("images/.imagehost.lock", f"images/{NAME}")],
        [tarfile.TarInfo(f"images/{NAME}"), hardlink("data/index.sqlite3", f"images/{NAME}")],
        [symlink(f"images/{NAME}", "/etc/passwd"), hardlink(f"images/{OTHER}", f"images/{NAME}")],
        [tarfile.TarInfo(f"images/{NAME}"), tarfile.TarInfo(f"images/{NAME}")],
    ],
    ids=[
        "outside",
        "traversal",
        "to-the-index",
        "to-a-name-not-there",
        "to-a-later-member",
        "from-a-lock-file",
        "as-the-index",
        "to-a-symlink",
        "a-name-twice",
    ],
)
def test_a_restore_accepts_no_hard_link_but_one_image_to_an_earlier_image_and_changes_nothing(tmp_path, members):
    archive = tar_with(tmp_path, [tarfile.TarInfo("data/index.sqlite3"), *members])
    (tmp_path / "images").mkdir()
    (tmp_path / "data").mkdir()
    with pytest.raises(archives.ArchiveError, match="imagehost backup"):
        archives.restore_archive(archive, tmp_path / "data" / "index.sqlite3", tmp_path / "images")
    assert os.listdir(tmp_path / "images") == [] and os.listdir(tmp_path / "data") == []


def test_a_restore_refuses_an_archive_whose_index_is_not_sqlite(tmp_path):
    archive = tar_with(tmp_path, [tarfile.TarInfo("data/index.sqlite3")], b"not a database" * 100)
    (tmp_path / "data").mkdir()
    (tmp_path / "images").mkdir()
    with pytest.raises(archives.ArchiveError, match="index"):
        archives.restore_archive(archive, tmp_path / "data" / "index.sqlite3", tmp_path / "images")
    assert os.listdir(tmp_path / "data") == []


def test_a_restore_refuses_a_file_that_is_no_archive(tmp_path):
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    with pytest.raises(archives.ArchiveError, match="cannot restore"):
        archives.restore_archive(tmp_path / "junk.tar.gz", tmp_path / "index.sqlite3", tmp_path)


def test_the_version_comes_from_pyproject_and_the_commit_from_git_or_the_image_s_file(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "imagehost"\nversion = "9.8.7"\n')
    (tmp_path / "COMMIT").write_text("ab" * 20 + "\n")
    monkeypatch.setattr(version, "_PROJECT_DIRS", (tmp_path,))
    assert version.project_version() == "9.8.7"
    assert version.commit() == "ab" * 20
    (tmp_path / "COMMIT").write_text("$(rm -rf /)\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\nversion = "1.0"\n')
    assert (version.project_version(), version.commit()) == ("unknown", "unknown")


def test_a_snapshot_that_does_not_fit_on_the_disk_says_so_and_leaves_nothing_behind(tmp_path):
    source = make_index(tmp_path, [f"{n:012d}.png" for n in range(3000)])  # about 1 MiB
    with tmpfs(tmp_path / "small", "size=256k") as small:
        with pytest.raises(backups.SnapshotError) as raised:
            backups.make_snapshot(source, small / "backups")
        assert raised.value.disk_full
        assert os.listdir(small / "backups") == []


# --- the index in PostgreSQL ------------------------------------------------------------


def pg_names(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM images ORDER BY id")]


def pg_index_with(url: str, names: list[str]) -> None:
    engine = PostgresEngine(url)
    engine.migrate()
    db = engine.open()
    try:
        for name in names:
            add_row(db, name, original_name="a.png", delete_token_hash="f" * 64)
    finally:
        db.close()


def test_an_archive_of_a_postgresql_index_holds_its_dump_and_restores_it_over_another_database(
    tmp_path, postgres_cluster, postgres_url
):
    other = "Bbcdefghijkl_-0123456789.png"
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    (images_dir / NAME).write_bytes(b"png bytes")
    pg_index_with(postgres_url, [NAME])
    archive, count = archives.write_archive(tmp_path / "unused.sqlite3", images_dir, tmp_path / "out", postgres_url)
    assert count == 1
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["data/index.pgdump", f"images/{NAME}"]

    # Restored over a database that has moved on: the archive's rows replace its rows.
    target = postgres_cluster.new_database()
    pg_index_with(target, [other])
    restored_images, restored_data = tmp_path / "restored-images", tmp_path / "restored-data"
    restored_images.mkdir()
    restored_data.mkdir()
    assert archives.restore_archive(archive, restored_data / "index.sqlite3", restored_images, target) == 1
    assert pg_names(target) == [NAME]
    assert (restored_images / NAME).read_bytes() == b"png bytes"
    assert not (restored_data / "index.sqlite3").exists()
    reopened = PostgresEngine(target)
    assert reopened.migrate() == index_postgres.newest_version()
    db = reopened.open()
    try:
        assert add_row(db, other).id > db.get(NAME).id  # the ids go on after the restored ones
    finally:
        db.close()


def test_an_archive_of_the_other_engine_is_refused_before_anything_changes(tmp_path, postgres_url):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    archive, _ = archives.write_archive(make_index(tmp_path, []), images_dir, tmp_path / "out")
    pg_index_with(postgres_url, [NAME])
    with pytest.raises(archives.ArchiveError, match=r"SQLite's .* PostgreSQL"):
        archives.restore_archive(archive, tmp_path / "data" / "index.sqlite3", images_dir, postgres_url)
    assert pg_names(postgres_url) == [NAME]


def test_a_postgresql_backup_without_pg_dump_says_what_to_install(tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    (tmp_path / "images").mkdir()
    with pytest.raises(archives.ArchiveError, match=r"pg_dump is not installed.*postgresql-client"):
        archives.write_archive(tmp_path / "unused", tmp_path / "images", tmp_path / "out", postgres_url)
    assert list((tmp_path / "out").iterdir()) == []


def test_the_database_password_reaches_pg_dump_in_its_environment_not_its_command_line(tmp_path, monkeypatch):
    seen = {}

    def run(command, **options):
        seen["command"], seen["password"] = command, options["env"].get("PGPASSWORD")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(backups.subprocess, "run", run)
    backups.run_pg_tool("pg_dump", "postgresql://app:s3cret@db.example:5433/images", "--format=custom")
    assert seen["password"] == "s3cret"
    assert not any("s3cret" in part for part in seen["command"])
    assert "host=db.example" in seen["command"][-1] and "dbname=images" in seen["command"][-1]


def test_a_snapshot_of_an_index_in_postgresql_is_a_private_pgdump_that_pg_restore_puts_back_with_its_rows(
    tmp_path, postgres_cluster, postgres_url
):
    other = "Bbcdefghijkl_-0123456789.png"
    pg_index_with(postgres_url, [NAME, other])
    snapshot = backups.make_snapshot(tmp_path / "unused.sqlite3", tmp_path / "backups", database_url=postgres_url)
    assert snapshot.suffix == ".pgdump" and backups.is_snapshot_name(snapshot.name)
    assert sorted(os.listdir(tmp_path / "backups")) == [snapshot.name]  # no temp file
    assert snapshot.stat().st_mode & 0o777 == 0o600
    assert snapshot.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    target = postgres_cluster.new_database()
    try:
        restore_dump(snapshot, target)
        assert pg_names(target) == [NAME, other]
    finally:
        postgres_cluster.drop_database(target)


def test_a_pg_dump_that_fails_raises_with_its_words_and_leaves_nothing_in_the_folder(tmp_path, postgres_url):
    nowhere = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(backups.SnapshotError, match=r"pg_dump failed: .*no_such_database") as raised:
        backups.make_snapshot(tmp_path / "unused.sqlite3", tmp_path / "backups", database_url=nowhere)
    assert not raised.value.disk_full
    assert os.listdir(tmp_path / "backups") == []


def test_a_pg_dump_that_does_not_finish_in_time_is_stopped_and_leaves_nothing_in_the_folder(tmp_path, monkeypatch):
    tools = tmp_path / "bin"
    tools.mkdir()
    hanging = tools / "pg_dump"  # writes a little of the dump, then hangs
    hanging.write_text(
        '#!/bin/sh\nfor a; do case "$a" in --file=*) echo PGDMP > "${a#--file=}";; esac; done\nexec sleep 60\n'
    )
    hanging.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setattr(backups, "PG_TOOL_TIMEOUT", 1)
    with pytest.raises(backups.SnapshotError, match="pg_dump did not finish within 1 s"):
        backups.make_snapshot(
            tmp_path / "unused.sqlite3", tmp_path / "backups", database_url="postgresql://a@127.0.0.1/b"
        )
    assert os.listdir(tmp_path / "backups") == []


def test_a_pg_dump_that_does_not_fit_on_the_disk_says_so_and_leaves_nothing_behind(tmp_path, postgres_url):
    pg_index_with(postgres_url, [NAME])
    with psycopg.connect(postgres_url) as connection:  # random hex: about 300 KiB once compressed
        connection.execute(
            "CREATE TABLE padding AS SELECT md5(random()::text) || md5(random()::text) AS junk"
            " FROM generate_series(1, 20000)"
        )
    with tmpfs(tmp_path / "small", "size=128k") as small:
        with pytest.raises(backups.SnapshotError) as raised:
            backups.make_snapshot(tmp_path / "unused.sqlite3", small / "backups", database_url=postgres_url)
        assert raised.value.disk_full
        assert os.listdir(small / "backups") == []


def admin_request(method: str) -> Request:
    return Request(method, "/backup/", "", {"Authorization": "Bearer " + "a" * 32}, RequestBody(io.BytesIO(), 0), "r")


def test_backups_over_http_with_the_index_in_postgresql_are_pgdumps_downloaded_as_octet_streams(tmp_path, postgres_url):
    pg_index_with(postgres_url, [NAME])
    config = Config(data_dir=tmp_path, admin_token="a" * 32, database_url=postgres_url)
    db = PostgresEngine(postgres_url).open()
    try:
        app = handlers.App(config, index=db, worker_id=0)
        made = handlers.create_backup(admin_request("POST"), app)
        downloaded = handlers.download_backup(admin_request("GET"), app)
    finally:
        db.close()
    name = json.loads(made.body)["name"]
    assert made.status == 201 and name.endswith(".pgdump")
    assert downloaded.content_type == "application/octet-stream"
    assert downloaded.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    with downloaded.body as file:
        assert file.read() == (tmp_path / backups.FOLDER_NAME / name).read_bytes()


def test_a_backup_over_http_without_pg_dump_is_a_503_whose_log_line_says_what_to_install(
    tmp_path, postgres_url, monkeypatch
):
    pg_index_with(postgres_url, [NAME])
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    config = Config(data_dir=tmp_path, admin_token="a" * 32, database_url=postgres_url)
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}", level="ERROR")
    db = PostgresEngine(postgres_url).open()
    try:
        with pytest.raises(Unavailable, match="no backup was made"):
            handlers.create_backup(admin_request("POST"), handlers.App(config, index=db, worker_id=0))
    finally:
        db.close()
        logger.remove(sink)
    assert any("pg_dump is not installed" in line and "postgresql-client" in line for line in lines)
    assert os.listdir(tmp_path / backups.FOLDER_NAME) == []


def test_pruning_keeps_the_newest_snapshots_whichever_their_kind(tmp_path, postgres_url):
    pg_index_with(postgres_url, [NAME])
    source = make_index(tmp_path, [NAME])
    folder = tmp_path / "backups"
    made = [
        backups.make_snapshot(source, folder, keep=3, database_url=url) for url in ("", postgres_url, "", postgres_url)
    ]
    assert [path.suffix for path in made] == [".sqlite3", ".pgdump", ".sqlite3", ".pgdump"]
    assert backups.snapshots(folder) == made[1:]
    assert backups.newest(folder) == made[-1]


@pytest.mark.parametrize("command", [["backup", "--output", "backup"], ["restore", "backup/any.tar.gz"]])
def test_the_archive_commands_refuse_images_in_a_bucket_and_say_what_to_do_instead(
    command, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    for variable, value in {
        "STORAGE": "s3",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_BUCKET": "photos",
        "IMAGES_DIR": str(tmp_path / "images"),
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_DIR": str(tmp_path / "logs"),
    }.items():
        monkeypatch.setenv(variable, value)
    assert cli.run(command) == 1
    error = capsys.readouterr().err
    assert "bucket photos" in error and "POST /api/backup" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == []
