"""``paynet-ops settings``: the effective mode and endpoints, read-only, never a key."""

from __future__ import annotations

from . import app


@app.command()
def settings() -> None:
    """Show the effective settings: mode, endpoints, cache; of each key only whether it is set."""
    from rich.console import Console
    from rich.table import Table

    from ..config import load_settings

    current = load_settings()
    table = Table(title="Effective settings (environment, then .streamlit/secrets.toml)")
    table.add_column("Setting")
    table.add_column("Value")
    for name, value in current.describe():
        table.add_row(name, value)
    # Values are data (paths, URLs): printed as text, never as console markup.
    Console(highlight=False, markup=False).print(table)
