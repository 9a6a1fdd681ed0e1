"""The start-up reconcile repairs what a crash explains and refuses what looks like the
wrong folder; the operator's command (`python -m imagehost reconcile ...`) accepts it."""

from __future__ import annotations

import fcntl
import os
import sqlite3

import pytest
from imagehost import __main__ as cli
from imagehost import index_sqlite, instance_lock, storage
from imagehost.config import Config
from imagehost.reconcile import ReconcileRefused, reconcile
from loguru import logger
from support import images


@pytest.fixture
def config(tmp_path) -> Config:
    config = Config(images_dir=tmp_path / "images", data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    for folder in (config.images_dir, config.tmp_dir, config.data_dir):
        folder.mkdir(parents=True, exist_ok=True)
    index_sqlite.migrate(config.index_path)
    return config


@pytest.fixture
def log_lines():
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    yield lines
    logger.remove(sink)


def add_images(config: Config, count: int, prefix: str = "Img") -> list[str]:
    """`count` images, each a file in IMAGES_DIR and a row with a token hash."""
    names = [f"{prefix}{i:0{16 - len(prefix)}d}.png" for i in range(count)]
    data = images.png()
    for name in names:
        (config.images_dir / name).write_bytes(data)
    with sqlite3.connect(config.index_path) as db:
        db.executemany(
            "INSERT INTO images (name, type, size, width, height, sha256, original_name, created_at,"
            " delete_token_hash) VALUES (?, 'image/png', ?, 4, 3, 'x', 'cat.png', '2026-11-27T00:00:00.000Z', 'h')",
            [(name, len(data)) for name in names],
        )
    return names


def rows(config: Config) -> set[str]:
    with sqlite3.connect(config.index_path) as db:
        return {name for (name,) in db.execute("SELECT name FROM images")}


def remove_files(config: Config, names) -> None:
    for name in names:
        (config.images_dir / name).unlink()


def test_rows_next_to_an_empty_images_dir_stop_start_up_naming_IMAGES_DIR_and_the_count(config):
    names = add_images(config, 30)
    remove_files(config, names)
    with pytest.raises(ReconcileRefused) as refused:
        reconcile(config)
    message = str(refused.value)
    assert f"IMAGES_DIR ({config.images_dir}) holds no images" in message and "lists 30" in message
    assert "python -m imagehost reconcile --forget-missing" in message
    assert rows(config) == set(names)


def test_rows_next_to_a_folder_of_other_images_stop_start_up_and_nothing_is_indexed(config):
    names = add_images(config, 5)
    remove_files(config, names)
    (config.images_dir / "OtherOtherOther1.png").write_bytes(images.png())
    with pytest.raises(ReconcileRefused) as refused:
        reconcile(config)
    assert "holds 1 images, none of the 5" in str(refused.value)
    assert rows(config) == set(names)


def test_an_empty_index_next_to_images_stops_start_up_instead_of_indexing_them_without_tokens(config):
    for i in range(12):
        (config.images_dir / f"Found{i:011d}.png").write_bytes(images.png())
    with pytest.raises(ReconcileRefused) as refused:
        reconcile(config)
    message = str(refused.value)
    assert "no row for any of the 12 images" in message and "DATA_DIR" in message
    assert "python -m imagehost reconcile --index-files" in message
    assert rows(config) == set()


def test_a_crash_during_the_first_uploads_leaves_files_the_empty_index_then_indexes(config):
    for i in range(3):
        (config.images_dir / f"Found{i:011d}.png").write_bytes(images.png())
    assert reconcile(config).files_indexed == 3
    assert len(rows(config)) == 3


def test_a_crash_while_deleting_the_only_image_leaves_a_row_that_start_up_drops(config):
    names = add_images(config, 1)
    remove_files(config, names)
    assert reconcile(config).rows_removed == 1
    assert rows(config) == set()


def test_a_few_rows_without_a_file_are_dropped_and_each_is_logged(config, log_lines):
    names = add_images(config, 300)
    remove_files(config, names[:3])
    report = reconcile(config)
    assert report.rows_removed == 3
    assert rows(config) == set(names[3:])
    dropped = next(line for line in log_lines if "rows whose file is gone are dropped" in line)
    assert all(name in dropped for name in names[:3])


def test_one_row_without_a_file_in_a_small_index_is_dropped(config):
    names = add_images(config, 4)
    remove_files(config, names[:1])
    assert reconcile(config).rows_removed == 1
    assert rows(config) == set(names[1:])


def test_many_rows_without_a_file_stop_start_up_with_the_count_and_examples(config):
    names = add_images(config, 300)
    remove_files(config, names[:20])
    with pytest.raises(ReconcileRefused) as refused:
        reconcile(config)
    message = str(refused.value)
    assert "20 of the 300 images" in message and names[0] in message and "at most 3" in message
    assert rows(config) == set(names)


def test_forget_missing_drops_every_row_whose_file_is_gone(config):
    names = add_images(config, 300)
    remove_files(config, names[:20])
    assert reconcile(config, forget_missing=True).rows_removed == 20
    assert rows(config) == set(names[20:])


def test_index_files_indexes_images_the_empty_index_did_not_know_without_tokens(config):
    (config.images_dir / "Found00000000001.png").write_bytes(images.png(5, 6))
    assert reconcile(config, index_files=True).files_indexed == 1
    with sqlite3.connect(config.index_path) as db:
        assert db.execute("SELECT name, width, height, delete_token_hash FROM images").fetchall() == [
            ("Found00000000001.png", 5, 6, None)
        ]


def test_the_reconcile_command_refuses_without_its_option_and_forgets_with_it(config, monkeypatch, tmp_path, capsys):
    names = add_images(config, 10)
    remove_files(config, names)
    monkeypatch.chdir(tmp_path)
    for variable, folder in (
        ("IMAGES_DIR", config.images_dir),
        ("DATA_DIR", config.data_dir),
        ("LOG_DIR", config.log_dir),
    ):
        monkeypatch.setenv(variable, str(folder))
    assert cli.run(["reconcile"]) == 1
    assert "--forget-missing" in capsys.readouterr().err and rows(config) == set(names)
    assert cli.run(["reconcile", "--forget-missing"]) == 0
    assert rows(config) == set()


def test_the_reconcile_command_refuses_an_images_dir_that_does_not_exist(config, monkeypatch, tmp_path, capsys):
    add_images(config, 2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMAGES_DIR", str(tmp_path / "typo"))
    monkeypatch.setenv("DATA_DIR", str(config.data_dir))
    assert cli.run(["reconcile", "--forget-missing"]) == 1
    assert "IMAGES_DIR" in capsys.readouterr().err and len(rows(config)) == 2


def test_the_reconcile_command_refuses_while_a_running_instance_holds_the_folders(
    config, monkeypatch, tmp_path, capsys
):
    names = add_images(config, 10)
    remove_files(config, names)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMAGES_DIR", str(config.images_dir))
    monkeypatch.setenv("DATA_DIR", str(config.data_dir))
    held = instance_lock.lock_folders(config.data_dir, config.images_dir, wait_seconds=0)
    try:
        assert cli.run(["reconcile", "--forget-missing"]) == 1
    finally:
        for fd in held:
            os.close(fd)
    assert "another imagehost instance" in capsys.readouterr().err and rows(config) == set(names)


def test_start_up_removes_temp_files_nobody_holds_and_keeps_those_a_live_process_holds(config):
    left = config.tmp_dir / "upload-123-dead.part"
    left.write_bytes(b"half an upload")
    with storage.TempUpload(config.tmp_dir) as live:
        live.write(b"still arriving")
        assert reconcile(config).temp_files_removed == 1
        assert not left.exists() and os.path.exists(live.path)
    assert list(config.tmp_dir.iterdir()) == []


def test_a_dead_process_temp_files_are_removed_by_its_pid_and_no_other(config):
    dead = [config.tmp_dir / f"upload-4242-{i}.part" for i in range(2)]
    other = config.tmp_dir / "upload-42424-x.part"
    for path in (*dead, other):
        path.write_bytes(b"x")
    assert storage.remove_temp_files_of(config.tmp_dir, 4242) == 2
    assert list(config.tmp_dir.iterdir()) == [other]


def test_a_temp_file_is_named_after_its_process_and_locked_while_open(config):
    with storage.TempUpload(config.tmp_dir) as temp:
        assert os.path.basename(temp.path).startswith(f"upload-{os.getpid()}-")
        fd = os.open(temp.path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_the_reconcile_command_names_an_index_file_that_is_not_a_database_without_a_traceback(
    config, monkeypatch, tmp_path, capsys
):
    config.index_path.write_bytes(b"not a database: text a restore or a typo put here\n" * 100)
    for suffix in ("-wal", "-shm"):
        config.index_path.with_name(config.index_path.name + suffix).unlink(missing_ok=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMAGES_DIR", str(config.images_dir))
    monkeypatch.setenv("DATA_DIR", str(config.data_dir))
    assert cli.run(["reconcile"]) == 1
    err = capsys.readouterr().err
    assert f"cannot use the index file {config.index_path}: file is not a database" in err
    assert "Traceback" not in err


def test_the_reconcile_command_names_a_lock_file_it_cannot_open_without_a_traceback(
    config, monkeypatch, tmp_path, capsys
):
    (config.data_dir / instance_lock.DATA_LOCK_NAME).mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMAGES_DIR", str(config.images_dir))
    monkeypatch.setenv("DATA_DIR", str(config.data_dir))
    assert cli.run(["reconcile"]) == 1
    err = capsys.readouterr().err
    assert "cannot reconcile" in err and instance_lock.DATA_LOCK_NAME in err and "Traceback" not in err
