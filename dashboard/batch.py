"""Shared bulk widgets: upload → validation table → plan → confirm → job → live progress."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from paynet_core.auth import Role, User, require_role
from paynet_core.errors import InputError, JobConflictError, JobError, PermissionDenied
from paynet_core.i18n import N_, _, current_language, set_language
from paynet_core.i18n.formats import format_count
from paynet_core.importing import template_csv, template_xlsx
from paynet_core.jobs import (
    confirmation_phrase,
    default_first_batch,
    job_summary,
    live_requires_confirmation,
    run_job_in_background,
    start_job,
)
from paynet_core.jobs.planner import Plan
from paynet_core.ops import uploads
from paynet_core.paynet import InvoiceStatus
from paynet_core.reports.exports import export_failed_rows
from paynet_core.runtime import Runtime
from paynet_core.vocab import ItemState

from . import components as ui

#: Download names of the templates (the files' columns stay the importer's own).
_TEMPLATE_NAMES = {"invoices": N_("invoices_template"), "statuses": N_("statuses_template")}


def batch_upload(rt: Runtime, user: User, *, kind: str) -> None:
    """Upload a CSV/XLSX of invoices to create or statuses to set, and run it as a job."""
    key = f"batch_{kind}"
    row = st.container(horizontal=True, gap="small")
    stem = _(_TEMPLATE_NAMES[kind])
    ui.csv_downloads(
        row,
        _("Template (CSV)"),
        lambda form: template_csv(kind, form=form),
        f"{stem}.csv",
        key=f"{key}_tcsv",
    )
    row.download_button(
        _("Template (XLSX)"),
        template_xlsx(kind),
        f"{stem}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_txlsx",
    )
    upload = st.file_uploader(
        _("CSV or XLSX file"),
        type=["csv", "xlsx", "txt"],
        key=fresh_key(f"{key}_file", key),
        help=_(
            "Drag a file here or browse; up to the server's upload limit. Start from a template."
        ),
    )
    if upload is None:
        return
    try:
        result = uploads.read_upload(upload.getvalue(), upload.name, kind)
    except InputError as err:
        st.error(
            _(
                "**{name}** cannot be used: {error}",
                name=ui.literal(upload.name),
                error=ui.literal(err),
            ),
            icon="✋",
        )
        return
    validation_table(result)
    if not result.rows:
        st.error(_("No valid row to send. Fix the rows above and upload the file again."))
        return
    plan = uploads.plan_upload(result, rt.store)
    confirm_and_start(rt, user, plan, key=key, destructive=uploads.is_destructive(result))


def validation_table(result) -> None:
    """Every row read, bad rows and the fields at fault highlighted, with the reasons."""
    frame = result.as_dataframe()
    bad = result.errors_by_row()
    st.markdown(
        _(
            "**{rows} rows** read from {name}: :green[{valid} valid], :red[{invalid} invalid]",
            rows=format_count(result.total_rows),
            name=ui.literal(result.filename),
            valid=format_count(result.valid_count),
            invalid=format_count(len(result.invalid_rows)),
        )
    )
    for warning in result.warnings:
        st.warning(ui.literal(warning))
    if frame.empty:
        return

    def highlight(row: pd.Series) -> list[str]:
        errors = bad.get(int(row["row"]), [])
        fields = {e.field for e in errors}
        whole = any(e.field is None for e in errors)
        return [
            "background-color: #f8d7da"
            if (col in fields or (whole and col == "errors"))
            else ("background-color: #fdf1f2" if errors else "")
            for col in row.index
        ]

    only_bad = st.toggle(
        _("Show only invalid rows"), value=bool(bad), key=f"only_bad_{result.filename}"
    )
    shown = frame[frame["row"].astype(int).isin(bad)] if only_bad else frame
    ui.table(shown.style.apply(highlight, axis=1), hide_index=True, width="stretch")


def confirm_and_start(rt: Runtime, user: User, plan: Plan, *, key: str, destructive: bool) -> None:
    """Show the plan; ask for a typed count when the action is destructive or live; start."""
    with st.container(border=True):
        st.subheader(_("Plan"))
        for line in plan.describe():
            st.markdown(f"- {ui.literal(line)}")
        live = live_requires_confirmation(rt.mode)
        phrase = confirmation_phrase(plan)
        typed = None
        if destructive or live:
            typed = st.text_input(
                _("Type **{phrase}** (the number of invoices) to confirm", phrase=phrase)
                + (
                    _(" — LIVE: real customers")
                    if live
                    else _(" — Cancel/Deleted cannot be undone")
                ),
                key=f"{key}_typed",
            )
        first_batch = None
        if live:
            first_batch = st.number_input(
                _("Send only the first rows, then pause for review"),
                min_value=1,
                value=default_first_batch(rt.mode) or 10,
                key=f"{key}_first",
            )
        ready = typed is None or typed.strip() == phrase
        if st.button(_("Start job"), type="primary", disabled=not ready, key=f"{key}_start"):
            try:
                require_role(user, Role.OPERATOR, action="start a job")
                job_id = start_job(
                    plan,
                    runtime=rt,
                    created_by=user.email,
                    first_batch=first_batch,
                    confirmation=phrase if ready else None,
                )
            except JobConflictError as err:
                ui.show_error(err)
                st.page_link(
                    "views/jobs.py",
                    label=_("Open job {job}", job=err.job_id),
                    icon=":material/open_in_new:",
                    query_params={"job": err.job_id},
                )
                return
            except (JobError, PermissionDenied) as err:
                ui.show_error(err)
                return
            run_job_in_background(job_id, rt)
            st.query_params["job"] = job_id  # a reload finds the job again
            # A started plan must not be startable again: drop the file, selection and typed count.
            st.session_state[f"{key}_gen"] = st.session_state.get(f"{key}_gen", 0) + 1
            st.session_state.pop(f"{key}_typed", None)
            st.rerun()


def fresh_key(base: str, flow: str) -> str:
    """A widget key that changes once a flow has started its job, so the widget starts empty."""
    gen = st.session_state.get(f"{flow}_gen", 0)
    return base if gen == 0 else f"{base}_{gen}"


def show_job(rt: Runtime, user: User) -> None:
    """The job named in the URL (``?job=ID``), once per page, below everything else."""
    job_id = st.query_params.get("job")
    if job_id and rt.store.job(job_id) is not None:
        job_progress(rt, user, job_id)


def job_progress(rt: Runtime, user: User, job_id: str) -> None:
    """Live progress read from the store: it survives reloads and closed tabs."""

    flag = f"job_final_seen_{job_id}"
    if job_summary(rt.store, job_id).finished:
        st.session_state[flag] = True

    language = current_language()

    @st.fragment(run_every=1.0)
    def _live() -> None:
        # A fragment's rerun runs only this function, on a fresh thread: app.py's language is
        # not set there, so it takes the one of the run that drew the page.
        set_language(language)
        summary = job_summary(rt.store, job_id)
        finished = summary.done + summary.failed + summary.skipped
        st.progress(
            finished / max(summary.total, 1),
            text=_(
                "Job `{job}` · {state} · {finished}/{total} items",
                job=job_id,
                state=ui.state_name(summary.state),
                finished=format_count(finished),
                total=format_count(summary.total),
            ),
        )
        cols = st.columns(5)
        for col, (label, value) in zip(
            cols,
            [
                (ItemState.DONE, summary.done),
                (ItemState.FAILED, summary.failed),
                (ItemState.SKIPPED, summary.skipped),
                (ItemState.PENDING, summary.pending),
                (ItemState.SENDING, summary.sending),
            ],
            strict=True,
        ):
            col.metric(ui.state_name(label), format_count(value))
        if summary.finished and not st.session_state.get(flag):
            st.session_state[flag] = True
            st.rerun(scope="app")  # show the results table below the progress

    _live()
    summary = job_summary(rt.store, job_id)
    if summary.finished:
        items = rt.store.job_items(job_id)
        ui.table(
            items[
                [
                    "seq",
                    "operation",
                    "target_key",
                    "state",
                    "attempts",
                    "provider_code",
                    "message",
                    "status_before",
                    "status_after",
                ]
            ],
            hide_index=True,
            width="stretch",
        )
        if summary.failed:
            c1, c2 = st.columns(2)
            job = rt.store.job(job_id)
            ui.csv_downloads(
                c1,
                _("Download failed rows (fix and upload again)"),
                lambda form: export_failed_rows(rt.store, job, form),
                _("failed_{job}.csv", job=job_id),
                key=f"failed_{job_id}",
            )
            if (
                user.can("run_job")
                and not live_requires_confirmation(rt.mode)
                and c2.button(_("Retry the failed items"), key=f"retry_{job_id}")
            ):
                retry_failed(rt, user, job_id)


def retry_failed(rt: Runtime, user: User, job_id: str) -> None:
    """A new job for the failed items (see :func:`paynet_core.ops.uploads.retry_failed`), run here."""
    try:
        new_id = uploads.retry_failed(rt, job_id, user=user)
    except (InputError, JobError, PermissionDenied) as err:
        ui.show_error(err)
        return
    run_job_in_background(new_id, rt)
    st.query_params["job"] = new_id
    st.rerun()


def status_choice(key: str) -> InvoiceStatus:
    return st.selectbox(
        _("Target status"),
        list(InvoiceStatus),
        format_func=ui.status_labels().__getitem__,
        index=list(InvoiceStatus).index(InvoiceStatus.CANCEL),
        key=key,
    )
