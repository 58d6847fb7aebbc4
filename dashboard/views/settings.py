"""Settings: what this server is configured with (keys masked). Admins only."""

import streamlit as st

from dashboard import services

services.require("settings")
s = services.runtime().settings
st.title("Settings")
st.caption("Read-only. Change these in the environment or `.streamlit/secrets.toml`, then restart.")


def masked(secret) -> str:
    return secret.masked if secret else "not set"


st.table(
    {
        "setting": ["Mode", "Paynet secret key", "Payofin API key", "Payofin secret key", "Cache database",
                    "Sandbox state", "Bulk rate limit", "Login (OIDC)", "Role assignments"],
        "value": [s.mode.value.upper(), masked(s.paynet_secret_key), masked(s.payofin_api_key),
                  masked(s.payofin_secret_key), str(s.db_path), str(s.sandbox_db_path),
                  f"{s.rate_limit:g} requests/s", "configured" if s.auth_configured else "not configured",
                  str(len(s.roles))],
    }
)
