"""paynet-ops dashboard: ``streamlit run dashboard/app.py`` (or ``paynet-ops run``)."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run` from anywhere

from dashboard import components, services  # noqa: E402

st.set_page_config(page_title="paynet-ops", page_icon="💳", layout="wide")

user = services.current_user()
if user is None:
    st.title("paynet-ops")
    st.info("Please log in to continue.")
    if st.button("Log in", type="primary"):
        st.login()
    st.stop()

if not user.can("view"):
    st.title("paynet-ops")
    st.error(f"{components.literal(user.email)} has no role here. Ask an admin to add you to \\[roles\\].", icon="🔒")
    if st.button("Log out"):
        st.logout()
    st.stop()

navigation = st.navigation(services.pages_for(user))
components.sidebar(user)
navigation.run()
