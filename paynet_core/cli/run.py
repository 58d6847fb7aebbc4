"""``paynet-ops run`` (the dashboard) and ``paynet-ops sandbox serve`` (the simulator over HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from . import app

sandbox_app = typer.Typer(help="The local simulator of both APIs.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


@app.command()
def run(
    port: int = typer.Option(8501, help="Port for the dashboard."),
    address: str = typer.Option("localhost", help="Address to listen on."),
) -> None:
    """Start the dashboard (on the sandbox with demo data unless keys are configured)."""
    import dashboard

    from ..runtime import prepare_demo

    prepare_demo()
    app_path = Path(dashboard.__file__).parent / "app.py"
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app_path),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
    ]
    raise typer.Exit(subprocess.call(cmd, env=env))


@sandbox_app.command("serve")
def sandbox_serve(
    port: int = typer.Option(8765, help="Loopback port."),
    latency_ms: float = typer.Option(0, help="Added latency per request, in milliseconds."),
) -> None:
    """Serve the sandbox over HTTP on 127.0.0.1 (Paynet under /v1/subscription, Payofin under /invoices)."""
    import time

    from ..sandbox import open_sandbox, serve

    sandbox = open_sandbox()
    sandbox.faults.latency = latency_ms / 1000
    with serve(sandbox, port=port) as server:
        typer.echo(f"sandbox listening on {server.base_url} (Ctrl+C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
