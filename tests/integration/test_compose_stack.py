"""`docker compose up --build` for real: build both images, start the stack from a copy of
the project in a temporary folder (so the bind mounts land there), upload through nginx,
download the bytes back, restart, and find the image still there. And the profile
`scale` (two app nodes, PostgreSQL, the S3 stand-in, one nginx over both nodes): an
upload read back, one node killed, the other still taking uploads and serving reads.

Needs root and Docker (../shared/tools/compose-images provides the engine, Compose and
stand-ins for the base images; this test runs it when Docker is there, or in CI). Without
them the test is skipped, except in CI, where it fails. Every docker command is bounded
in time; the stack is torn down with `down -v`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import tomllib
import uuid
from pathlib import Path

import pytest
from support import images
from support.backend import REPO, free_port_block
from support.client import Reply, bearer, request, upload
from support.stack import require

pytestmark = pytest.mark.runs_once  # Docker Compose's own engines

COMPOSE_IMAGES = REPO.parent / "shared" / "tools" / "compose-images"
ADMIN_TOKEN = "compose-admin-token-0123456789"
BUILD_SECONDS = 900
FAKE_COMMIT = "c0ffee" * 6 + "abcd"
UP_SECONDS = 180
SCALE_UPLOADS = 6  # after the kill, each answered by the node left


def docker_usable() -> bool:
    if os.geteuid() != 0 and not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], check=False, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def copy_project(destination: Path) -> None:
    # The backend's build context is the root: pyproject.toml (the version) and the
    # .dockerignore that keeps the rest out.
    for name in ("docker-compose.yml", "pyproject.toml", ".dockerignore"):
        shutil.copy(REPO / name, destination)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "node_modules")
    for service in ("backend", "nginx", "frontend", "s3"):
        shutil.copytree(REPO / "services" / service, destination / "services" / service, ignore=ignore)
    for folder in ("images", "data", "logs"):
        (destination / folder).mkdir()


def wait_for_health(base_url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if request("GET", base_url + "/api/health", timeout=3).status == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"no 200 from {base_url}/api/health within {seconds:g} s"
        time.sleep(0.5)


@pytest.fixture
def compose_project(tmp_path):
    """(run compose with these arguments, project folder, base URL); torn down afterwards."""
    if os.geteuid() == 0 and COMPOSE_IMAGES.exists() and (os.environ.get("CI") or docker_usable()):
        # The stand-in base images (and in CI Docker itself) when missing; 0.5 s when all is there.
        subprocess.run(["bash", str(COMPOSE_IMAGES), "-q"], check=True, timeout=BUILD_SECONDS)
    require(os.geteuid() == 0 and docker_usable(), "needs root and a working Docker (../shared/tools/compose-images)")
    copy_project(tmp_path)
    port = free_port_block(1)
    project = "imagehost-test-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "HTTP_PORT": str(port), "HTTP_BIND": "127.0.0.1", "IMAGEHOST_COMMIT": FAKE_COMMIT}
    compose = ["docker", "compose", "-p", project]

    def run(*args: str, timeout: float = UP_SECONDS) -> None:
        subprocess.run([*compose, *args], cwd=tmp_path, env=env, check=True, timeout=timeout)

    try:
        yield run, tmp_path, f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([*compose, "ps", "-a"], check=False, cwd=tmp_path, env=env, timeout=60)
        subprocess.run([*compose, "logs", "--no-color", "--tail", "30"], check=False, cwd=tmp_path, env=env, timeout=60)
        subprocess.run(
            [*compose, "down", "-v", "--remove-orphans", "--rmi", "local", "--timeout", "20"],
            check=False,
            cwd=tmp_path,
            env=env,
            timeout=UP_SECONDS,
        )


def wait_for_preview(url: str, seconds: float = 30.0) -> Reply:
    """GET `url` until it answers 200 (a preview is made a moment after its upload)."""
    deadline = time.monotonic() + seconds
    while True:
        reply = request("GET", url)
        if reply.status == 200 or time.monotonic() > deadline:
            assert reply.status == 200, f"no preview at {url} after {seconds}s: {reply.status}"
            return reply
        time.sleep(0.2)


def test_image_uploaded_through_compose_stack_survives_a_restart(compose_project):
    compose, folder, base_url = compose_project
    # First start without any .env: the defaults must be enough.
    compose("up", "-d", "--build", "--wait", "--wait-timeout", str(UP_SECONDS), timeout=BUILD_SECONDS)
    wait_for_health(base_url)
    data = images.png(6, 5, extra=b"compose")

    reply = upload(base_url, images.file_form(data))
    assert reply.status == 201, reply.body
    image = reply.json()
    path = f"/images/{image['name']}"
    assert image["url"] == base_url + path
    served = request("GET", base_url + path)
    assert (served.status, served.body) == (200, data)
    assert served.headers["Content-Type"] == "image/png"
    assert (folder / "images" / image["name"]).read_bytes() == data
    # The preview is made by a preview process inside the app container, and served by nginx's.
    preview_path = image["thumbnail_url"].removeprefix(base_url)
    preview = wait_for_preview(base_url + preview_path)
    assert preview.headers["Content-Type"] == "image/webp"
    # The image reads its version from pyproject.toml, its commit from the build argument.
    version = request("GET", base_url + "/version")
    assert version.status == 200, version.body
    assert version.json()["version"] == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert version.json()["commit"] == FAKE_COMMIT

    # Down and up again, now with an admin token from .env: files and index persist.
    (folder / ".env").write_text(f"ADMIN_TOKEN={ADMIN_TOKEN}\n")
    compose("down", "--timeout", "20")
    compose("up", "-d", "--wait", "--wait-timeout", str(UP_SECONDS))
    wait_for_health(base_url)

    again = request("GET", base_url + path)
    assert (again.status, again.body) == (200, data)
    assert request("GET", base_url + preview_path).body == preview.body
    listing = request("GET", base_url + "/api/images", headers=bearer(ADMIN_TOKEN))
    assert listing.status == 200, listing.body
    assert [item["name"] for item in listing.json()["items"]] == [image["name"]]
    access_log = (folder / "logs" / "nginx" / "access.log").read_text()
    assert f"GET {path} " in access_log
    assert "GET /api/health" in (folder / "logs" / "app.log").read_text()


def test_the_backends_entrypoint_claims_its_folders_but_no_symlink_target_nor_nginxs_logs(compose_project):
    compose, folder, base_url = compose_project
    # Planted as root before the first start: a root-owned file among nginx's logs, and a
    # symlink to it (by its path inside the app container) in the app's own data folder.
    (folder / "logs" / "nginx").mkdir()
    (folder / "logs" / "nginx" / "planted").write_text("root's\n")
    (folder / "data" / "leak").symlink_to("/srv/imagehost/logs/nginx/planted")
    compose("up", "-d", "--build", "--wait", "--wait-timeout", str(UP_SECONDS), timeout=BUILD_SECONDS)
    wait_for_health(base_url)
    assert request("GET", base_url + "/").status == 200
    # Again, now that nginx has written its logs: the entrypoint runs on every start.
    # Both, as the README says (nginx looks `app` up when it starts).
    compose("restart")
    wait_for_health(base_url)

    assert upload(base_url, images.file_form(images.png(2, 2))).status == 201
    for path in ("logs/nginx", "logs/nginx/planted", "logs/nginx/access.log", "logs/nginx/error.log"):
        info = (folder / path).lstat()
        assert (info.st_uid, info.st_gid) == (0, 0), path
    app = (1000, 1000)  # the image's APP_UID/APP_GID
    for path in ("images", "data", "logs", "data/index.sqlite3", "logs/app.log", "data/leak"):
        info = (folder / path).lstat()
        assert (info.st_uid, info.st_gid) == app, path


@pytest.fixture
def scale_profile(tmp_path):
    """(run compose --profile scale with these arguments, base URL of its nginx); torn down
    afterwards with its volumes and images. Both the default stack and the profile's run,
    each nginx on a free port of its own."""
    if os.geteuid() == 0 and COMPOSE_IMAGES.exists() and (os.environ.get("CI") or docker_usable()):
        stand_ins = ["debian:bookworm-slim", "postgres:17"]  # the s3 service's base, and PostgreSQL's
        subprocess.run(["bash", str(COMPOSE_IMAGES), "-q", *stand_ins], check=True, timeout=BUILD_SECONDS)
    require(os.geteuid() == 0 and docker_usable(), "needs root and a working Docker (../shared/tools/compose-images)")
    copy_project(tmp_path)
    # The same secrets on every node, and the stand-in bucket's user.
    (tmp_path / ".env").write_text(
        f"ADMIN_TOKEN={ADMIN_TOKEN}\nAWS_ACCESS_KEY_ID=LOCALSTANDINKEY00001\n"
        "AWS_SECRET_ACCESS_KEY=localstandinsecret0000000000000000000001\nUPLOAD_RATE_LIMIT=100r/s\n"
    )
    port = free_port_block(3)
    project = "imagehost-scale-" + uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "HTTP_PORT": str(port),
        "SCALE_HTTP_PORT": str(port + 1),
        "SCALE_S3_PORT": str(port + 2),
        "SCALE_S3_PUBLIC_URL": f"http://127.0.0.1:{port + 2}",
        "HTTP_BIND": "127.0.0.1",
    }
    compose = ["docker", "compose", "-p", project, "--profile", "scale"]

    def run(*args: str, timeout: float = UP_SECONDS) -> None:
        subprocess.run([*compose, *args], cwd=tmp_path, env=env, check=True, timeout=timeout)

    try:
        yield run, f"http://127.0.0.1:{port + 1}"
    finally:
        subprocess.run([*compose, "ps", "-a"], check=False, cwd=tmp_path, env=env, timeout=60)
        subprocess.run([*compose, "logs", "--no-color", "--tail", "30"], check=False, cwd=tmp_path, env=env, timeout=60)
        subprocess.run(
            [*compose, "down", "-v", "--remove-orphans", "--rmi", "local", "--timeout", "20"],
            check=False,
            cwd=tmp_path,
            env=env,
            timeout=UP_SECONDS,
        )


def direct_upload(base_url: str, data: bytes) -> dict:
    """A PNG sent as the page sends it when direct uploads are offered: POST /api/uploads,
    the file to the bucket under the presigned POST, then complete; the complete's answer."""
    limits = request("GET", base_url + "/api/limits").json()
    assert limits["direct_uploads"] is True, limits
    wanted = json.dumps({"filename": "direct.png", "size": len(data), "content_type": "image/png"}).encode()
    started = request("POST", base_url + "/api/uploads", wanted, {"Content-Type": "application/json"})
    assert started.status == 201, started.body
    answer = started.json()
    fields = [(name, None, None, value.encode()) for name, value in answer["fields"].items()]
    body, form_type = images.multipart([*fields, ("file", "direct.png", "image/png", data)])
    posted = request("POST", answer["url"], body, {"Content-Type": form_type})
    assert posted.status in (200, 201, 204), posted.body
    completed = request("POST", base_url + f"/api/uploads/{answer['id']}/complete", b"")
    assert completed.status == 201, completed.body
    return completed.json()


def test_the_scale_profile_spreads_over_two_nodes_takes_direct_uploads_and_serves_on_when_one_is_killed(
    scale_profile,
):
    compose, base_url = scale_profile
    compose("up", "-d", "--build", "--wait", "--wait-timeout", str(UP_SECONDS), timeout=BUILD_SECONDS)
    wait_for_health(base_url)
    data = images.png(6, 5, extra=b"scale")
    reply = upload(base_url, images.file_form(data))
    assert reply.status == 201, reply.body
    path = f"/images/{reply.json()['name']}"
    assert request("GET", base_url + path).body == data  # from the bucket, through nginx's cache

    direct = images.png(7, 5, extra=b"straight to the bucket")
    answer = direct_upload(base_url, direct)
    assert request("GET", base_url + f"/images/{answer['name']}").body == direct

    compose("kill", "app-1")  # SIGKILL: no graceful stop
    later = [images.png(5, 4, extra=f"after the kill {n}".encode()) for n in range(SCALE_UPLOADS)]
    for data_after in later:
        reply = upload(base_url, images.file_form(data_after))
        assert reply.status == 201, reply.body
        served = request("GET", base_url + f"/images/{reply.json()['name']}")
        assert (served.status, served.body) == (200, data_after)
    assert request("GET", base_url + path).body == data
    listing = request("GET", base_url + "/api/images?limit=100", headers=bearer(ADMIN_TOKEN))
    assert len(listing.json()["items"]) == 2 + SCALE_UPLOADS
