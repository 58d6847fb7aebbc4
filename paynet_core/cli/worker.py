"""``paynet-ops worker``: a distributed worker on the PostgreSQL job queue."""

from __future__ import annotations

import asyncio
import logging

import typer

from ..errors import JobError, reason
from . import app
from .console import err_console, styled


@app.command("worker")
def worker(
    concurrency: int = typer.Option(
        2, "--concurrency", min=2, max=64, help="chunks this worker runs at once (at least 2)"
    ),
    paynet_url: str | None = typer.Option(
        None, "--paynet-url", help="sandbox mode only: a sandbox served over HTTP"
    ),
) -> None:
    """Run chunks of bulk jobs from the queue (PAYNET_OPS_QUEUE or a postgresql:// PAYNET_OPS_DB)
    until stopped (SIGTERM or Ctrl+C finish the chunks in hand first)."""
    import httpx

    from .. import jobs as engine
    from ..config import Mode
    from ..runtime import open_runtime
    from ..workers.worker import WORKER_RETRY_WAIT, WORKER_TRIES, run_worker

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise here
    runtime = open_runtime()
    factory = None
    if paynet_url:
        if runtime.mode is not Mode.SANDBOX:
            err_console.print(styled(("--paynet-url is for the sandbox only", "red")))
            raise typer.Exit(2)
        factory = engine.paynet_over_http(
            paynet_url,
            timeout=httpx.Timeout(5.0),
            max_retries=WORKER_TRIES - 1,
            max_retry_wait=WORKER_RETRY_WAIT,
        )
    try:
        asyncio.run(run_worker(runtime, concurrency=concurrency, client_factory=factory))
    except JobError as err:
        err_console.print(styled(("error: ", "red"), reason(err)))
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
