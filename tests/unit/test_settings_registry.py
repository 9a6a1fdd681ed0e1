"""config.SETTINGS is the one list of imagehost's settings; the files that cannot import
it keep copies of its names and defaults, checked here against it.

Adding a setting: add it to SETTINGS; these tests then name each file that needs it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from imagehost.config import SETTINGS, Config, default_of
from support.stack import TEST_DEFAULTS

REPO = Path(__file__).resolve().parents[2]
PERSON_SET = {setting.name: setting.default for setting in SETTINGS if not setting.internal}
READ_BY_NGINX = {setting.name for setting in SETTINGS if setting.nginx}
# `${NAME:-default}`, in shell and in Compose files alike.
# Compose's own variables, read by no program of ours: the scale profile's published ports
# and the bucket's address as browsers reach it there.
COMPOSE_ONLY = {"SCALE_HTTP_PORT", "SCALE_S3_PORT", "SCALE_S3_PUBLIC_URL"}
SHELL_DEFAULT = re.compile(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}")


def read(path: str) -> str:
    return (REPO / path).read_text()


def env_sample_lines() -> dict[str, str]:
    """NAME=value lines of .env.sample, commented-out ones (`#NAME=value`) too."""
    return dict(re.findall(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", read(".env.sample"), re.MULTILINE))


def readme_table_rows() -> dict[str, str]:
    """README's settings table: variable -> default (`empty` is "")."""
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| (?:`([^`]*)`|empty) \|", read("README.md"), re.MULTILINE)
    return dict(rows)


def test_env_sample_lists_every_setting_a_person_sets_with_its_default():
    assert env_sample_lines() == PERSON_SET


def test_the_readme_settings_table_lists_every_setting_a_person_sets_with_its_default():
    assert readme_table_rows() == PERSON_SET


def test_render_config_defaults_are_the_registrys_for_every_setting_nginx_reads():
    script = read("services/nginx/render-config.sh")
    defaults = dict(SHELL_DEFAULT.findall(script))
    assert set(defaults) == READ_BY_NGINX
    assert {name: value for name, value in defaults.items() if default_of(name) is not None} == {
        name: default_of(name) for name in READ_BY_NGINX if default_of(name) is not None
    }


def test_docker_compose_defaults_are_the_registrys():
    compose = read("docker-compose.yml")
    in_compose = SHELL_DEFAULT.findall(compose)
    # The healthcheck's Python reads the workers' ports: os.environ.get("NAME", "default").
    in_compose += re.findall(r'environ\.get\("([A-Z][A-Z0-9_]*)", "([^"]*)"\)', compose)
    assert in_compose, "no defaults found: has the file's syntax changed?"
    # Build arguments of the images (the commit /api/version names) are not settings.
    build_arguments = set(re.findall(r"^ARG ([A-Z][A-Z0-9_]*)", read("services/backend/Dockerfile"), re.M))
    in_compose = [(name, default) for name, default in in_compose if name not in build_arguments | COMPOSE_ONLY]
    assert [(name, default) for name, default in in_compose if default_of(name) != default] == []


def test_nginx_under_compose_gets_every_setting_it_reads_from_the_env_file_or_its_image():
    from_env_file = {name for name, _ in SHELL_DEFAULT.findall(read("docker-compose.yml"))}
    from_image = set(re.findall(r"\b([A-Z][A-Z0-9_]*)=\S", read("services/nginx/Dockerfile")))
    assert READ_BY_NGINX - from_env_file - from_image == set()
    assert from_image <= READ_BY_NGINX


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_every_setting_says_who_reads_it_and_what_it_is(setting):
    assert setting.description
    assert setting.read_by_backend or setting.nginx, "read by no one"
    assert (setting.field is None) == (setting.parse is None)


def test_every_config_field_is_a_setting_and_defaults_to_the_registrys_value_parsed():
    by_field = {setting.field: setting for setting in SETTINGS if setting.read_by_backend}
    assert {field.name for field in dataclasses.fields(Config)} == set(by_field)
    for field in dataclasses.fields(Config):
        setting = by_field[field.name]
        assert field.default == setting.parse(setting.name, setting.default), setting.name


def test_the_test_helpers_defaults_are_registry_settings():
    assert set(TEST_DEFAULTS) <= {setting.name for setting in SETTINGS}
