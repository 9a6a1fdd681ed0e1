"""Configuration: defaults, validation messages naming the variable, .env below the environment."""

from pathlib import Path

import pytest
from imagehost.config import ConfigError, load_config


def config_of(**environ):
    return load_config(environ=environ, env_file=None)


def test_defaults_match_the_documented_values():
    config = config_of()
    assert (config.workers, config.start_port, config.bind_host) == (2, 8001, "127.0.0.1")
    assert config.max_upload_bytes == 5_242_880 and config.max_image_pixels == 50_000_000
    assert config.gallery_public is False and config.upload_token == "" and config.admin_token == ""
    assert config.images_dir == Path("images").resolve()


@pytest.mark.parametrize(
    "variable, value, words",
    [
        ("WEB_SERVER_WORKERS", "0", "between 1 and 64"),
        ("WEB_SERVER_WORKERS", "two", "whole number"),
        ("WEB_SERVER_START_PORT", "70000", "between 1 and 65535"),
        ("MAX_UPLOAD_BYTES", "-1", "between"),
        ("MAX_UPLOAD_BYTES", "5MB", "whole number"),
        ("MAX_IMAGE_PIXELS", "0", "between"),
        ("GALLERY_PUBLIC", "maybe", "true or false"),
        ("DATABASE_URL", "mysql://app@db/images", "postgresql://"),
        ("DATABASE_URL", "postgresql://app@db:5432", "database's name"),
        ("DATABASE_URL", "postgresql://app@db:port/images", "not a URL"),
        ("BIND_HOST", "my host", "address"),
        ("PUBLIC_BASE_URL", "ftp://x", "URL"),
        ("PUBLIC_BASE_URL", "https://x.example/\nInjected: 1", "URL"),
        ("ADMIN_TOKEN", "short", "at least 16"),
        ("UPLOAD_TOKEN", "has spaces in it, lots of them", "without spaces"),
        ("LOG_LEVEL", "LOUD", "DEBUG, INFO"),
        ("LOG_MAX_BYTES", "10", "between"),
        ("SHUTDOWN_TIMEOUT", "-3", "seconds"),
        ("SHUTDOWN_TIMEOUT", "soon", "seconds"),
        ("IMAGES_DIR", " ", "directory"),
        ("ALLOWED_ORIGINS", "a.example", "origins such as"),
        ("ALLOWED_ORIGINS", "https://a.example, null", "origins such as"),
        ("ALLOWED_ORIGINS", "https://a.example/upload", "no path"),
        ("ALLOWED_ORIGINS", "*", "origins such as"),
        ("METRICS_TOKEN", "short", "at least 16"),
        ("METRICS_ALLOW", "127.0.0.1; allow all", "addresses or CIDR ranges"),
        ("METRICS_ALLOW", "example.com", "addresses or CIDR ranges"),
        ("STORAGE", "s3", "needs S3_ENDPOINT_URL and S3_BUCKET"),
        ("STORAGE", "disk", "must be local"),
        ("S3_KEY_PREFIX", "site", "ending in /"),
        ("S3_KEY_PREFIX", "/site/", "ending in /"),
        ("S3_KEY_PREFIX", "site/../", "no . or .. folder"),
        ("S3_ENDPOINT_URL", "s3.example.com", "http:// or https://"),
        ("S3_ENDPOINT_URL", "https://s3.example.com/bucket", "nothing after it"),
        ("S3_ENDPOINT_URL", "http://bad host", "http:// or https://"),
        ("S3_BUCKET", "My_Bucket", "bucket name"),
        ("S3_BUCKET", "ab", "bucket name"),
        ("S3_ADDRESSING", "dns", "path"),
        ("S3_DIRECT_UPLOADS", "true", "needs STORAGE=s3"),
        ("S3_DIRECT_UPLOADS", "sometimes", "true or false"),
        ("S3_PUBLIC_ENDPOINT_URL", "https://s3.example.com/bucket", "nothing after it"),
    ],
)
def test_a_bad_value_is_refused_with_a_message_naming_the_variable(variable, value, words):
    with pytest.raises(ConfigError) as raised:
        config_of(**{variable: value})
    assert variable in str(raised.value) and words in str(raised.value)


def test_the_last_worker_port_must_exist():
    with pytest.raises(ConfigError, match="WEB_SERVER_START_PORT"):
        config_of(WEB_SERVER_START_PORT="65535", WEB_SERVER_WORKERS="2")


def test_metrics_open_to_all_addresses_need_a_metrics_token():
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        config_of(METRICS_ALLOW="all")
    assert config_of(METRICS_ALLOW="all", METRICS_TOKEN="m" * 16).metrics_allow == ("all",)


def test_the_index_may_not_live_inside_the_served_images_dir(tmp_path):
    with pytest.raises(ConfigError, match="DATA_DIR"):
        config_of(IMAGES_DIR=str(tmp_path), DATA_DIR=str(tmp_path / "db"))


@pytest.mark.parametrize("raw, value", [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False)])
def test_booleans_accept_the_usual_spellings(raw, value):
    assert config_of(GALLERY_PUBLIC=raw).gallery_public is value


def test_the_environment_overrides_dot_env(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("WEB_SERVER_WORKERS=3\nMAX_UPLOAD_BYTES=1000\n# a comment\n")
    config = load_config(environ={"WEB_SERVER_WORKERS": "5"}, env_file=env_file)
    assert (config.workers, config.max_upload_bytes) == (5, 1000)


def test_the_config_is_frozen():
    with pytest.raises(AttributeError):
        config_of().workers = 9


def test_allowed_origins_are_read_as_origins_in_one_spelling():
    config = config_of(ALLOWED_ORIGINS=" https://A.example, http://b.example:80/,,https://c.example:8443 ")
    assert config.allowed_origins == {"https://a.example", "http://b.example", "https://c.example:8443"}
    assert config_of().allowed_origins == frozenset() == config_of(ALLOWED_ORIGINS=" ").allowed_origins


def test_images_are_stored_locally_unless_said_otherwise():
    assert config_of().storage == "local" and config_of(STORAGE=" Local ").storage == "local"


def test_a_database_url_is_kept_and_named_in_messages_without_its_password():
    config = config_of(DATABASE_URL=" postgresql://app:s3cret@db.example:5433/images ")
    assert config.database_url == "postgresql://app:s3cret@db.example:5433/images"
    assert config.index_location == "the PostgreSQL database images on db.example:5433"
    assert config_of().index_location == str(config_of().index_path)


def test_a_refused_database_url_does_not_echo_its_password():
    with pytest.raises(ConfigError) as refused:
        config_of(DATABASE_URL="mysql://app:s3cret@db/images")
    assert "s3cret" not in str(refused.value)


def test_images_are_stored_in_the_bucket_the_s3_settings_name():
    config = config_of(
        STORAGE="S3",
        S3_ENDPOINT_URL="http://127.0.0.1:7480",
        S3_BUCKET="photos",
        S3_KEY_PREFIX="site/",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    assert (config.storage, config.s3_endpoint_url, config.s3_bucket, config.s3_key_prefix) == (
        "s3",
        "http://127.0.0.1:7480",
        "photos",
        "site/",
    )
    assert (config.s3_region, config.s3_addressing, config.aws_access_key_id) == ("us-east-1", "path", "key")
    assert "secret" not in repr(config)


def test_direct_uploads_are_off_unless_asked_and_refused_on_local_storage_with_the_way_that_works():
    assert config_of().s3_direct_uploads is False
    with pytest.raises(ConfigError) as refused:
        config_of(S3_DIRECT_UPLOADS="true")
    assert "STORAGE=local" in str(refused.value) and "POST /upload" in str(refused.value)


def test_direct_uploads_with_s3_take_the_public_endpoint_browsers_reach():
    config = config_of(
        STORAGE="s3",
        S3_ENDPOINT_URL="http://10.0.0.5:7480",
        S3_BUCKET="photos",
        S3_DIRECT_UPLOADS="yes",
        S3_PUBLIC_ENDPOINT_URL="https://s3.example.com",
    )
    assert (config.s3_direct_uploads, config.s3_public_endpoint_url) == (True, "https://s3.example.com")
