"""Settings from environment variables and ``.streamlit/secrets.toml``.

Keys: ``PAYNET_SECRET_KEY``, ``PAYOFIN_API_KEY``, ``PAYOFIN_SECRET_KEY``, ``PAYNET_OPS_MODE``
(sandbox | test | live), ``PAYNET_OPS_DB`` (the cache file), ``PAYNET_OPS_SANDBOX_DB`` (sandbox
state), ``PAYNET_OPS_RATE_LIMIT`` (requests per second for bulk jobs). The environment wins over
the secrets file. No key at all means sandbox mode.

Secrets are held in :class:`Secret`, whose ``repr`` and ``str`` never show the value.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .errors import ConfigError

DEFAULT_DB = Path("data") / "paynet_ops.db"
DEFAULT_SANDBOX_DB = Path("data") / "sandbox.db"
SECRETS_FILE = Path(".streamlit") / "secrets.toml"


class Mode(StrEnum):
    SANDBOX = "sandbox"
    TEST = "test"
    LIVE = "live"


#: Conservative default request rates (per second) for bulk jobs, per mode.
DEFAULT_RATE = {Mode.SANDBOX: 50.0, Mode.TEST: 10.0, Mode.LIVE: 5.0}


class Secret:
    """A secret string that never shows itself in a repr, a log line, or a page."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        """``sck_…abcd``: the prefix and the last four characters, nothing else."""
        v = self._value
        prefix = v.split("_", 1)[0] + "_" if "_" in v[:8] else ""
        return f"{prefix}…{v[-4:]}" if len(v) > 8 else "…"

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        raise TypeError("secrets are not picklable")


@dataclass(frozen=True)
class Settings:
    mode: Mode = Mode.SANDBOX
    paynet_secret_key: Secret | None = None
    payofin_api_key: Secret | None = None
    payofin_secret_key: Secret | None = None
    db_path: Path = DEFAULT_DB
    sandbox_db_path: Path = DEFAULT_SANDBOX_DB
    rate_limit: float = DEFAULT_RATE[Mode.SANDBOX]
    auth_configured: bool = False
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def is_sandbox(self) -> bool:
        return self.mode is Mode.SANDBOX


def load_settings(
    env: dict[str, str] | None = None, secrets_file: Path | None = SECRETS_FILE
) -> Settings:
    """Read settings; fail fast, with the fix in the message, when test/live lacks a key."""
    env = dict(os.environ if env is None else env)
    secrets = _read_secrets(secrets_file)

    def get(key: str) -> str | None:
        value = env.get(key) or secrets.get(key) or secrets.get(key.lower())
        return str(value).strip() if value not in (None, "") else None

    raw_mode = get("PAYNET_OPS_MODE")
    has_keys = bool(get("PAYNET_SECRET_KEY") or get("PAYOFIN_API_KEY"))
    if raw_mode is None:
        mode = Mode.TEST if has_keys else Mode.SANDBOX
    else:
        try:
            mode = Mode(raw_mode.lower())
        except ValueError:
            raise ConfigError(
                f"PAYNET_OPS_MODE={raw_mode!r} is not one of sandbox, test, live"
            ) from None

    def secret(key: str) -> Secret | None:
        value = get(key)
        return Secret(value) if value else None

    settings = Settings(
        mode=mode,
        paynet_secret_key=secret("PAYNET_SECRET_KEY"),
        payofin_api_key=secret("PAYOFIN_API_KEY"),
        payofin_secret_key=secret("PAYOFIN_SECRET_KEY"),
        db_path=Path(get("PAYNET_OPS_DB") or DEFAULT_DB),
        sandbox_db_path=Path(get("PAYNET_OPS_SANDBOX_DB") or DEFAULT_SANDBOX_DB),
        rate_limit=_rate(get("PAYNET_OPS_RATE_LIMIT"), mode),
        auth_configured="auth" in secrets and isinstance(secrets["auth"], dict),
        roles={str(k).lower(): str(v) for k, v in (secrets.get("roles") or {}).items()},
    )
    if mode is not Mode.SANDBOX and settings.paynet_secret_key is None:
        raise ConfigError(
            f"{mode.value} mode needs PAYNET_SECRET_KEY: set it in the environment or in "
            ".streamlit/secrets.toml (see secrets.toml.example), or use PAYNET_OPS_MODE=sandbox"
        )
    return settings


def _rate(raw: str | None, mode: Mode) -> float:
    if raw is None:
        return DEFAULT_RATE[mode]
    try:
        rate = float(raw)
    except ValueError:
        raise ConfigError(f"PAYNET_OPS_RATE_LIMIT={raw!r} is not a number") from None
    if rate <= 0:
        raise ConfigError("PAYNET_OPS_RATE_LIMIT must be positive")
    return rate


def _read_secrets(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # The message names the file and the line, never the content.
        raise ConfigError(f"{path} is not valid TOML: {exc.__class__.__name__}") from None
