"""Audit log: who did what, when, in which mode, with the provider's answer. Admins only."""

from datetime import timedelta

import streamlit as st

from dashboard import components as ui
from dashboard import services
from paynet_core.dates import today
from paynet_core.i18n import _, tr_contains, tr_sort_key

services.require("view_audit")
rt = services.runtime()
st.title(_("Audit log"))
st.caption(_("Append-only: the database refuses to change or delete these lines."))

c1, c2, c3, c4 = st.columns(4)
since = c1.date_input(
    _("From"), value=today() - timedelta(days=30), format="DD.MM.YYYY", key="audit_from"
)
until = c2.date_input(_("To"), value=today(), format="DD.MM.YYYY", key="audit_to")
actor = c3.text_input(_("Who (e-mail)"), key="audit_actor").strip() or None  # a part, any case
target = c4.text_input(_("Target id (invoice no, job id…)"), key="audit_target").strip() or None
rows = rt.store.audit_rows(target_id=target, since=since, until=until, limit=5_000)
if actor:
    rows = rows[rows["actor"].map(lambda who: tr_contains(who, actor))]
actions = sorted(rows["action"].unique(), key=tr_sort_key) if not rows.empty else []
chosen = st.multiselect(
    _("Actions"),
    actions,
    key="audit_actions",
    placeholder=_("Choose options"),
    format_func=ui.audit_word,
)
if chosen:
    rows = rows[rows["action"].isin(chosen)]

ui.table(rows, hide_index=True, width="stretch")
ui.csv_downloads(
    st,
    _("Download CSV"),
    ui.frame_csv(rows),
    _("audit_{since}_{until}.csv", since=since.strftime("%Y%m%d"), until=until.strftime("%Y%m%d")),
    key="audit_csv",
)
