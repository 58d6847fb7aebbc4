"""``paynet-ops``: the command line. Each group lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="paynet-ops",
    help="Operations for Paynet subscription invoices and Payofin bill payments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from . import db as _db  # noqa: E402,F401  (registers commands)
from . import jobs as _jobs  # noqa: E402,F401  (registers commands)
from . import run as _run  # noqa: E402,F401  (registers commands)
from . import support as _support  # noqa: E402,F401  (registers commands)
from . import sync as _sync  # noqa: E402,F401  (registers commands)
