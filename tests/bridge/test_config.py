from __future__ import annotations

import pytest

from whatsapp_bridge.config import (
    DEMO_APP_SECRET,
    DEMO_PHONE_NUMBER_ID,
    ConfigError,
    check_redis,
    load_config,
    parse_env_file,
)

from .helpers import closed_port_url

BASE = {
    "WA_ODOO_URL": "http://odoo:8069/",
    "WA_ODOO_DB": "prod",
    "WA_ODOO_LOGIN": "bridge",
    "WA_ODOO_API_KEY": "k" * 40,
}
REAL = {
    "WA_ACCESS_TOKEN": "EAAG" + "x" * 60,
    "WA_APP_SECRET": "0123456789abcdef0123456789abcdef",
    "WA_VERIFY_TOKEN": "my-verify",
    "WA_PHONE_NUMBER_ID": "123456789012345",
}


def test_missing_odoo_variables_are_all_named():
    with pytest.raises(ConfigError) as info:
        load_config({}, env_file=None)
    text = str(info.value)
    for name in ("WA_ODOO_URL", "WA_ODOO_DB", "WA_ODOO_LOGIN", "WA_ODOO_API_KEY"):
        assert name in text


def test_defaults_and_demo_mode_without_access_token():
    config = load_config(BASE, env_file=None)
    assert config.demo is True
    assert config.app_secret == DEMO_APP_SECRET
    assert config.phone_number_id == DEMO_PHONE_NUMBER_ID
    assert config.graph_base_url.startswith("http://127.0.0.1:")  # the bundled simulator
    assert config.redis_url == "redis://127.0.0.1:6379/0"
    assert config.odoo_url == "http://odoo:8069"
    assert config.rate_per_second == 80
    assert config.stream_prefix == ""
    assert "k" * 40 not in repr(config)  # secrets are not printed


def test_real_credentials_turn_demo_off_and_need_the_meta_settings():
    config = load_config({**BASE, **REAL}, env_file=None)
    assert config.demo is False
    assert config.graph_base_url == "https://graph.facebook.com"
    assert config.graph_url("123/messages") == "https://graph.facebook.com/v21.0/123/messages"
    with pytest.raises(ConfigError) as info:
        load_config({**BASE, "WA_ACCESS_TOKEN": "EAAG"}, env_file=None)
    for name in ("WA_APP_SECRET", "WA_VERIFY_TOKEN", "WA_PHONE_NUMBER_ID"):
        assert name in str(info.value)


@pytest.mark.parametrize("secret", ["short", "not a hex secret with spaces 1234567890", "x" * 31])
def test_invalid_app_secret_is_refused(secret):
    with pytest.raises(ConfigError, match="WA_APP_SECRET"):
        load_config({**BASE, **REAL, "WA_APP_SECRET": secret}, env_file=None)


@pytest.mark.parametrize(
    ("name", "value"),
    [("WA_RATE_PER_SECOND", "fast"), ("WA_RATE_PER_SECOND", "0"), ("WA_BATCH_SIZE", "-1"), ("WA_PORT", "99999"),
     ("WA_GRAPH_VERSION", "21"), ("WA_REDIS_URL", "http://x"), ("WA_ODOO_URL", "odoo:8069")],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({**BASE, name: value}, env_file=None)


def test_env_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\n"
        "export WA_ODOO_URL=http://from-file:8069\n"
        'WA_ODOO_DB="quoted db"\n'
        "WA_ODOO_LOGIN='bridge'  \n"
        "WA_ODOO_API_KEY=abc # trailing comment\n"
        "WA_RATE_PER_SECOND=20\n",
        encoding="utf-8",
    )
    assert parse_env_file(env_file)["WA_ODOO_DB"] == "quoted db"
    config = load_config({"WA_ODOO_URL": "http://from-env:8069"}, env_file=env_file)
    assert config.odoo_url == "http://from-env:8069"
    assert config.odoo_db == "quoted db"
    assert config.odoo_api_key == "abc"
    assert config.rate_per_second == 20


def test_env_file_syntax_error_names_the_line(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("WA_ODOO_URL=http://x\nthis is not an assignment\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=":2:"):
        load_config({}, env_file=env_file)


def test_unreachable_redis_names_the_variable():
    config = load_config({**BASE, "WA_REDIS_URL": closed_port_url("redis")}, env_file=None)
    with pytest.raises(ConfigError, match="WA_REDIS_URL"):
        check_redis(config, timeout=0.5)


def test_reachable_redis_passes():
    check_redis(load_config(BASE, env_file=None))
