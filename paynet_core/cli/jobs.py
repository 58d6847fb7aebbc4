"""Bulk work from the command line: ``paynet-ops invoices create|set-status FILE`` and
``paynet-ops jobs list|show|resume|pause|cancel|export``.

Exit status: 0 when every row was valid and every call accepted; 1 when a row was invalid or a
call failed (the summary says which; ``jobs export ID --failed`` writes them to fix and upload
again); 2 when nothing could be started (unreadable file, refused job, unknown job); 3 when the
job stopped before the end (paused for review, paused by someone, cancelled); 130 on Ctrl+C
(the job can be resumed).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from .. import jobs as engine
from ..errors import InputError, JobError
from ..i18n import _
from ..i18n.formats import format_count
from ..importing import ImportKind, read_file
from ..jobs.loop import run as run_loop
from ..jobs.planner import Plan
from ..money import format_amount
from ..ops.uploads import items_left, plan_upload, read_upload
from ..vocab import ItemState, JobState
from . import app
from .console import OutPathError, check_out_path, console, err_console, styled, visible

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _group(name: str, help_text: str) -> typer.Typer:
    """The ``name`` command group, shared with any other module that registered it first."""
    for group in app.registered_groups:
        if group.name == name and group.typer_instance is not None:
            return group.typer_instance
    new_group = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(new_group, name=name)
    return new_group


invoices_app = _group("invoices", "Invoices at Paynet: create many, change many statuses.")
jobs_app = _group("jobs", "Bulk jobs: list, inspect, resume, pause, cancel, export.")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def _runtime():
    from ..runtime import open_runtime

    return open_runtime()


# -- invoices create / set-status ------------------------------------------------------------------


# The options both bulk commands share.
DryRun = Annotated[bool, typer.Option("--dry-run", help="Validate and plan; send nothing.")]
Yes = Annotated[
    bool,
    typer.Option(
        "--yes", "-y", help="Do not ask for confirmation (on LIVE the typed count is still needed)."
    ),
]
ConfirmCount = Annotated[
    int | None,
    typer.Option(
        "--confirm-count",
        metavar="N",
        help="LIVE: the number of invoices, instead of typing it at the prompt (must match the plan).",
    ),
]
Concurrency = Annotated[int, typer.Option("--concurrency", min=1, max=64)]
Rate = Annotated[
    float | None, typer.Option("--rate", help="Requests per second (default: the mode's).")
]
FirstBatch = Annotated[
    int | None,
    typer.Option(
        "--first-batch",
        help="Send this many, then pause for review (default: 10 on LIVE, else off).",
    ),
]


@invoices_app.command("create")
def invoices_create(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: one invoice per row.")],
    dry_run: DryRun = False,
    yes: Yes = False,
    concurrency: Concurrency = engine.DEFAULT_CONCURRENCY,
    rate: Rate = None,
    first_batch: FirstBatch = None,
    confirm_count: ConfirmCount = None,
) -> None:
    """Create one invoice per valid row of FILE (a journaled, resumable job)."""
    _bulk("invoices", file, dry_run, yes, concurrency, rate, first_batch, confirm_count)


@invoices_app.command("set-status")
def invoices_set_status(
    file: Annotated[
        Path, typer.Argument(help="CSV or XLSX: invoice_no or invoice_id, and the target status.")
    ],
    dry_run: DryRun = False,
    yes: Yes = False,
    concurrency: Concurrency = engine.DEFAULT_CONCURRENCY,
    rate: Rate = None,
    first_batch: FirstBatch = None,
    confirm_count: ConfirmCount = None,
) -> None:
    """Set the status of every invoice listed in FILE (a journaled, resumable job)."""
    _bulk("statuses", file, dry_run, yes, concurrency, rate, first_batch, confirm_count)


def _bulk(
    kind: ImportKind,
    file: Path,
    dry_run: bool,
    yes: bool,
    concurrency: int,
    rate: float | None,
    first_batch: int | None,
    confirm_count: int | None = None,
) -> None:
    runtime = _runtime()
    mode = runtime.mode
    try:
        data, name = read_file(file)
        result = read_upload(data, name, kind)
    except InputError as err:
        err_console.print(styled((f"Cannot read {visible(file)}:", "red"), " ", str(err)))
        raise typer.Exit(EXIT_REFUSED) from None
    store = runtime.store
    plan = plan_upload(result, store)
    _print_errors(plan)
    _print_plan(plan, mode.value)
    if dry_run:
        console.print(styled(("Dry run:", "bold"), " nothing was sent."))
        raise typer.Exit(EXIT_FAILED if plan.errors else EXIT_OK)
    if not plan.calls:
        err_console.print(styled((_("Nothing to send:"), "red"), " ", _("no valid rows.")))
        raise typer.Exit(EXIT_FAILED if plan.errors else EXIT_OK)
    rate = engine.default_rate(mode, runtime.settings.rate_limit) if rate is None else rate
    if first_batch is None:
        first_batch = engine.default_first_batch(mode)
    if engine.live_requires_confirmation(mode) and (first_batch is None or first_batch < 1):
        err_console.print(
            "LIVE jobs always pause after a first batch for review: --first-batch must be at least 1."
        )
        raise typer.Exit(EXIT_REFUSED)
    if rate == 0 or rate > engine.DEFAULT_RATE[mode]:
        console.print(
            styled(
                ("Note:", "yellow"),
                f" {'no rate limit' if rate == 0 else f'{rate:g} requests/s'} "
                f"is above the {mode.value} default of {engine.DEFAULT_RATE[mode]:g}/s.",
            )
        )
    confirmation = _confirm(plan, mode, yes, confirm_count)
    try:
        job_id = engine.start_job(
            plan,
            runtime=runtime,
            created_by=_actor(),
            source_name=name,
            concurrency=concurrency,
            rate=rate,
            first_batch=first_batch,
            confirmation=confirmation,
        )
    except JobError as err:
        err_console.print(styled((visible(err), "red")))
        raise typer.Exit(EXIT_REFUSED) from None
    console.print(
        f"Job {job_id} started "
        f"({concurrency} at a time, {'no limit' if not rate else f'{rate:g} requests/s'}"
        f"{f', first {first_batch} then a pause for review' if first_batch else ''})."
    )
    summary = _run(job_id, runtime, plan.call_count)
    raise typer.Exit(_finish(store, summary, invalid=len(plan.invalid_rows)))


def _confirm(plan: Plan, mode, yes: bool, confirm_count: int | None = None) -> str | None:
    phrase = engine.confirmation_phrase(plan)
    if engine.live_requires_confirmation(mode):  # --yes never skips this: real money
        return _typed_count(
            phrase, confirm_count, "LIVE: this moves real money. Type the number of invoices"
        )
    if yes:
        return phrase
    if not typer.confirm(f"Send {plan.call_count} calls to Paynet ({mode.value})?", default=False):
        err_console.print("Not confirmed; nothing was sent.")
        raise typer.Exit(EXIT_REFUSED)
    return phrase


def _typed_count(expected: str, given: int | None, prompt: str) -> str:
    """The count a person typed (or passed as --confirm-count); exit 2 unless it is ``expected``."""
    typed = (
        str(given)
        if given is not None
        else typer.prompt(f"{prompt} ({expected}) to go on", default="")
    )
    if typed.strip() != expected:
        err_console.print(
            f"Not confirmed ({visible(typed.strip()) or 'nothing'} typed, {expected} needed); nothing was sent."
        )
        raise typer.Exit(EXIT_REFUSED)
    return typed.strip()


def _run(job_id: str, runtime, total: int, **options: Any) -> engine.JobSummary:
    """Run a job in the foreground with a progress bar; Ctrl+C leaves it resumable.

    With a job queue the workers run it: this enqueues its chunks and watches."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"job {job_id}", total=total, detail="")

        def progress(counts: dict[str, int]) -> None:
            finished = counts[ItemState.DONE] + counts[ItemState.FAILED] + counts[ItemState.SKIPPED]
            bar.update(
                task,
                completed=finished,
                detail=f"{counts[ItemState.DONE]} done, {counts[ItemState.FAILED]} failed",
            )

        try:
            url = engine.queue_of(runtime)
            if url:
                return _watch(job_id, runtime, url, progress)
            return run_loop(engine.run_job(job_id, runtime, progress=progress, **options))
        except KeyboardInterrupt:
            err_console.print(f"\nInterrupted. Resume with: paynet-ops jobs resume {job_id}")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except JobError as err:
            err_console.print(styled((visible(err), "red")))
            raise typer.Exit(EXIT_REFUSED) from None


#: How often the CLI re-reads a job the workers run (seconds).
WATCH_EVERY = 0.5


def _watch(job_id: str, runtime, url: str, progress) -> engine.JobSummary:
    """Enqueue a job for the workers and follow it until it is finished or stops."""
    import time

    store = runtime.store
    engine.enqueue_chunks(url, store, job_id)
    console.print(f"Job {job_id} is queued for the workers (paynet-ops worker).")
    while True:
        summary = engine.job_summary(store, job_id)
        progress(store.job_progress(job_id))
        if summary.finished or summary.state == "paused":
            return summary
        time.sleep(WATCH_EVERY)


def _finish(store, summary: engine.JobSummary, *, invalid: int = 0) -> int:
    _print_summary(store, summary, invalid)
    if (
        summary.state not in (JobState.DONE, JobState.CANCELLED)
        or summary.pending
        or summary.sending
    ):
        reason = f" ({summary.note})" if summary.note else ""
        console.print(
            f"Job {summary.job_id} is {summary.state}{visible(reason)}. "
            f"Continue with: paynet-ops jobs resume {summary.job_id}"
        )
        return EXIT_STOPPED
    if summary.failed or invalid:
        console.print(
            f"Fix the failed rows and upload them again: "
            f"paynet-ops jobs export {summary.job_id} --failed --out failed.csv"
        )
        return EXIT_FAILED
    return EXIT_OK if summary.state == JobState.DONE else EXIT_STOPPED


# -- jobs ------------------------------------------------------------------------------------------


@jobs_app.command("list")
def jobs_list(limit: int = typer.Option(20, "--limit", min=1)) -> None:
    """Recent jobs, newest first; with a job queue, also which workers hold which chunks."""
    runtime = _runtime()
    store = runtime.store
    table = Table(
        Column("job", no_wrap=True),
        "kind",
        Column("state", no_wrap=True),
        "by",
        "created",
        "file",
        "done",
        "failed",
        "skipped",
        "left",
    )
    queued = engine.queue_of(runtime) is not None  # then the workers below run the jobs
    for job in store.jobs(limit=limit).to_dict("records"):
        counts = store.job_progress(job["job_id"])
        state = job["state"]
        unowned = engine.live_runner(store, job["job_id"]) is None
        if state in (JobState.RUNNING, JobState.CANCELLING) and unowned and not queued:
            state += " (no runner)"
        table.add_row(
            job["job_id"],
            job["kind"],
            state,
            visible(job["created_by"]),
            job["created_at"],
            visible(job["source_name"] or ""),
            str(counts[ItemState.DONE]),
            str(counts[ItemState.FAILED]),
            str(counts[ItemState.SKIPPED]),
            str(counts[ItemState.PENDING] + counts[ItemState.SENDING]),
        )
    console.print(table)
    url = engine.queue_of(runtime)
    if url:
        _print_queue(url)


def _print_queue(url: str) -> None:
    """The workers' side: which worker holds which chunk, with its last heartbeat."""
    from ..workers.status import queue_view_now

    view = queue_view_now(url)
    table = Table(
        Column("worker", no_wrap=True), "job", "chunk (items)", "attempt", "last heartbeat"
    )
    for h in view.held:
        table.add_row(
            visible(h.worker), h.job_id, f"{h.lo}-{h.hi}", str(h.attempts + 1),
            f"{h.heartbeat_s_ago:.1f} s ago",
        )  # fmt: skip
    console.print(f"Chunks held by workers ({len(view.held)}):")
    console.print(table)
    waiting = ", ".join(f"{job}: {n}" for job, n in sorted(view.queued.items())) or "none"
    console.print(f"Chunks waiting in the queue: {waiting}")
    seen = ", ".join(
        f"{visible(w['host'])}:{w['pid']} (seen {w['seen_s_ago']:.0f} s ago)" for w in view.workers
    )
    console.print(f"Workers: {seen or 'none registered'}")


@jobs_app.command("show")
def jobs_show(job_id: str, failed_limit: int = typer.Option(20, "--failed-limit", min=0)) -> None:
    """One job: its state, options, counts and failed items."""
    store = _runtime().store
    job = _job_or_exit(store, job_id)
    summary = engine.job_summary(store, job_id)
    runner = engine.live_runner(store, job_id)
    plan = job["options"].get("plan") or {}
    console.print(
        styled(
            (f"Job {job_id}", "bold"),
            f"  {job['kind']}  ",
            (job["state"], "bold"),
            f"  ({job['mode']})",
        )
    )
    console.print(
        f"started by {visible(job['created_by'])} at {job['created_at']}; "
        f"file {visible(job['source_name'] or '-')}"
    )
    console.print(f"runner: {runner or 'none'}; last heartbeat {job['heartbeat_at'] or '-'}")
    console.print(
        f"options: concurrency {job['options'].get('concurrency')}, "
        f"rate {job['options'].get('rate') or 'no limit'}, "
        f"first batch {job['options'].get('first_batch') or 'off'}"
    )
    if plan:
        console.print(
            f"plan: {plan.get('rows')} rows, {plan.get('invalid_rows')} invalid, "
            f"{plan.get('calls')} calls, {plan.get('invoices')} invoices, "
            f"{format_amount(int(plan.get('total_amount_kurus') or 0))}"
        )
    _print_counts(summary)
    _print_failed(store, job_id, failed_limit)


@jobs_app.command("resume")
def jobs_resume(
    job_id: str,
    yes: bool = typer.Option(
        False,
        "--yes",
        "-y",
        help="Do not ask for confirmation (a LIVE job still needs the typed count).",
    ),
    confirm_count: ConfirmCount = None,
    concurrency: int | None = typer.Option(None, "--concurrency", min=1, max=64),
    rate: float | None = typer.Option(None, "--rate"),
) -> None:
    """Resume a paused, interrupted or abandoned job here, in the foreground.

    A LIVE job is shown first (its counts and failed items: the first-batch review), and goes
    on only when the number of items left is typed (or given as --confirm-count), --yes or not.
    """
    runtime = _runtime()
    store = runtime.store
    job = _job_or_exit(store, job_id)
    remaining = items_left(store, job_id)
    if engine.live_requires_confirmation(job["mode"]):
        _print_counts(engine.job_summary(store, job_id))
        _print_failed(store, job_id, 20)
        _typed_count(
            str(remaining),
            confirm_count,
            f"LIVE job {job_id}: review the results above. Type the number of items left",
        )
    elif not yes and not typer.confirm(
        f"Resume job {job_id} ({job['mode']}): {remaining} items left?", default=False
    ):
        raise typer.Exit(EXIT_REFUSED)
    try:
        engine.resume_job(job_id, store=store, actor=_actor())
    except JobError as err:
        err_console.print(styled((visible(err), "red")))
        raise typer.Exit(EXIT_REFUSED) from None
    total = store.job_progress(job_id)["total"]
    summary = _run(job_id, runtime, total, concurrency=concurrency, rate=rate)
    raise typer.Exit(_finish(store, summary))


@jobs_app.command("pause")
def jobs_pause(job_id: str) -> None:
    """Ask a job's runner to stop after its in-flight items (resume it later)."""
    store = _runtime().store
    _job_or_exit(store, job_id)
    try:
        engine.pause_job(job_id, store=store, actor=_actor())
    except JobError as err:
        err_console.print(styled((visible(err), "red")))
        raise typer.Exit(EXIT_REFUSED) from None
    console.print(f"Job {job_id} paused (in-flight items finish first).")


@jobs_app.command("cancel")
def jobs_cancel(job_id: str) -> None:
    """Cancel a job: nothing new is sent; in-flight items finish; the rest are skipped."""
    runtime = _runtime()
    store = runtime.store
    _job_or_exit(store, job_id)
    try:
        state = engine.cancel_job(job_id, store=store, actor=_actor())
        url = engine.queue_of(runtime)
        if state == JobState.CANCELLING and url:
            engine.enqueue_chunks(url, store, job_id)  # a worker settles the items in flight
        elif state == JobState.CANCELLING and engine.live_runner(store, job_id) is None:
            # The runner died with items in flight: settle them here, then finish the cancel.
            summary = run_loop(engine.run_job(job_id, runtime))
            state = summary.state
    except JobError as err:
        err_console.print(styled((visible(err), "red")))
        raise typer.Exit(EXIT_REFUSED) from None
    if state == JobState.CANCELLING:
        console.print(f"Job {job_id} is cancelling: its runner stops after the items in flight.")
    else:
        console.print(f"Job {job_id} {state}.")
    _print_counts(engine.job_summary(store, job_id))


@jobs_app.command("export")
def jobs_export(
    job_id: str,
    failed: bool = typer.Option(
        False, "--failed", help="Only rows to fix: failed items and invalid rows."
    ),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
    ] = None,
    force: bool = typer.Option(False, "--force", help="Overwrite the --out file if it exists."),
    csv_form: str | None = typer.Option(
        None,
        "--csv-form",
        metavar="tr|en",
        help="tr: Turkish headers and ';' (Turkish Excel); en: column names and ','. "
        "Default: the CLI's language.",
    ),
) -> None:
    """A CSV of the job's rows. With --failed: the rows to fix and upload again, each with its error."""
    if out is not None:
        try:
            check_out_path(out, force=force)
        except OutPathError as err:
            err_console.print(styled(("Error:", "red"), " ", str(err)))
            raise typer.Exit(EXIT_REFUSED) from None
    store = _runtime().store
    job = _job_or_exit(store, job_id)
    # Imported here: reports pulls in the chart code, which other commands never need.
    from ..reports.exports import all_items_csv, export_failed_rows

    data = (
        export_failed_rows(store, job, csv_form)
        if failed
        else all_items_csv(store, job_id, csv_form)
    )
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as err:
        err_console.print(
            styled(("Error:", "red"), f" cannot write {visible(out)}: {err.strerror or err}")
        )
        raise typer.Exit(EXIT_REFUSED) from None
    rows = max(0, data.count(b"\r\n") - 1)
    err_console.print(f"Wrote {rows} rows to {visible(out)}")


# -- printing --------------------------------------------------------------------------------------


def _job_or_exit(store, job_id: str) -> dict:
    job = store.job(job_id)
    if job is None:
        err_console.print(
            styled((f"No job {visible(job_id)}", "red"), " (see paynet-ops jobs list)")
        )
        raise typer.Exit(EXIT_REFUSED)
    return job


def _print_errors(plan: Plan, limit: int = 50) -> None:
    if not plan.errors:
        return
    table = Table(
        _("row"),
        _("field"),
        _("problem"),
        title=_("{n} invalid rows (never sent)", n=format_count(plan.invalid_count)),
        title_justify="left",
    )
    for error in plan.errors[:limit]:
        table.add_row(str(error.row), visible(error.field or ""), visible(error.message))
    console.print(table)
    if len(plan.errors) > limit:
        console.print(_("... and {n} more problems", n=format_count(len(plan.errors) - limit)))


def _print_plan(plan: Plan, mode: str) -> None:
    console.print(styled((_("Plan"), "bold"), f" ({mode}):"))
    for line in plan.describe():
        console.print(f"  {visible(line)}")
    for note in plan.warnings:
        console.print(styled("  ", (_("warning:"), "yellow"), " ", note))


def _print_counts(summary: engine.JobSummary) -> None:
    table = Table(
        "total",
        "done",
        "failed",
        "skipped",
        "pending",
        "in flight",
        title=f"job {summary.job_id}",
        title_justify="left",
    )
    table.add_row(
        *(
            str(v)
            for v in (
                summary.total,
                summary.done,
                summary.failed,
                summary.skipped,
                summary.pending,
                summary.sending,
            )
        )
    )
    console.print(table)


def _print_failed(store, job_id: str, limit: int) -> None:
    failed = store.items_in_state(job_id, ItemState.FAILED)
    if not failed or not limit:
        return
    table = Table(
        "row", "target", "code", "message", title=f"{len(failed)} failed", title_justify="left"
    )
    for item in failed[:limit]:
        table.add_row(
            str(item["source_row"] or ""),
            visible(item["target_key"]),
            "" if item["provider_code"] is None else visible(item["provider_code"]),
            visible(item["message"] or ""),
        )
    console.print(table)


def _print_summary(store, summary: engine.JobSummary, invalid: int) -> None:
    _print_counts(summary)
    _print_failed(store, summary.job_id, 20)
    if invalid:
        console.print(f"{invalid} invalid rows were not sent.")


__all__ = ["invoices_app", "jobs_app"]


# -- the detached runner ---------------------------------------------------------------------
# ``run_job_detached`` (the dashboard) starts ``python -m paynet_core.cli jobs run JOB_ID``: a
# process of its own that outlives the page. Hidden: people use ``jobs resume``.


@jobs_app.command("run", hidden=True)
def jobs_run(
    job_id: str,
    concurrency: int | None = typer.Option(None, "--concurrency", min=1, max=64),
    rate: float | None = typer.Option(None, "--rate", help="requests per second (0: no limit)"),
    paynet_url: str | None = typer.Option(
        None, "--paynet-url", help="sandbox mode only: a sandbox served over HTTP"
    ),
) -> None:
    """Run or resume one job until it is done, paused or cancelled; prints its summary as JSON.

    Exit status: 0 when every item was accepted, 1 otherwise, 2 when the job could not run.
    """
    import json
    import logging

    import httpx

    from ..config import Mode

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runtime = _runtime()
    factory = None
    if paynet_url:
        if runtime.mode is not Mode.SANDBOX:
            err_console.print(styled(("--paynet-url is for the sandbox only", "red")))
            raise typer.Exit(EXIT_REFUSED)
        factory = engine.paynet_over_http(paynet_url, timeout=httpx.Timeout(5.0))
    try:
        summary = run_loop(
            engine.run_job(
                job_id, runtime, client_factory=factory, concurrency=concurrency, rate=rate
            )
        )
    except JobError as err:
        err_console.print(styled(("error:", "red"), " ", str(err)))
        raise typer.Exit(EXIT_REFUSED) from None
    typer.echo(json.dumps(summary.as_dict()))
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_FAILED)


@jobs_app.command("resume-stale", hidden=True)
def jobs_resume_stale() -> None:
    """Start a detached runner for every job whose runner died; prints their ids as JSON."""
    import json

    typer.echo(json.dumps({"started": engine.resume_stale_jobs(_runtime(), detached=True)}))
