"""Audit log: who did what, when, in which mode, with the provider's answer. Admins only."""

from datetime import timedelta

import streamlit as st

from dashboard import services
from paynet_core.dates import today
from paynet_core.reports.cells import to_csv_bytes

services.require("view_audit")
rt = services.runtime()
st.title("Audit log")
st.caption("Append-only: the database refuses to change or delete these lines.")

c1, c2, c3, c4 = st.columns(4)
since = c1.date_input("From", value=today() - timedelta(days=30), format="DD.MM.YYYY", key="audit_from")
until = c2.date_input("To", value=today(), format="DD.MM.YYYY", key="audit_to")
actor = c3.text_input("Who (e-mail)", key="audit_actor").strip() or None
target = c4.text_input("Target id (invoice no, job id…)", key="audit_target").strip() or None
rows = rt.store.audit_rows(actor=actor, target_id=target, since=since, until=until, limit=5_000)
actions = sorted(rows["action"].unique()) if not rows.empty else []
chosen = st.multiselect("Actions", actions, key="audit_actions")
if chosen:
    rows = rows[rows["action"].isin(chosen)]

st.dataframe(rows, hide_index=True, width="stretch")
st.download_button(
    "Download CSV", to_csv_bytes(rows), file_name=f"audit_{since:%Y%m%d}_{until:%Y%m%d}.csv", mime="text/csv",
    key="audit_csv",
)
