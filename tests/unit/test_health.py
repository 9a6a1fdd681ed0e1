"""The health check says 503 when the index cannot be read or the images dir written."""

from dataclasses import replace

from imagehost import handlers
from imagehost.config import Config


class IndexStub:
    def __init__(self, readable: bool):
        self.readable = readable

    def is_readable(self) -> bool:
        return self.readable


def health_of(tmp_path, readable: bool, make_dirs: bool = True):
    config = replace(Config(), images_dir=tmp_path / "images", data_dir=tmp_path / "data")
    if make_dirs:
        config.tmp_dir.mkdir(parents=True)
    return handlers.health(None, handlers.App(config, IndexStub(readable), worker_id=3))


def test_health_is_ok_when_storage_and_index_work(tmp_path):
    response = health_of(tmp_path, readable=True)
    assert response.status == 200 and b'"status":"ok"' in response.body and b'"worker":3' in response.body


def test_health_is_503_when_the_index_cannot_be_read(tmp_path):
    response = health_of(tmp_path, readable=False)
    assert response.status == 503 and b'"index_readable":false' in response.body


def test_health_is_503_when_the_images_dir_is_missing(tmp_path):
    response = health_of(tmp_path, readable=True, make_dirs=False)
    assert response.status == 503 and b'"images_dir_writable":false' in response.body
