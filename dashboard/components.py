"""Small shared widgets: mode badge, error banner, money input, job progress."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException

from paynet_core.config import Mode
from paynet_core.errors import (
    InputError,
    NotFoundError,
    PaynetOpsError,
    PermissionDenied,
    ProviderError,
    reason,
)
from paynet_core.money import format_amount, parse_amount
from paynet_core.paynet.models import RETURN_CODE_TABLE

log = logging.getLogger("dashboard")

# CommonMark lets a backslash escape any ASCII punctuation, and an escaped character is always
# literal text. Only characters that can open markup are escaped (so "invoice_no", "12:30" and
# "1.234,56" stay readable in the page source and in tests): link/image/HTML/code/emphasis
# openers everywhere; block markers (#, >, -, +, =, "1.") at a line's start; an underscore at a
# word's edge; a colon before a letter or "/" (":red[", ":smile:", "http://" autolinks); "www.".
_ALWAYS = re.compile(r"[\\`*\[\]<&|~$]")  # "@" stays: an e-mail may become a mailto link, nothing else
_LINE_START = re.compile(r"(?m)^([ \t]*)([#>+=-]|\d{1,9}[.)](?=[ \t]|$))")
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_COLON = re.compile(r":(?=[A-Za-z/])")
_WWW = re.compile(r"(?i)(www)\.")


def literal(text: object) -> str:
    """``text`` from outside (a provider, a file, a header, a cell, a URL) for st.markdown,
    st.error & co, escaped so that Markdown and HTML in it show as typed instead of rendering.

    Every page shows outside text through this; our own markup goes around it, never in it.
    """
    if text is None:
        return ""
    out = _ALWAYS.sub(lambda m: "\\" + m.group(0), str(text))
    out = _UNDERSCORE.sub(r"\_", out)
    out = _COLON.sub(r"\:", out)
    out = _WWW.sub(r"\1\.", out)
    return _LINE_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], out)


_BADGES = {
    Mode.SANDBOX: (":blue-background[**SANDBOX**]", "Fake money: the built-in simulator."),
    Mode.TEST: (":orange-background[**TEST**]", "Paynet test system."),
    Mode.LIVE: (":red-background[**LIVE — REAL MONEY**]", "Live system: every action charges real customers."),
}


def mode_badge(mode: Mode) -> None:
    text, help_text = _BADGES[mode]
    st.sidebar.markdown(text, help=help_text)
    if mode is Mode.LIVE:
        st.error("**LIVE mode** — actions here move real money for real customers.", icon="🔴")


def money(kurus: int | None) -> str:
    return "—" if kurus is None else format_amount(int(kurus))


def show_error(err: Exception) -> None:
    """A banner for an error; provider errors show operation, code and message, never a traceback."""
    if isinstance(err, ProviderError):
        code = f" · code {err.code}" if err.code is not None else ""
        known = RETURN_CODE_TABLE.get(err.code) if err.provider == "Paynet" else None
        if known is not None:
            code += f" ({known.name})"
        http = f" · HTTP {err.http_status}" if err.http_status else ""
        # the error's class, not its code, says "not found" (Paynet 12 and 24 alike)
        head = "Not found · {} {}" if isinstance(err, NotFoundError) else "{} refused {}"
        st.error(
            f"**{head.format(literal(err.provider), literal(err.operation))}**{code}{http}\n\n{literal(err.message)}"
            + (f"\n\nRequest id: {literal(err.request_id)}" if err.request_id else ""),
            icon="🚫",
        )
    elif isinstance(err, InputError):
        st.error(literal(reason(err)), icon="✋")
    elif isinstance(err, PermissionDenied):
        st.error(literal(err), icon="🔒")
    elif isinstance(err, PaynetOpsError):
        st.error(literal(reason(err)), icon="⚠️")
    else:
        log.exception("unexpected error on a page")
        st.error(
            f"Something went wrong ({type(err).__name__}). Nothing was sent twice; "
            "the details are in the server log.",
            icon="⚠️",
        )


@contextmanager
def errors_as_banner() -> Iterator[None]:
    """Run page logic; any error becomes a banner instead of a traceback."""
    try:
        yield
    except (StopException, RerunException):  # Streamlit's own control flow
        raise
    except Exception as err:  # noqa: BLE001 - the page must never show a traceback
        show_error(err)


def money_input(label: str, *, key: str, required: bool = True, help: str | None = None) -> int | None:
    """A text input that reads Turkish amounts ("1.234,56") and shows the problem under it."""
    raw = st.text_input(label, key=key, placeholder="1.234,56", help=help or "Type the amount the Turkish way: 1.234,56")
    if not raw.strip():
        return None
    try:
        value = parse_amount(raw, field=label)
    except InputError as err:
        st.caption(f":red[{literal(err.message)}]")
        return None
    st.caption(f"= {format_amount(value)}")
    return value


def sidebar(user) -> None:
    """Shown on every page: mode, who is here, and how fresh the cache is."""
    from paynet_core.dates import format_display_datetime

    from . import services

    rt = services.runtime()
    mode_badge(rt.mode)
    st.sidebar.caption(f"Signed in as **{literal(user.label)}**")
    if user.demo:
        st.sidebar.info("Sandbox demo operator — no login configured. Nothing here is real money.", icon=":material/science:")
    elif rt.settings.auth_configured and st.sidebar.button("Log out"):
        st.logout()
    task = services.sync_task()
    last = rt.store.last_sync_time()
    st.sidebar.caption(f"Last sync: **{format_display_datetime(last) if last else 'never'}**")
    if task.running:
        st.sidebar.caption(f"Syncing… {literal(task.message)}")
    elif task.error:
        st.sidebar.error(f"Last sync failed: {literal(task.error)}")
    if user.can("sync") and st.sidebar.button("Sync now", disabled=task.running, help="Refresh the cache from the APIs in the background"):
        try:
            services.start_sync(user)
        except PermissionDenied as err:
            show_error(err)
        else:
            st.rerun()


def day(value) -> str:
    """An ISO day or timestamp from the cache as ``dd.MM.yyyy``."""
    from datetime import date, datetime

    from paynet_core.dates import format_display_date

    if not value:
        return "—"
    text = str(value)
    parsed = datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text[:10])
    return format_display_date(parsed)


def record_table(record: dict):
    """A cached row as a two-column table, money shown in TL beside the kuruş."""
    import pandas as pd

    rows = []
    for key, value in record.items():
        shown = "" if value is None else str(value)
        if key.endswith("_kurus") and value is not None:
            shown = f"{format_amount(int(value))}  ({value} kuruş)"
        rows.append({"field": key, "value": shown})
    return pd.DataFrame(rows)
