"""render-config.sh and the template: what the rendered config says, and that nginx accepts
it (`nginx -t`). No backend is started here."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from imagehost.config import Config
from imagehost.validation import ACCEPTED_TYPES, IMAGE_STEM
from support.stack import RENDER, nginx_binary, require

pytestmark = pytest.mark.runs_once  # the rendered config only; no app started

TEMPLATE = RENDER.parent / "templates" / "imagehost.conf.template"


def render(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "IMAGES_DIR": str(tmp_path / "images"),
        "LOG_DIR": str(tmp_path / "logs"),
        **settings,
    }
    return subprocess.run(
        ["sh", str(RENDER), "--local", str(tmp_path / "run")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


def rendered(tmp_path: Path, **settings: str) -> str:
    result = render(tmp_path, **settings)
    assert result.returncode == 0, result.stderr
    return (tmp_path / "run" / "imagehost.conf").read_text()


S3_SETTINGS = {"STORAGE": "s3", "S3_ENDPOINT_URL": "http://127.0.0.1:7480", "S3_BUCKET": "photos"}


NODES_SETTINGS = {**S3_SETTINGS, "APP_UPSTREAMS": "127.0.0.1:8001 127.0.0.1:9001"}


@pytest.mark.parametrize("storage", [{}, S3_SETTINGS, NODES_SETTINGS], ids=["local", "s3", "many-nodes"])
def test_rendered_config_passes_nginx_t(tmp_path, storage):
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    rendered(tmp_path, **storage)
    run = tmp_path / "run"
    result = subprocess.run(
        [nginx_binary(), "-t", "-p", str(run), "-c", str(run / "nginx.conf"), "-e", "stderr"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_variables_survive_rendering(tmp_path):
    config = rendered(tmp_path) + "".join(path.read_text() for path in (tmp_path / "run" / "snippets").iterdir())
    for variable in (
        "$request_id",
        "$host",
        "$http_host",
        "$binary_remote_addr",
        "$upstream_addr",
        "$request_time",
        "$upstream_response_time",
        "$proxy_add_x_forwarded_for",
        "$uri",
    ):
        assert variable in config
    code = [line for line in config.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "${" in line]  # every placeholder is filled


def test_template_uses_only_variables_the_script_substitutes():
    substituted = set(re.findall(r"\$\{(\w+)\}", RENDER.read_text().split("variables='")[1].split("'")[0]))
    body = "\n".join(line for line in TEMPLATE.read_text().splitlines() if not line.startswith("#"))
    assert set(re.findall(r"\$\{(\w+)\}", body)) == substituted


def image_location() -> tuple[str, str, dict[str, str]]:
    """The template's image location: (name stem pattern, extensions pattern, its types block as mime -> extension)."""
    found = re.search(
        r'location ~ "\^/images/\(\?<imagehost_name>(.+?)\\\.\(\?:([^)]+)\)\)\$" \{(.*?)\n    \}',
        TEMPLATE.read_text(),
        re.DOTALL,
    )
    assert found, "no image location in the template"
    stem, extensions, body = found.groups()
    types_block = re.search(r"types \{([^}]*)\}", body).group(1)
    return stem, extensions, dict(re.findall(r"(\S+) (\S+);", types_block))


def test_nginx_serves_the_names_of_exactly_the_accepted_image_types():
    stem, extensions, _ = image_location()
    assert stem == IMAGE_STEM
    assert set(extensions.split("|")) == {image_type.extension[1:] for image_type in ACCEPTED_TYPES}


def test_nginx_serves_each_accepted_image_type_with_its_content_type():
    _, _, types = image_location()
    assert types == {image_type.mime: image_type.extension[1:] for image_type in ACCEPTED_TYPES}


@pytest.mark.parametrize(
    "workers, start_port, expected",
    [
        ("1", "8001", ["127.0.0.1:8001"]),
        ("2", "8001", ["127.0.0.1:8001", "127.0.0.1:8002"]),
        ("4", "9100", ["127.0.0.1:9100", "127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"]),
    ],
)
def test_upstream_lists_one_server_per_worker_port(tmp_path, workers, start_port, expected):
    config = rendered(tmp_path, WEB_SERVER_WORKERS=workers, WEB_SERVER_START_PORT=start_port)
    assert re.findall(r"^\s*server (\S+) max_fails=\d+ fail_timeout=\w+;", config, re.MULTILINE) == expected


def test_upstream_host_is_used_for_every_server(tmp_path):
    config = rendered(tmp_path, UPSTREAM_HOST="app")
    assert re.findall(r"^\s*server (\S+) ", config, re.MULTILINE) == ["app:8001", "app:8002"]


def test_app_upstreams_lists_every_worker_of_every_node_each_left_out_for_10_s_after_one_failure(tmp_path):
    config = rendered(tmp_path, APP_UPSTREAMS="app-1:8001  10.0.0.7:9100 [::1]:8001", WEB_SERVER_WORKERS="2")
    assert re.findall(r"^\s*server (\S+) (max_fails=\d+ fail_timeout=\w+);", config, re.MULTILINE) == [
        (server, "max_fails=1 fail_timeout=10s")
        for server in ("app-1:8001", "app-1:8002", "10.0.0.7:9100", "10.0.0.7:9101", "[::1]:8001", "[::1]:8002")
    ]


@pytest.mark.parametrize("nodes", ["app-1", "app-1:", "app-1:80x", "http://app-1:8001", "app-1:8001;", "app-1:65535"])
def test_app_upstreams_that_are_not_host_and_first_port_are_refused_naming_the_setting(tmp_path, nodes):
    result = render(tmp_path, APP_UPSTREAMS=nodes)
    assert result.returncode != 0 and "APP_UPSTREAMS" in result.stderr


@pytest.mark.parametrize(
    "max_upload_bytes, body_limit, words",
    [
        ("5242880", 5242880 + 65536, "at most 5 MiB (5242880 bytes)"),
        ("1048576", 1048576 + 65536, "at most 1 MiB (1048576 bytes)"),
        ("1536", 1536 + 65536, "at most 1.5 KiB (1536 bytes)"),
        ("500", 500 + 65536, "at most 500 bytes (500 bytes)"),
    ],
)
def test_body_limit_and_413_message_follow_max_upload_bytes(tmp_path, max_upload_bytes, body_limit, words):
    config = rendered(tmp_path, MAX_UPLOAD_BYTES=max_upload_bytes)
    assert f"client_max_body_size {body_limit};" in config
    assert words in config
    # The workers drain a refused body up to the same size (worker.RequestHandler).
    assert Config(max_upload_bytes=int(max_upload_bytes)).max_body_bytes == body_limit


def test_listen_address_comes_from_http_bind_and_http_port(tmp_path):
    assert "listen 127.0.0.2:9999 default_server;" in rendered(tmp_path, HTTP_BIND="127.0.0.2", HTTP_PORT="9999")
    assert "listen [::1]:9999 default_server;" in rendered(tmp_path, HTTP_BIND="::1", HTTP_PORT="9999")


def test_rate_limit_comes_from_the_settings(tmp_path):
    config = rendered(tmp_path, UPLOAD_RATE_LIMIT="30r/m", UPLOAD_RATE_BURST="7")
    assert "zone=imagehost_upload:10m rate=30r/m;" in config
    assert "limit_req zone=imagehost_upload burst=7 nodelay;" in config


def test_relative_paths_are_made_absolute(tmp_path):
    config = rendered(tmp_path, IMAGES_DIR="pictures", LOG_DIR="./journal")
    assert f"alias {tmp_path}/pictures/$imagehost_name;" in config
    assert f"access_log {tmp_path}/journal/nginx/access.log imagehost;" in config


@pytest.mark.parametrize(
    "variable, value",
    [
        ("WEB_SERVER_WORKERS", "0"),
        ("WEB_SERVER_WORKERS", "two"),
        ("WEB_SERVER_START_PORT", "70000"),
        ("HTTP_PORT", "0"),
        ("MAX_UPLOAD_BYTES", "5M"),
        ("UPLOAD_RATE_LIMIT", "2/s"),
        ("UPLOAD_RATE_LIMIT", "2r/h"),
        ("UPLOAD_RATE_BURST", "0"),
        ("HTTP_BIND", "127.0.0.1; evil"),
        ("METRICS_ALLOW", "127.0.0.1; allow all"),
        ("METRICS_ALLOW", "{ }"),
    ],
)
def test_unusable_setting_stops_rendering_with_its_name(tmp_path, variable, value):
    result = render(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert variable in result.stderr
    assert not (tmp_path / "run" / "imagehost.conf").exists()


def test_in_s3_mode_images_and_previews_are_fetched_from_their_keys_in_the_bucket(tmp_path):
    config = rendered(tmp_path, **S3_SETTINGS, S3_KEY_PREFIX="site/a/")
    # Both image locations go through the cache to the origin server, which alone talks
    # to the bucket, for an image's key or a preview's and nothing else.
    assert config.count("proxy_pass http://imagehost_s3_origin;") == 2
    # The bucket's headers are hidden before an answer is cached and again after.
    assert config.count(f"include {tmp_path}/run/snippets/bucket-headers.conf;") == 3
    assert f"listen unix:{tmp_path}/run/tmp/s3-origin.sock;" in config
    origin = re.search(r'location ~ "\^/images/\(\?<imagehost_object>([^"]*)\)\$" \{\s*proxy_pass ([^;]*);', config)
    assert origin.group(2) == "http://imagehost_s3/photos/site/a/$imagehost_object"
    names = r"[A-Za-z0-9_-]{12,128}\.(?:jpg|png|gif|webp|avif)"
    assert origin.group(1) == f"{names}|previews/{names}\\.webp"
    assert re.search(r"upstream imagehost_s3 \{\s*server 127\.0\.0\.1:7480;", config)
    assert f"proxy_cache_path {tmp_path}/run/cache/images " in config and "max_size=1g " in config
    assert "alias " not in config


def test_the_origin_server_sends_the_bucket_no_header_nor_body_of_the_clients(tmp_path):
    # radosgw ignores what a client might add to an anonymous GET (x-amz-* options,
    # credentials), so this is checked in the config: only the Host, Connection and the
    # cache's If-None-Match are sent.
    config = rendered(tmp_path, **S3_SETTINGS)
    origin = config[config.index("server {\n    listen unix:") :]
    origin = origin[: origin.index("\n}\n")]
    assert f"include {tmp_path}/run/snippets/s3-fetch.conf;" in origin
    fetch = (tmp_path / "run" / "snippets" / "s3-fetch.conf").read_text()
    assert "proxy_pass_request_headers off;" in fetch and "proxy_pass_request_body off;" in fetch
    sent = sorted(re.findall(r"^\s*proxy_set_header (\S+)", origin + "\n" + fetch, re.MULTILINE))
    assert sent == ["Connection", "Host", "If-None-Match"]


def test_an_https_endpoint_is_fetched_with_its_certificate_checked(tmp_path):
    config = rendered(tmp_path, **{**S3_SETTINGS, "S3_ENDPOINT_URL": "https://s3.example.test"})
    assert "proxy_pass https://imagehost_s3/photos/$imagehost_object;" in config
    assert "proxy_ssl_verify on;" in config and "proxy_ssl_name s3.example.test;" in config


def test_a_run_folder_too_deep_for_a_socket_path_puts_the_origin_servers_socket_in_tmp(tmp_path):
    # A unix socket's path holds at most 107 bytes.
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    sockets = re.findall(r"unix:(\S+);", rendered(deep, **S3_SETTINGS))
    assert len(set(sockets)) == 1 and re.fullmatch(r"/tmp/imagehost-s3-origin-\d+\.sock", sockets[0])
    assert sockets == re.findall(r"unix:(\S+);", rendered(deep, **S3_SETTINGS))  # the same folder, the same socket
    other = tmp_path / ("e" * 100)
    other.mkdir()
    assert re.findall(r"unix:(\S+);", rendered(other, **S3_SETTINGS))[0] != sockets[0]


def test_in_local_mode_nothing_of_s3_is_in_the_config(tmp_path):
    config = rendered(tmp_path, S3_BUCKET="photos")
    assert "imagehost_s3" not in config and "proxy_cache" not in config


def page_policy(config: str) -> str:
    return re.search(r'add_header Content-Security-Policy "(default-src [^"]*)" always;', config).group(1)


def test_with_direct_uploads_the_page_may_connect_to_the_bucket_browsers_reach_and_nowhere_else(tmp_path):
    public = {"S3_DIRECT_UPLOADS": "true", "S3_PUBLIC_ENDPOINT_URL": "https://s3.example.test/"}
    policy = page_policy(rendered(tmp_path, **S3_SETTINGS, **public))
    assert "connect-src 'self' https://s3.example.test https://photos.s3.example.test;" in policy
    off = tmp_path / "off"
    off.mkdir()
    assert "connect-src 'self';" in page_policy(rendered(off, **S3_SETTINGS))


def test_direct_uploads_with_local_storage_stop_rendering_naming_post_upload(tmp_path):
    result = render(tmp_path, S3_DIRECT_UPLOADS="true")
    assert result.returncode != 0 and "S3_DIRECT_UPLOADS" in result.stderr and "POST /upload" in result.stderr


@pytest.mark.parametrize(
    "variable, value",
    [
        ("STORAGE", "disk"),
        ("S3_ENDPOINT_URL", ""),
        ("S3_ENDPOINT_URL", "127.0.0.1:7480"),
        ("S3_ENDPOINT_URL", "http://127.0.0.1:7480/photos"),
        ("S3_ENDPOINT_URL", "http://host; evil"),
        ("S3_BUCKET", ""),
        ("S3_BUCKET", "Photos"),
        ("S3_BUCKET", "photos/../x"),
        ("S3_BUCKET", "a;b"),
        ("S3_KEY_PREFIX", "site"),
        ("S3_KEY_PREFIX", "../"),
        ("S3_KEY_PREFIX", "a/./"),
        ("S3_KEY_PREFIX", "/site/"),
        ("S3_KEY_PREFIX", "a b/"),
        ("S3_CACHE_MAX_SIZE", "lots"),
        ("S3_CACHE_MAX_SIZE", "0"),
        ("S3_DIRECT_UPLOADS", "sometimes"),
        ("S3_PUBLIC_ENDPOINT_URL", "https://s3.example.test/photos; evil"),
    ],
)
def test_an_unusable_s3_setting_stops_rendering_with_its_name(tmp_path, variable, value):
    result = render(tmp_path, **{**S3_SETTINGS, variable: value})
    assert result.returncode != 0
    assert variable in result.stderr
    assert not (tmp_path / "run" / "imagehost.conf").exists()


def test_local_main_file_keeps_pid_and_temp_files_in_the_run_folder(tmp_path):
    rendered(tmp_path)
    main = (tmp_path / "run" / "nginx.conf").read_text()
    run = tmp_path / "run"
    assert f"pid {run}/nginx.pid;" in main
    assert f"client_body_temp_path {run}/tmp/client_body;" in main
    assert f"include {run}/imagehost.conf;" in main
    assert f"error_log {tmp_path}/logs/nginx/error.log warn;" in main


def test_snippets_are_copied_beside_the_config_and_each_included_by_absolute_path(tmp_path):
    """Every snippet is used: by the local config or by the S3 one."""
    included = set()
    for storage in ({}, S3_SETTINGS):
        config = rendered(tmp_path, **storage)
        included |= set(re.findall(r"\binclude (\S+);", config))
    snippets = tmp_path / "run" / "snippets"
    assert included == {str(snippets / source.name) for source in (TEMPLATE.parent / "snippets").glob("*.conf")}
    for path in included:
        assert Path(path).read_text() == (TEMPLATE.parent / "snippets" / Path(path).name).read_text()


def test_the_image_copies_the_snippets_where_the_hook_includes_them_from():
    dockerfile = (RENDER.parent / "Dockerfile").read_text()
    copied_to = re.search(r"^COPY templates/snippets/ (\S+)/$", dockerfile, re.MULTILINE).group(1)
    assert f"snippets_from={copied_to}\n" in RENDER.read_text()
    assert not copied_to.startswith("/etc/nginx/conf.d")  # the image's nginx.conf includes conf.d/*.conf


def test_a_location_with_headers_of_its_own_includes_the_security_headers_again(tmp_path):
    """add_header is not inherited by a level that has one itself: the images' location
    must carry the server's headers too, and the error pages nosniff (json-error.conf)."""
    config = rendered(tmp_path)
    locations = re.findall(r"^    location ([^{]+) \{(.*?)\n    \}", config, re.DOTALL | re.MULTILINE)
    for target, body in locations:
        if "add_header" in body or "json-error.conf" in body:
            assert "security-headers.conf;" in body or "json-error.conf;" in body, target
    snippets = TEMPLATE.parent / "snippets"
    assert 'add_header X-Content-Type-Options "nosniff" always;' in (snippets / "json-error.conf").read_text()
    assert "default_type application/json;" in (snippets / "json-error.conf").read_text()
