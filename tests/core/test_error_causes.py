"""Errors keep their cause, and a person sees its one-line reason (CLI line, page banner)."""

from __future__ import annotations

import pytest

import dashboard.components as components
import paynet_core.cli as cli
from paynet_core.config import load_settings
from paynet_core.errors import ConfigError, InputError, TransportError, reason


def _raised(err: Exception, cause: BaseException | None) -> Exception:
    try:
        if cause is None:
            raise err from None
        raise err from cause
    except Exception as caught:
        return caught


def test_reason_adds_the_cause_line_the_text_lacks():
    err = _raised(
        ConfigError("cannot read the settings file"), PermissionError(13, "Permission denied")
    )
    assert (
        reason(err)
        == "cannot read the settings file (PermissionError: [Errno 13] Permission denied)"
    )


def test_reason_does_not_repeat_a_cause_the_text_already_names():
    cause = ValueError("rate must be positive")
    err = _raised(ConfigError(f"PAYNET_SANDBOX_FAULTS: {cause}"), cause)
    assert reason(err) == "PAYNET_SANDBOX_FAULTS: rate must be positive"


def test_reason_ignores_from_none_and_handled_context():
    err = _raised(InputError("not a date", field="val_date"), None)
    assert err.__context__ is None or err.__suppress_context__
    assert reason(err) == "val_date: not a date"
    try:
        try:
            raise KeyError("x")
        except KeyError:
            raise InputError("bad", field="f")  # noqa: B904 (the point: context, not cause)
    except InputError as err2:
        assert reason(err2) == "f: bad"


def test_reason_cuts_a_long_cause_to_its_first_line():
    err = _raised(ConfigError("broken"), OSError("first line " + "x" * 500 + "\nsecond line"))
    text = reason(err)
    assert "second line" not in text and text.endswith("…)") and len(text) < 200


def test_reason_of_a_cause_without_text_names_its_type():
    assert reason(_raised(ConfigError("broken"), TimeoutError())) == "broken (TimeoutError)"


def test_a_bad_secrets_file_names_the_place_and_keeps_the_cause_never_the_value(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text('PAYNET_OPS_MODE = "test"\nPAYNET_SECRET_KEY = "sck_leaky_value_9999\n')
    with pytest.raises(ConfigError) as info:
        load_settings(env={}, secrets_file=f)
    text = reason(info.value)
    assert "(at line 2, column 42)" in text
    assert "sck_leaky" not in text
    assert type(info.value.__cause__).__name__ == "TOMLDecodeError"


def test_a_secrets_file_that_is_not_utf8_says_where(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_bytes(b'PAYNET_OPS_MODE = "t\xffst"\n')
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 20 is not\)") as info:
        load_settings(env={}, secrets_file=f)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_the_cli_prints_the_cause_of_a_configuration_error(monkeypatch, capsys):
    def app():
        raise ConfigError("cannot open the cache") from PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli, "app", app)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "configuration error: cannot open the cache (PermissionError: [Errno 13] Permission denied)\n"
    )


def test_the_cli_shows_a_transport_error_once_with_its_reason(monkeypatch, capsys):
    def app():
        cause = OSError("[Errno 111] Connection refused")
        raise TransportError(
            "no reply (ConnectError: [Errno 111] Connection refused)",
            provider="Paynet",
            operation="list",
        ) from cause

    monkeypatch.setattr(cli, "app", app)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err.count("Connection refused") == 1


def test_the_page_banner_shows_the_cause_of_an_input_error(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(components.st, "error", lambda body, **_: shown.append(body))
    err = _raised(
        InputError("cannot read the file", field="upload"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    )
    components.show_error(err)
    assert len(shown) == 1
    assert "cannot read the file" in shown[0] and "invalid start byte" in shown[0]
