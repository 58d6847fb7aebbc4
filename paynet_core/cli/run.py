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
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
    ]
    raise typer.Exit(subprocess.call(cmd, env=env))


EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def _sandbox_path() -> Path:
    from ..config import load_settings
    from ..errors import ConfigError

    try:
        return Path(load_settings().sandbox_db_path)
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None


@sandbox_app.command("serve")
def sandbox_serve(
    port: int = typer.Option(8765, help="Loopback port (0 picks a free one)."),
    latency_ms: float | None = typer.Option(
        None, help="Added latency per request, ms (env PAYNET_SANDBOX_LATENCY_MS)."
    ),
    jitter_ms: float | None = typer.Option(
        None, help="Extra random latency 0..J ms per request (env PAYNET_SANDBOX_JITTER_MS)."
    ),
    fault_rate: float | None = typer.Option(
        None, help="Share of requests (0..1) that fail on purpose (env PAYNET_SANDBOX_FAULT_RATE)."
    ),
    faults: str | None = typer.Option(
        None,
        metavar="KINDS",
        help="Comma-separated: 500,502,503,429,drop,drop_after,hang,hang_after,malformed,empty "
        "(drop_after applies the request, then drops the reply; hang holds it up to 30 s; a "
        "kind named twice comes twice as often) "
        "(env PAYNET_SANDBOX_FAULTS; default 500,502,429,hang,hang_after,drop_after).",
    ),
) -> None:
    """Serve the sandbox over HTTP on 127.0.0.1 (Paynet under /v1/subscription, Payofin under
    /invoices). Every request is recorded: see `paynet-ops sandbox log`."""
    import time

    from ..sandbox import fault_plan_from_env, open_sandbox, serve
    from ..sandbox.faults import fault_shares, parse_rate

    if not 0 <= port <= 65535:
        raise _fail(f"--port {port}: must be between 1 and 65535", EXIT_BAD_INPUT)
    for name, value in (("--latency-ms", latency_ms), ("--jitter-ms", jitter_ms)):
        if value is not None and not 0 <= value <= 600_000:
            raise _fail(f"{name} {value:g}: must be between 0 and 600000 ms", EXIT_BAD_INPUT)
    try:
        if fault_rate is not None:
            parse_rate(fault_rate, name="--fault-rate")
        env = fault_plan_from_env(os.environ)
        # kinds read from text are names; a ('result_code', n) tuple only comes from code
        env_kinds = tuple(k for k in env.random_kinds if isinstance(k, str))
        sandbox = open_sandbox(
            _sandbox_path(),
            fault_rate=env.rate if fault_rate is None else fault_rate,
            faults=env_kinds if faults is None else _faults_option(faults),
            latency_ms=env.latency * 1000 if latency_ms is None else latency_ms,
            jitter_ms=env.jitter * 1000 if jitter_ms is None else jitter_ms,
        )
    except ValueError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    plan = sandbox.faults
    try:
        server = serve(sandbox, port=port)
    except OSError as exc:
        raise _fail(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", EXIT_REFUSED
        ) from None
    with server:
        shown = ", ".join(
            f"{name} {share * 100:.3g}%"
            for name, share in fault_shares(plan.rate, plan.random_kinds).items()
        )
        faults_text = f"{plan.rate:.0%} fail ({shown})" if plan.rate else "no faults"
        latency_text = f"{plan.latency * 1000:g} ms" + (
            f" + 0..{plan.jitter * 1000:g} ms" if plan.jitter else ""
        )
        typer.echo(
            f"sandbox listening on {server.base_url} (file {sandbox.path}; {faults_text}; "
            f"latency {latency_text}). Ctrl+C to stop."
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def _faults_option(text: str) -> tuple[str, ...]:
    from ..sandbox import parse_faults

    try:
        return parse_faults(text)
    except ValueError as exc:
        raise ValueError(f"--faults: {exc}") from exc


@sandbox_app.command("seed")
def sandbox_seed(
    invoices: int | None = typer.Option(
        None, help="Paynet invoices (default: 3000, or ten per subscription)."
    ),
    payments: int | None = typer.Option(
        None, help="Payofin payments (default: as many as invoices)."
    ),
    subscriptions: int | None = typer.Option(
        None, help="Paynet subscriptions (default: 300, or one per ten invoices)."
    ),
    seed: int = typer.Option(42, help="Random seed: the same arguments give the same data."),
    months: int = typer.Option(12, help="How many months back the data goes."),
    today: str | None = typer.Option(
        None,
        metavar="DAY",
        help="The day the data ends at (23.11.2026 or 2026-11-23) (default: today).",
    ),
    reset: bool = typer.Option(False, "--reset", help="Empty the sandbox file first."),
) -> None:
    """Fill the sandbox file of the current settings with demo data (deterministic).

    A sandbox that already holds data is left alone unless --reset is given.
    """
    from ..sandbox import Sandbox, seed_demo
    from ..sandbox.demo import demo_sizes
    from .sync import parse_day

    try:
        demo_sizes(subscriptions, invoices, payments, months)
    except ValueError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    day = parse_day(today)
    path = _sandbox_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with Sandbox(path, record_requests=True) as sandbox:
        if reset:
            sandbox.reset()
        before = sandbox.state.summary()
        held = before["subscriptions"] + before["invoices"] + before["payments"] + before["bills"]
        if held or sandbox.state.get_meta("demo_seed") is not None:
            raise _fail(
                f"the sandbox {path} already holds data ({before['subscriptions']:,} "
                f"subscriptions, {before['invoices']:,} invoices, {before['payments']:,} "
                "payments); add --reset to replace it",
                EXIT_REFUSED,
            )
        seed_demo(
            sandbox,
            seed=seed,
            today=day,
            subscriptions=subscriptions,
            invoices=invoices,
            payments=payments,
            months=months,
        )
        after = sandbox.state.summary()
    typer.echo(f"Seeded {path} (seed {seed}):")
    for name in ("subscriptions", "invoices", "payments"):
        span = after.get(f"{name}_span")
        dated = f"  {span[0]:%Y-%m-%d} .. {span[1]:%Y-%m-%d}" if span else ""
        typer.echo(f"  {name:<14}{after[name]:>8,}{dated}")


@sandbox_app.command("log")
def sandbox_log(
    since: str | None = typer.Option(
        None,
        metavar="TIME",
        help="Only from this time: 2026-05-01T10:00, 2026-05-01, or 10m / 2h / 1d back.",
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object a line (for scripts)."),
) -> None:
    """Every request the sandbox file of the current settings received, oldest first: time,
    operation, invoice_no / invoice_id / subscription / status, and what the sandbox did."""
    import json

    from ..sandbox import Sandbox
    from ..sandbox.log import describe, entry, parse_since

    try:
        start = parse_since(since) if since is not None else None
    except ValueError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    path = _sandbox_path()
    if not path.exists():
        typer.echo(f"no sandbox file at {path}: nothing received yet", err=True)
        return
    with Sandbox(path, record_requests=True) as sandbox:
        received = sandbox.received(since=start)
    if as_json:
        for r in received:
            typer.echo(json.dumps(entry(r), ensure_ascii=False))
        return
    if not received:
        typer.echo("no requests received" + (f" since {start:%Y-%m-%d %H:%M:%S}" if start else ""))
        return
    header = ("time", "operation", "invoice_no", "invoice_id", "subscription", "status", "result")
    rows = [
        (
            f"{r.received_at:%Y-%m-%d %H:%M:%S}.{r.received_at.microsecond // 1000:03d}",
            r.operation,
            r.invoice_no or "",
            "" if r.invoice_id is None else str(r.invoice_id),
            r.subscription or "",
            "" if r.status is None else str(r.status),
            describe(r),
        )
        for r in received
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    typer.echo(f"{len(rows):,} requests")
