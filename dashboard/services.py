"""The Streamlit wiring: one runtime per process, the current user, pages by role, background sync.

Nothing here decides business rules; it connects widgets to ``paynet_core``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import streamlit as st

from paynet_core.auth import Role, User, anonymous_user, demo_user, require_role, role_for
from paynet_core.config import Mode, load_settings
from paynet_core.i18n import N_, _, current_language, set_language, using_language
from paynet_core.runtime import Runtime, open_runtime


@st.cache_resource(show_spinner=False)
def runtime() -> Runtime:
    """One runtime (settings, cache, clients) per server process, shared by every session.

    Jobs whose runner died (a server restart mid-job) are picked up again here.
    """
    from paynet_core.jobs import resume_stale_jobs

    rt = open_runtime(load_settings())
    resume_stale_jobs(rt)
    return rt


def current_user() -> User | None:
    """The person using this session, or None when login is required and nobody logged in.

    With an ``[auth]`` section configured, Streamlit's OIDC login decides who it is and the
    ``[roles]`` table what they may do. Without one, sandbox mode uses a local demo operator;
    test and live modes give a read-only viewer (mutating pages explain how to set up login).
    """
    settings = runtime().settings
    if settings.auth_configured:
        if not st.user.is_logged_in:
            return None
        info = st.user.to_dict()
        email = str(info.get("email") or "")
        role = role_for(email, info, settings.roles)
        return User(email=email, name=str(info.get("name") or email), role=role)
    if settings.mode is Mode.SANDBOX:
        return demo_user()
    return anonymous_user()


PAGES = [
    # (file, title, icon, action needed to see it)
    ("views/overview.py", N_("Overview"), ":material/dashboard:", "view"),
    ("views/issue.py", N_("Issue invoices"), ":material/receipt_long:", "issue_invoice"),
    (
        "views/bulk_status.py",
        N_("Bulk status updates"),
        ":material/published_with_changes:",
        "change_status",
    ),
    ("views/charts.py", N_("Charts"), ":material/bar_chart:", "view"),
    ("views/lookup.py", N_("Lookup"), ":material/search:", "view"),
    ("views/jobs.py", N_("Jobs"), ":material/pending_actions:", "view_jobs"),
    ("views/audit.py", N_("Audit log"), ":material/policy:", "view_audit"),
    ("views/settings.py", N_("Settings"), ":material/settings:", "settings"),
]


def pages_for(user: User) -> list:
    """Only the pages this role may use are in the navigation."""
    return [
        st.Page(path, title=_(title), icon=icon, default=(i == 0))
        for i, (path, title, icon, action) in enumerate(PAGES)
        if user.can(action)
    ]


def require(action: str) -> User:
    """Stop the page unless the current user may do ``action`` (pages reached by URL, too)."""
    user = current_user()
    from .components import resolve_language

    set_language(
        resolve_language(user)
    )  # also when a page runs without app.py (a test, a deep link)
    if user is None or not user.can(action):
        st.error(
            _("You are not allowed to use this page. Ask an admin for the operator role."),
            icon="🔒",
        )
        st.stop()
    settings = runtime().settings
    if (
        action not in ("view", "view_jobs")
        and settings.mode is not Mode.SANDBOX
        and not settings.auth_configured
    ):
        st.error(
            _(
                "Login is not configured, so actions are disabled in test and live mode. Add an "
                "`[auth]` section and `[roles]` to `.streamlit/secrets.toml` (see secrets.toml.example)."
            ),
            icon="🔒",
        )
        st.stop()
    return user


# -- background sync ------------------------------------------------------------------------


@dataclass
class SyncTask:
    thread: threading.Thread | None = None
    message: str = ""
    error: str | None = None
    summary: dict = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


@st.cache_resource(show_spinner=False)
def sync_task() -> SyncTask:
    """One sync at a time per server process, whichever session started it."""
    return SyncTask()


def start_sync(user: User) -> bool:
    """Start a sync in a background thread; False when one is already running."""
    require_role(user, Role.OPERATOR, action="sync")
    task = sync_task()
    if task.running:
        return False
    rt = runtime()
    language = current_language()  # the thread's messages in the language of who started it

    def work() -> None:
        with using_language(language):
            _work()

    def _work() -> None:
        from paynet_core.errors import PaynetOpsError
        from paynet_core.ops.sync import sync_all

        task.error, task.summary = None, {}
        try:
            reports = sync_all(
                rt,
                progress=lambda done, total, msg: setattr(task, "message", msg),
                actor=user.email,
            )
            task.summary = {name: str(report) for name, report in reports.items()}
        except PaynetOpsError as err:
            task.error = str(err)
        except Exception as err:  # noqa: BLE001 - shown as a banner, logged in full
            import logging

            logging.getLogger("dashboard").exception("sync failed")
            task.error = _("sync failed ({kind})", kind=type(err).__name__)
        finally:
            task.message = ""  # cached charts follow the data version: nothing to clear

    task.thread = threading.Thread(target=work, name="paynet-sync", daemon=True)
    task.thread.start()
    return True


# -- cached chart queries: keyed on the filters and on the cache's data version --------------


def data_version() -> int:
    """Changes whenever the cache's data does (a sync, an action, a job; in any process)."""
    return runtime().store.data_version()


@st.cache_data(show_spinner=False, max_entries=256)
def _chart(name: str, filters, version: int, kwargs: tuple):
    from paynet_core import reports

    return getattr(reports, name)(runtime().store, filters=filters, **dict(kwargs))


def cached_chart(name: str, filters, **kwargs):
    """``reports.<name>(store, filters=filters, **kwargs)``, computed once per data version."""
    return _chart(name, filters, data_version(), tuple(sorted(kwargs.items())))


@st.cache_resource(show_spinner=False, max_entries=64)
def _figure(
    figure: str,
    name: str,
    filters,
    version: int,
    kwargs: tuple,
    figure_kwargs: tuple,
    language: str,
):
    # cache_resource: the figure object itself is shared (st.plotly_chart only reads it), so a
    # warm run neither rebuilds nor unpickles it; building plotly figures is the slow part.
    # One per language: the figures module builds in English, localise_figure translates.
    from paynet_core import reports

    from .components import localise_figure

    data = _chart(name, filters, version, kwargs)
    with using_language(language):
        return localise_figure(getattr(reports, figure)(data, **dict(figure_kwargs)))


def cached_figure(figure: str, name: str, filters, *, figure_kwargs: dict | None = None, **kwargs):
    """``reports.<figure>(reports.<name>(store, filters, **kwargs), **figure_kwargs)``, built
    once per data version and shared by every session (do not modify it)."""
    version = data_version()
    return _figure(
        figure,
        name,
        filters,
        version,
        tuple(sorted(kwargs.items())),
        tuple(sorted((figure_kwargs or {}).items())),
        current_language(),
    )


@st.cache_resource(show_spinner=False, max_entries=64)
def _vega(
    chart: str,
    name: str,
    filters,
    version: int,
    kwargs: tuple,
    chart_kwargs: tuple,
    language: str,
):
    # A Vega-Lite spec (a dict, data inline) from paynet_core.reports.vega, built in the
    # session's language and shared like a figure (st.vega_lite_chart copies before changing).
    from paynet_core.reports import vega

    data = _chart(name, filters, version, kwargs)
    with using_language(language):
        return getattr(vega, chart)(data, **dict(chart_kwargs))


def cached_vega(chart: str, name: str, filters, *, chart_kwargs: dict | None = None, **kwargs):
    """``reports.vega.<chart>(reports.<name>(store, filters, **kwargs), **chart_kwargs)``,
    built once per data version and language and shared by every session (do not modify it)."""
    return _vega(
        chart,
        name,
        filters,
        data_version(),
        tuple(sorted(kwargs.items())),
        tuple(sorted((chart_kwargs or {}).items())),
        current_language(),
    )


@st.cache_data(show_spinner=False, max_entries=32)
def _invoices(version: int, kwargs: tuple):
    return runtime().store.find_invoices(**dict(kwargs))


def cached_invoices(**kwargs):
    """``store.find_invoices(**kwargs)``, computed once per data version."""
    return _invoices(data_version(), tuple(sorted(kwargs.items())))


@st.cache_data(show_spinner=False, max_entries=8)
def _chart_options(version: int) -> dict[str, list[str]]:
    from paynet_core import reports

    return reports.filter_options(runtime().store)


def chart_options() -> dict[str, list[str]]:
    return _chart_options(data_version())
