"""The test helpers start the backend with the settings a test gives, never the ones in
the environment of whoever runs the tests."""

from __future__ import annotations

from support import images
from support.backend import Backend
from support.client import request, upload


def test_a_developers_own_settings_in_the_environment_do_not_reach_the_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("UPLOAD_TOKEN", "developer-upload-token-0123456789")
    monkeypatch.setenv("GALLERY_PUBLIC", "true")
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://developer.example")

    with Backend(tmp_path, workers=1) as backend:
        without_token = upload(backend.url(), images.file_form(images.png(), "cat.png", "image/png"))
        listing = request("GET", backend.url() + "/api/images")
        from_developer_site = request("POST", backend.url() + "/upload", b"", {"Origin": "https://developer.example"})

    assert without_token.status == 201, without_token.body
    assert listing.status == 401, listing.body
    assert from_developer_site.error_code == "cross_origin"
