"""Settings: what this server is configured with: mode and endpoints; of keys only whether they
are set. Admins only."""

import streamlit as st

from dashboard import services

services.require("settings")
s = services.runtime().settings
st.title("Settings")
st.caption("Read-only. Change these in the environment or `.streamlit/secrets.toml`, then restart.")
for warning in s.warnings:
    st.warning(warning, icon="⚠️")
rows = s.describe()
st.table({"setting": [name for name, _ in rows], "value": [value for _, value in rows]})
