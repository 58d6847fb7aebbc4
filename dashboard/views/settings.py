"""Settings: what this server is configured with: mode and endpoints; of keys only whether they
are set. Admins only."""

import streamlit as st

from dashboard import components as ui
from dashboard import services
from paynet_core.i18n import _

services.require("settings")
s = services.runtime().settings
st.title(_("Settings"))
st.caption(
    _("Read-only. Change these in the environment or `.streamlit/secrets.toml`, then restart.")
)
for warning in s.warnings:
    st.warning(warning, icon="⚠️")
rows = s.describe()
st.table(
    {
        ui.column_label("setting"): [name for name, _v in rows],
        ui.column_label("value"): [value for _n, value in rows],
    }
)
