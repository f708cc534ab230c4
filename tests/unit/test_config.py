"""Settings: environment over .env, one-line errors naming the variable, the local key."""

from __future__ import annotations

import pytest

from core.config import ConfigError, ensure_local_secret_key, load_settings

KEY = "k" * 64


def test_seed_variable_names_are_read():
    settings = load_settings(
        {
            "FUNCTION_TIMEOUT": "12.5",
            "MAX_BATCH_SIZE": "7",
            "MAX_RETRIES": "0",
            "RETRY_DELAY": "0.25",
            "LOG_LEVEL": "debug",
            "REST_PORT": "9090",
        },
        dotenv=None,
    )
    assert settings.function_timeout == 12.5 and settings.max_batch_size == 7
    assert settings.max_retries == 0 and settings.retry_delay == 0.25
    assert settings.log_level == "DEBUG" and settings.rest_port == 9090


def test_the_lambda_modules_settings_have_the_seeds_timeout_and_no_prefix_by_default():
    defaults = load_settings({}, dotenv=None)
    assert defaults.lambda_timeout == 300.0 and defaults.lambda_function_prefix == ""
    settings = load_settings(
        {"LAMBDA_TIMEOUT": "900", "LAMBDA_FUNCTION_PREFIX": " waddlebot- "}, dotenv=None
    )
    assert settings.lambda_timeout == 900.0 and settings.lambda_function_prefix == "waddlebot-"


def test_environment_wins_over_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nexport REST_PORT=7000\nMAX_BATCH_SIZE="5"\n')
    settings = load_settings({"REST_PORT": "7001"}, dotenv=dotenv)
    assert settings.rest_port == 7001 and settings.max_batch_size == 5


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FUNCTION_TIMEOUT": "soon"}, "FUNCTION_TIMEOUT: expected a number, got 'soon'"),
        ({"MAX_BATCH_SIZE": "0"}, "MAX_BATCH_SIZE: must be greater than 0, got '0'"),
        ({"MAX_RETRIES": "-1"}, "MAX_RETRIES: must not be below 0, got '-1'"),
        ({"REST_PORT": "99999"}, "REST_PORT: must be a TCP port (1-65535), got '99999'"),
        (
            {"FNPROXY_PLATFORM": "azure"},
            "FNPROXY_PLATFORM: expected one of local, aws, gcp, got 'azure'",
        ),
        (
            {"MODULE_SECRET_KEY": "short"},
            "MODULE_SECRET_KEY: must be at least 64 characters, got 5",
        ),
        ({"LAMBDA_TIMEOUT": "0"}, "LAMBDA_TIMEOUT: must be greater than 0, got '0'"),
        ({"LAMBDA_TIMEOUT": "901"}, "LAMBDA_TIMEOUT: at most 900 (Lambda's own), got '901'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, dotenv=None)
    assert str(caught.value) == message


def test_malformed_dotenv_line_is_reported_with_its_place(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("GOOD=1\nthis line is wrong\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE"):
        load_settings({}, dotenv=dotenv)


def test_first_local_run_generates_a_private_key_and_reuses_it(tmp_path):
    said: list[str] = []
    settings = load_settings({"FNPROXY_DATA_DIR": str(tmp_path / "data")}, dotenv=None)
    first = ensure_local_secret_key(settings, said.append)
    second = ensure_local_secret_key(settings, said.append)
    key_file = tmp_path / "data" / "module_secret_key"
    assert len(first.module_secret_key) >= 64
    assert second.module_secret_key == first.module_secret_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert len(said) == 1 and str(key_file) in said[0] and first.module_secret_key not in said[0]


def test_a_configured_key_is_kept_and_nothing_is_generated(tmp_path):
    settings = load_settings({"FNPROXY_DATA_DIR": str(tmp_path), "MODULE_SECRET_KEY": KEY}, None)
    assert ensure_local_secret_key(settings, print).module_secret_key == KEY
    assert not (tmp_path / "module_secret_key").exists()


def test_secret_settings_stay_out_of_the_repr():
    settings = load_settings(
        {"MODULE_SECRET_KEY": KEY, "OPENWHISK_AUTH_KEY": "uuid:hidden-key"}, dotenv=None
    )
    shown = repr(settings)
    assert KEY not in shown and "hidden-key" not in shown and "function_timeout" in shown
