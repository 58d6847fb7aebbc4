import pytest

from paynet_core.config import Mode, Secret, load_settings
from paynet_core.errors import ConfigError


def test_no_keys_means_sandbox():
    s = load_settings(env={}, secrets_file=None)
    assert s.mode is Mode.SANDBOX and s.paynet_secret_key is None


def test_env_wins_over_secrets_file(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text('PAYNET_SECRET_KEY = "sck_from_file_1234"\nPAYNET_OPS_MODE = "test"\n')
    s = load_settings(env={"PAYNET_SECRET_KEY": "sck_from_env_5678"}, secrets_file=f)
    assert s.mode is Mode.TEST
    assert s.paynet_secret_key.reveal() == "sck_from_env_5678"


def test_live_without_key_fails_fast_with_the_fix():
    with pytest.raises(ConfigError, match="PAYNET_SECRET_KEY"):
        load_settings(env={"PAYNET_OPS_MODE": "live"}, secrets_file=None)


def test_bad_mode_is_explained():
    with pytest.raises(ConfigError, match="sandbox, test, live"):
        load_settings(env={"PAYNET_OPS_MODE": "prod"}, secrets_file=None)


def test_invalid_secrets_file_error_does_not_echo_its_content(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text('PAYNET_SECRET_KEY = "sck_leaky_value_9999\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(env={}, secrets_file=f)
    assert "sck_leaky" not in str(exc.value)


def test_secret_is_masked_everywhere():
    s = Secret("sck_pcs_abcdefghijklmnop")
    assert s.masked == "sck_…mnop"
    for text in (repr(s), str(s), f"{s}", repr([s]), repr({"k": s})):
        assert "abcdefghijkl" not in text
    with pytest.raises(TypeError):
        __import__("pickle").dumps(s)
