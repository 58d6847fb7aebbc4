"""Settings from environment variables and ``.streamlit/secrets.toml``.

Keys: ``PAYNET_SECRET_KEY``, ``PAYOFIN_API_KEY``, ``PAYOFIN_SECRET_KEY``, ``PAYNET_OPS_MODE``
(sandbox | test | live), ``PAYNET_OPS_DB`` (the cache file), ``PAYNET_OPS_SANDBOX_DB`` (sandbox
state), ``PAYNET_OPS_RATE_LIMIT`` (requests per second for bulk jobs), ``PAYNET_BASE_URL`` and
``PAYOFIN_BASE_URL`` (another endpoint: an egress proxy, a staging host, or in sandbox mode a
``paynet-ops sandbox serve`` on loopback), ``PAYNET_SANDBOX_FAULT_RATE`` and
``PAYNET_SANDBOX_FAULTS`` (faults of the in-process sandbox), ``PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE``
(12 or 24: how it answers an unknown invoice_no). The environment wins over the
secrets file. No key at all means sandbox mode.

Everything is checked here, once, at start: a setting that cannot be right raises
:class:`ConfigError` with the fix in the message, so nothing fails later in the middle of a job.
Secrets are held in :class:`Secret`, whose ``repr`` and ``str`` never show the value.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

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

#: Where each provider lives when no base URL is set. The sandbox hosts are never resolved:
#: the runtime routes them to the in-process sandbox.
PAYNET_URLS = {
    Mode.SANDBOX: "http://paynet.sandbox",
    Mode.TEST: "https://pts-api.paynet.com.tr",
    Mode.LIVE: "https://api.paynet.com.tr",
}
PAYOFIN_URLS = {
    Mode.SANDBOX: "http://payofin.sandbox",
    Mode.TEST: "https://api-test.payofin.com",
    Mode.LIVE: "https://api.payofin.com",
}

#: Keys that only make sense against the sandbox (the example file's and the sandbox's own).
_PLACEHOLDER_MARKERS = ("sandbox", "...", "…", "example", "changeme", "xxxx")


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
    #: Set when PAYNET_OPS_DB is a PostgreSQL URL (a secret: it may hold a password).
    db_url: Secret | None = None
    sandbox_db_path: Path = DEFAULT_SANDBOX_DB
    rate_limit: float = DEFAULT_RATE[Mode.SANDBOX]
    auth_configured: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    #: Set only when configured; :attr:`paynet_url` / :attr:`payofin_url` give the effective one.
    paynet_base_url: str | None = None
    payofin_base_url: str | None = None
    #: Faults of the in-process sandbox (``PAYNET_SANDBOX_FAULT_RATE`` / ``PAYNET_SANDBOX_FAULTS``).
    sandbox_fault_rate: float = 0.0
    sandbox_faults: tuple[str, ...] = ()
    #: How the in-process sandbox answers an unknown invoice_no: 12 (Paynet's docs) or 24.
    sandbox_unknown_invoice_code: int | None = None
    #: The PostgreSQL job queue of distributed workers (``PAYNET_OPS_QUEUE``, else
    #: ``PAYNET_OPS_DB`` when that is a ``postgresql://`` URL); None: jobs run in this process
    #: (``PAYNET_OPS_QUEUE=off``: in this process even with the cache on PostgreSQL). Kept out
    #: of the repr: the URL may hold a password.
    queue_url: str | None = field(default=None, repr=False)
    #: Seconds between scheduled cache syncs run by the workers (``PAYNET_OPS_SYNC_EVERY``); 0 off.
    sync_every: float = 0.0
    #: Things that are allowed but probably not meant (shown at start by the CLI and the app).
    warnings: tuple[str, ...] = ()

    @property
    def cache_target(self) -> str | Path:
        """What :meth:`Store.open` takes: the PostgreSQL URL when set, else the SQLite file."""
        return self.db_url.reveal() if self.db_url is not None else self.db_path

    @property
    def cache_label(self) -> str:
        """The cache as pages and messages show it (a URL's password masked)."""
        if self.db_url is None:
            return str(self.db_path)
        from .store.postgres import masked

        return masked(self.db_url.reveal())

    @property
    def is_sandbox(self) -> bool:
        return self.mode is Mode.SANDBOX

    @property
    def paynet_url(self) -> str:
        return self.paynet_base_url or self._served_sandbox or PAYNET_URLS[self.mode]

    @property
    def payofin_url(self) -> str:
        return self.payofin_base_url or self._served_sandbox or PAYOFIN_URLS[self.mode]

    @property
    def _served_sandbox(self) -> str | None:
        # One `sandbox serve` answers both APIs, so in sandbox mode one base URL serves both.
        return (self.paynet_base_url or self.payofin_base_url) if self.is_sandbox else None

    @property
    def sandbox_in_process(self) -> bool:
        """Sandbox mode with no base URL: the sandbox runs inside this process, on
        :attr:`sandbox_db_path`. With a base URL, sandbox mode means "the sandbox served there"."""
        return self.is_sandbox and not (self.paynet_base_url or self.payofin_base_url)

    def describe(self) -> list[tuple[str, str]]:
        """What the Settings page and ``paynet-ops settings`` show: endpoints and mode, and of
        each key only whether it is set."""

        from .i18n import _

        def is_set(secret: Secret | None) -> str:
            return _("set") if secret else _("not set")

        if self.sandbox_in_process:
            paynet = payofin = _("in-process sandbox ({path})", path=self.sandbox_db_path)
        else:
            paynet, payofin = self.paynet_url, self.payofin_url
        faults = (
            _(
                "{share} of requests ({kinds})",
                share=f"{self.sandbox_fault_rate:g}".replace(".", ","),
                kinds=", ".join(self.sandbox_faults) or _("default kinds"),
            )
            if self.sandbox_fault_rate
            else _("off")
        )
        rows = [
            (_("Mode"), self.mode.value),
            (_("Paynet endpoint"), paynet),
            (_("Payofin endpoint"), payofin),
            (_("Paynet secret key"), is_set(self.paynet_secret_key)),
            (_("Payofin API key"), is_set(self.payofin_api_key)),
            (_("Payofin secret key"), is_set(self.payofin_secret_key)),
            (_("Cache database"), self.cache_label),
            (
                _("Bulk rate limit"),
                _("{rate} requests/s", rate=f"{self.rate_limit:g}".replace(".", ",")),
            ),
            (
                _("Login (OIDC)"),
                _("configured") if self.auth_configured else _("not configured"),
            ),
            (_("Role assignments"), str(len(self.roles))),
        ]
        if self.sandbox_in_process:
            rows.insert(3, (_("Sandbox faults"), faults))
        return rows


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

    warnings: list[str] = []
    keys = {
        name: secret(name)
        for name in ("PAYNET_SECRET_KEY", "PAYOFIN_API_KEY", "PAYOFIN_SECRET_KEY")
    }
    if mode is Mode.SANDBOX:
        given = [name for name, value in keys.items() if value is not None]
        if given:
            warnings.append(
                f"sandbox mode ignores {', '.join(given)}: nothing is sent to a provider. Set "
                "PAYNET_OPS_MODE=test (or live) to use them."
            )
        keys = dict.fromkeys(keys)
    else:
        _check_real_keys(mode, keys)
    raw_db = get("PAYNET_OPS_DB")
    db_url = _postgres_url("PAYNET_OPS_DB", raw_db)
    fault_rate, faults = _sandbox_faults(
        get("PAYNET_SANDBOX_FAULT_RATE"), get("PAYNET_SANDBOX_FAULTS")
    )
    settings = Settings(
        mode=mode,
        paynet_secret_key=keys["PAYNET_SECRET_KEY"],
        payofin_api_key=keys["PAYOFIN_API_KEY"],
        payofin_secret_key=keys["PAYOFIN_SECRET_KEY"],
        db_path=DEFAULT_DB if db_url else _path("PAYNET_OPS_DB", raw_db, DEFAULT_DB),
        db_url=db_url,
        sandbox_db_path=_path(
            "PAYNET_OPS_SANDBOX_DB", get("PAYNET_OPS_SANDBOX_DB"), DEFAULT_SANDBOX_DB
        ),
        rate_limit=_rate(get("PAYNET_OPS_RATE_LIMIT"), mode),
        auth_configured="auth" in secrets and isinstance(secrets["auth"], dict),
        roles={str(k).lower(): str(v) for k, v in (secrets.get("roles") or {}).items()},
        paynet_base_url=_base_url("PAYNET_BASE_URL", get("PAYNET_BASE_URL")),
        payofin_base_url=_base_url("PAYOFIN_BASE_URL", get("PAYOFIN_BASE_URL")),
        sandbox_fault_rate=fault_rate,
        sandbox_faults=faults,
        sandbox_unknown_invoice_code=_unknown_invoice_code(
            get("PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE")
        ),
        queue_url=_queue_url(get("PAYNET_OPS_QUEUE"), get("PAYNET_OPS_DB")),
        sync_every=parse_interval("PAYNET_OPS_SYNC_EVERY", get("PAYNET_OPS_SYNC_EVERY")),
        warnings=tuple(warnings),
    )
    if settings.is_sandbox and faults and not settings.sandbox_in_process:
        settings = _with_warning(
            settings,
            "PAYNET_SANDBOX_FAULTS is ignored here: this process talks to a served sandbox, which "
            "takes its faults from `paynet-ops sandbox serve --fault-rate/--faults` (or these "
            "variables in its own environment).",
        )
    return settings


def _with_warning(settings: Settings, warning: str) -> Settings:
    from dataclasses import replace

    return replace(settings, warnings=(*settings.warnings, warning))


def _check_real_keys(mode: Mode, keys: dict[str, Secret | None]) -> None:
    if keys["PAYNET_SECRET_KEY"] is None:
        raise ConfigError(
            f"{mode.value} mode needs PAYNET_SECRET_KEY: set it in the environment or in "
            ".streamlit/secrets.toml (see secrets.toml.example), or use PAYNET_OPS_MODE=sandbox"
        )
    for name, value in keys.items():
        if value is not None and any(m in value.reveal().lower() for m in _PLACEHOLDER_MARKERS):
            raise ConfigError(
                f"{name} looks like a placeholder or a sandbox key, not a real {mode.value} key: "
                "put the key from your Paynet/Payofin panel in the environment or in "
                ".streamlit/secrets.toml, or use PAYNET_OPS_MODE=sandbox"
            )


def _postgres_url(name: str, raw: str | None) -> Secret | None:
    """A PostgreSQL URL for the cache (None: not one). Checked here so a typo fails at start."""
    if raw is None or not is_postgres_url(raw):
        return None  # a path, or another scheme: _path says what is wrong with it
    example = f"set {name} to a URL such as postgresql://paynet@db.example.com:5432/paynet_ops"
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as err:
        raise ConfigError(f"{name} is not a valid PostgreSQL URL ({err}): {example}") from None
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise ConfigError(f"{name} names no database: {example}")
    return Secret(raw)


def _path(name: str, raw: str | None, default: Path) -> Path:
    """A file path; a URL here is a mistake that would silently create a folder named after it."""
    if raw is None:
        return default
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme.startswith("postgres"):
        raise ConfigError(
            f"{name} is a PostgreSQL URL; only the cache (PAYNET_OPS_DB) can live in "
            f"PostgreSQL: set {name} to a file path such as data/paynet_ops.db"
        )
    if scheme:
        raise ConfigError(
            f"{name} must be a file path such as data/paynet_ops.db, not a {scheme}:// URL"
        )
    return Path(raw).expanduser()


def _base_url(name: str, raw: str | None) -> str | None:
    """``https://`` anywhere; ``http://`` only on loopback (a local sandbox or proxy): the keys
    travel in every request's headers."""
    if raw is None:
        return None
    example = f"set {name} to a URL such as https://proxy.example.com or http://127.0.0.1:8765"
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises on a port that is not a number
    except ValueError as err:
        raise ConfigError(f"{name} is not a valid URL ({err}): {example}") from err
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must start with https:// and name a host: {example}")
    if parts.username or parts.password:
        raise ConfigError(
            f"{name} must not carry a user or password: keys go in PAYNET_SECRET_KEY / "
            "PAYOFIN_*_KEY, proxy credentials in HTTPS_PROXY"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not have a query or fragment: {example}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{name} uses http:// on {parts.hostname}: keys would cross the network in clear. "
            "Use https://, or http:// only on a loopback host (127.0.0.1, localhost, ::1)"
        )
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _unknown_invoice_code(raw: str | None) -> int | None:
    if raw is None:
        return None
    if raw not in ("12", "24"):
        raise ConfigError(
            "PAYNET_SANDBOX_UNKNOWN_INVOICE_CODE must be 12 (nodata, as Paynet's docs show) or 24 "
            f"(InvoiceNoNotFound), got {raw!r}"
        )
    return int(raw)


def _sandbox_faults(raw_rate: str | None, raw_kinds: str | None) -> tuple[float, tuple[str, ...]]:
    rate = 0.0
    if raw_rate is not None:
        try:
            rate = float(raw_rate)
        except ValueError:
            rate = math.nan
        if not (0.0 <= rate <= 1.0):
            raise ConfigError(
                f"PAYNET_SANDBOX_FAULT_RATE={raw_rate!r} must be a share between 0 and 1, e.g. 0.2"
            )
    kinds = tuple(k.strip() for k in (raw_kinds or "").split(",") if k.strip())
    if kinds:
        from .sandbox.faults import parse_faults

        try:
            parse_faults(",".join(kinds))
        except ValueError as err:
            raise ConfigError(f"PAYNET_SANDBOX_FAULTS: {err}") from err
    return rate, kinds


_PG_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
_INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def is_postgres_url(value: str | None) -> bool:
    return bool(value) and str(value).lower().startswith(_PG_SCHEMES)


def _queue_url(raw: str | None, db: str | None) -> str | None:
    if raw is not None and raw.strip().lower() == "off":
        return None  # one machine on a PostgreSQL cache: jobs run where they are started
    url = raw if raw is not None else (db if is_postgres_url(db) else None)
    if url is None:
        return None
    if not is_postgres_url(url):
        # the value is not echoed: a mistyped URL may still carry a password
        raise ConfigError(
            "PAYNET_OPS_QUEUE must be a postgresql:// URL (the database the workers share), "
            "e.g. postgresql://paynet@db.internal/paynet_ops"
        )
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def parse_interval(name: str, raw: str | None) -> float:
    """``15m``, ``90s``, ``1h``, ``1d`` or plain seconds, as seconds; ``0``/unset is 0 (off)."""
    if raw is None:
        return 0.0
    text = raw.strip().lower()
    unit = text[-1:] if text[-1:] in _INTERVAL_UNITS else "s"
    number = text[:-1] if text[-1:] in _INTERVAL_UNITS else text
    try:
        value = float(number) * _INTERVAL_UNITS[unit]
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0 or (0 < value < 60):
        raise ConfigError(
            f"{name}={raw!r} is not an interval of at least a minute: give e.g. 15m, 1h or 1d "
            "(0 turns it off)"
        )
    return value


def _rate(raw: str | None, mode: Mode) -> float:
    if raw is None:
        return DEFAULT_RATE[mode]
    try:
        rate = float(raw)
    except ValueError:
        raise ConfigError(
            f"PAYNET_OPS_RATE_LIMIT={raw!r} is not a number: give requests per second, e.g. 10"
        ) from None
    if not math.isfinite(rate) or rate <= 0:
        raise ConfigError(
            f"PAYNET_OPS_RATE_LIMIT={raw!r} must be a positive, finite number of requests per "
            "second, e.g. 10"
        )
    return rate


def _read_secrets(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start:,} is not)") from exc
    except tomllib.TOMLDecodeError as exc:
        # tomllib names the place and at most a key or one character, never a value: the
        # message says what to fix where, and no secret from the file reaches a page or a log.
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
