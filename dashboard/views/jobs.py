"""Jobs: state and progress of every bulk job, its items, resume and cancel."""

import streamlit as st

from dashboard import batch, services
from dashboard import components as ui
from paynet_core.auth import Role, require_role
from paynet_core.i18n import _
from paynet_core.jobs import (
    cancel_job,
    live_requires_confirmation,
    pause_job,
    resumable,
    resume_job,
    run_job_in_background,
)
from paynet_core.ops import uploads
from paynet_core.vocab import ItemState, JobState

user = services.require("view_jobs")
rt = services.runtime()
st.title(_("Jobs"))

jobs = rt.store.jobs(limit=200)
if jobs.empty:
    st.info(_("No bulk job yet. Start one from Issue invoices or Bulk status updates."))
    st.stop()

counts = rt.store.jobs_progress(jobs["job_id"].tolist())  # one query for every job shown
progress = [counts[j] for j in jobs["job_id"]]
jobs = jobs.assign(
    done=[p[ItemState.DONE] for p in progress],
    failed=[p[ItemState.FAILED] for p in progress],
    progress=[
        (p[ItemState.DONE] + p[ItemState.FAILED] + p[ItemState.SKIPPED]) / max(p["total"], 1)
        for p in progress
    ],
)
ui.table(
    jobs[
        [
            "job_id",
            "kind",
            "state",
            "progress",
            "total",
            "done",
            "failed",
            "created_by",
            "created_at",
            "mode",
            "source_name",
        ]
    ],
    hide_index=True,
    width="stretch",
    column_config={
        "progress": st.column_config.ProgressColumn(
            ui.column_label("progress"), min_value=0, max_value=1
        )
    },
)

default = st.query_params.get("job")
ids = jobs["job_id"].tolist()
job_id = st.selectbox(
    _("Job"), ids, index=ids.index(default) if default in ids else 0, key="jobs_pick"
)
job = rt.store.job(job_id)
st.caption(
    _("Created by {who}", who=ui.literal(job["created_by"]))
    + f" · {ui.MODES.get(job['mode'], job['mode'])} · "
    + ui.literal(job["source_name"] or "")
)

if user.can("run_job"):
    c1, c2, c3 = st.columns(3)
    with ui.errors_as_banner():
        may_resume = resumable(job)  # one rule with resume_job: not finished, no live runner
        left = None
        if may_resume and live_requires_confirmation(job["mode"]):
            # LIVE: resuming is the first-batch review; the counts are above, type what is left.
            left = str(uploads.items_left(rt.store, job_id))
            typed = c1.text_input(
                _("Type **{left}** (items left) to resume — LIVE: real customers", left=left),
                key="jobs_resume_typed",
            )
        if may_resume and c1.button(
            _("Resume"),
            key="jobs_resume",
            type="primary",
            disabled=left is not None and typed.strip() != left,
        ):
            require_role(user, Role.OPERATOR, action="resume a job")
            resume_job(job_id, store=rt.store, actor=user.email)
            run_job_in_background(job_id, rt)
            st.rerun()
        if uploads.may_pause(job) and c2.button(_("Pause"), key="jobs_pause"):
            require_role(user, Role.OPERATOR, action="pause a job")
            pause_job(job_id, store=rt.store, actor=user.email)
            st.rerun()
        if uploads.may_cancel(job) and c3.button(_("Cancel job"), key="jobs_cancel"):
            require_role(user, Role.OPERATOR, action="cancel a job")
            cancel_job(job_id, store=rt.store, actor=user.email)
            st.rerun()

batch.job_progress(rt, user, job_id)
if not job_id or rt.store.job(job_id)["state"] not in (
    JobState.DONE,
    JobState.CANCELLED,
    JobState.FAILED,
):
    ui.table(rt.store.job_items(job_id), hide_index=True, width="stretch")
