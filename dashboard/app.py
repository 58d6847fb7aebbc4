"""paynet-ops dashboard: ``streamlit run dashboard/app.py`` (or ``paynet-ops run``)."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run` from anywhere

from dashboard import components, services  # noqa: E402
from paynet_core.i18n import _, set_language  # noqa: E402

st.set_page_config(page_title="paynet-ops", page_icon="💳", layout="wide")

# Every script run speaks one language, so the core's messages (errors, plans) render in it too.
set_language(components.resolve_language())
user = services.current_user()
if user is None:
    st.title("paynet-ops")
    st.info(_("Please log in to continue."))
    if st.button(_("Log in"), type="primary"):
        st.login()
    st.stop()

language = set_language(components.resolve_language(user))

if not user.can("view"):
    st.title("paynet-ops")
    st.error(
        _(
            "{email} has no role here. Ask an admin to add you to \\[roles\\].",
            email=components.literal(user.email),
        ),
        icon="🔒",
    )
    if st.button(_("Log out")):
        st.logout()
    st.stop()

navigation = st.navigation(services.pages_for(user))
components.language_switch(user, language)
components.sidebar(user)
navigation.run()
