"""``paynet-ops``: the command line. Each group lives in its own module.

:func:`main` is the console script: a :class:`~paynet_core.errors.PaynetOpsError` that escapes a
command ends as one line on stderr (a setting that cannot be right, with its fix), never as a
traceback.
"""

from __future__ import annotations

import sys

import typer

from ..errors import ConfigError, PaynetOpsError, reason
from ..i18n import _, language_from_env, set_language

app = typer.Typer(
    name="paynet-ops",
    help="Operations for Paynet subscription invoices and Payofin bill payments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _check_settings(ctx: typer.Context) -> None:
    """Settings are read and checked before any command runs, so a wrong one fails at start."""
    if ctx.resilient_parsing or any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        return
    from ..config import load_settings

    for warning in load_settings().warnings:
        typer.echo(_("warning: {warning}", warning=warning), err=True)


def main() -> None:
    # Errors end here printed with their cause's one-line reason (errors.reason); the commands'
    # `raise typer.Exit(code) from None` likewise follow a printed message: no chain to read.
    # One language for the whole call: every message, error and table header speaks it.
    set_language(language_from_env())
    try:
        app()
    except ConfigError as err:
        typer.echo(_("configuration error: {reason}", reason=reason(err)), err=True)
        raise SystemExit(2) from None
    except PaynetOpsError as err:
        typer.echo(_("error: {reason}", reason=reason(err)), err=True)
        raise SystemExit(1) from None


from . import db as _db  # noqa: E402,F401  (registers commands)
from . import jobs as _jobs  # noqa: E402,F401  (registers commands)
from . import run as _run  # noqa: E402,F401  (registers commands)
from . import settings as _settings  # noqa: E402,F401  (registers commands)
from . import support as _support  # noqa: E402,F401  (registers commands)
from . import sync as _sync  # noqa: E402,F401  (registers commands)
from . import worker as _worker  # noqa: E402,F401  (registers commands)
