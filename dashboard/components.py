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
from paynet_core.i18n import DEFAULT_LANGUAGE, N_, _, current_language, normalize_language
from paynet_core.i18n.formats import format_count
from paynet_core.money import format_amount, parse_amount
from paynet_core.paynet.models import RETURN_CODE_TABLE
from paynet_core.vocab import ItemState, JobKind, JobState, Outcome

log = logging.getLogger("dashboard")

# CommonMark lets a backslash escape any ASCII punctuation, and an escaped character is always
# literal text. Only characters that can open markup are escaped (so "invoice_no", "12:30" and
# "1.234,56" stay readable in the page source and in tests): link/image/HTML/code/emphasis
# openers everywhere; block markers (#, >, -, +, =, "1.") at a line's start; an underscore at a
# word's edge; a colon before a letter or "/" (":red[", ":smile:", "http://" autolinks); "www.".
_ALWAYS = re.compile(
    r"[\\`*\[\]<&|~$]"
)  # "@" stays: an e-mail may become a mailto link, nothing else
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
    Mode.SANDBOX: ("SANDBOX", "blue", N_("Fake money: the built-in simulator.")),
    Mode.TEST: ("TEST", "orange", N_("Paynet test system.")),
    Mode.LIVE: (
        N_("LIVE — REAL MONEY"),
        "red",
        N_("Live system: every action charges real customers."),
    ),
}


def mode_badge(mode: Mode) -> None:
    text, colour, help_text = _BADGES[mode]
    st.sidebar.markdown(f":{colour}-background[**{_(text)}**]", help=_(help_text))
    if mode is Mode.LIVE:
        st.error(_("**LIVE mode** — actions here move real money for real customers."), icon="🔴")


def money(kurus: int | None) -> str:
    return "—" if kurus is None else format_amount(int(kurus))


def show_error(err: Exception) -> None:
    """A banner for an error; provider errors show operation, code and message, never a traceback."""
    if isinstance(err, ProviderError):
        code = " · " + _("code {code}", code=err.code) if err.code is not None else ""
        known = RETURN_CODE_TABLE.get(err.code) if err.provider == "Paynet" else None
        if known is not None:
            code += f" ({known.name})"
        http = f" · HTTP {err.http_status}" if err.http_status else ""
        # the error's class, not its code, says "not found" (Paynet 12 and 24 alike)
        names = {"provider": literal(err.provider), "operation": literal(err.operation)}
        head = (
            _("Not found · {provider} {operation}", **names)
            if isinstance(err, NotFoundError)
            else _("{provider} refused {operation}", **names)
        )
        # The provider's own message is shown as received, under our heading.
        st.error(
            f"**{head}**{code}{http}\n\n{literal(err.message)}"
            + (
                "\n\n" + _("Request id: {id}", id=literal(err.request_id)) if err.request_id else ""
            ),
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
            _(
                "Something went wrong ({kind}). Nothing was sent twice; the details are in the server log.",
                kind=type(err).__name__,
            ),
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


def money_input(
    label: str, *, key: str, required: bool = True, help: str | None = None
) -> int | None:
    """A text input that reads Turkish amounts ("1.234,56") and shows the problem under it."""
    raw = st.text_input(
        label,
        key=key,
        placeholder="1.234,56",
        help=help or _("Type the amount the Turkish way: 1.234,56"),
    )
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
    name = _(DEMO_NAMES[user.name]) if user.demo and user.name in DEMO_NAMES else literal(user.name)
    who = f"{name} ({_(ROLES.get(user.role.name.lower(), user.role.name.lower()))})"
    st.sidebar.caption(_("Signed in as **{who}**", who=who))
    if user.demo:
        st.sidebar.info(
            _("Sandbox demo operator — no login configured. Nothing here is real money."),
            icon=":material/science:",
        )
    elif rt.settings.auth_configured and st.sidebar.button(_("Log out")):
        st.logout()
    task = services.sync_task()
    last = rt.store.last_sync_time()
    st.sidebar.caption(
        _("Last sync: **{when}**", when=format_display_datetime(last) if last else _("never"))
    )
    if task.running:
        st.sidebar.caption(_("Syncing… {step}", step=literal(task.message)))
    elif task.error:
        st.sidebar.error(_("Last sync failed: {error}", error=literal(task.error)))
    if user.can("sync") and st.sidebar.button(
        _("Sync now"),
        disabled=task.running,
        help=_("Refresh the cache from the APIs in the background"),
    ):
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
            shown = f"{format_amount(int(value))}  ({format_count(int(value))} kuruş)"
        elif (key.endswith("_day") or key == "due_date") and value:
            shown = day(value)
        elif key in _TIME_COLUMNS and value:
            shown = _timestamp(value)
        elif key == "outcome":
            shown = outcome_name(value)
        elif key == "status_label" and "status" in record:
            shown = (
                status_name(record["status"]).split(" · ", 1)[-1]
                if str(record["status"]).isdigit()
                else shown
            )
        rows.append({"field": column_label(key), "value": shown})
    return pd.DataFrame(rows)


# -- language: who sees which, and the names of things in it ---------------------------------

LANGUAGE_NAMES = {"tr": "Türkçe", "en": "English"}  # each in its own language, never translated
_LINK_LANGUAGE = "_lang_from_link"


def server_default_language() -> str:
    """The server's default: ``PAYNET_OPS_LANG`` when set to tr/en, else Turkish."""
    import os

    return normalize_language(os.environ.get("PAYNET_OPS_LANG")) or DEFAULT_LANGUAGE


def resolve_language(user=None) -> str:
    """``?lang=`` of a shared link (kept for the session), else the person's saved choice, else
    the browser's language, else the server's default (Turkish)."""
    linked = normalize_language(st.query_params.get("lang"))
    if linked:
        st.session_state[_LINK_LANGUAGE] = linked
    for chosen in (st.session_state.get(_LINK_LANGUAGE), st.session_state.get("_lang_session")):
        if chosen:
            return chosen
    if user is not None and getattr(user, "email", None):
        from . import services

        try:
            saved = services.runtime().store.user_language(user.email)
        except PaynetOpsError:
            saved = None
        if saved:
            return saved
    try:
        browser = normalize_language(st.context.locale)
    except Exception:  # noqa: BLE001 - no browser (a bare script run): not an error
        browser = None
    return browser or server_default_language()


def language_switch(user, current: str) -> None:
    """The sidebar switch; the choice is saved for this person (reloads, other replicas)."""

    def chosen() -> None:
        picked = st.session_state.get("lang_switch")
        if picked not in LANGUAGE_NAMES:
            return
        st.session_state.pop(_LINK_LANGUAGE, None)
        if "lang" in st.query_params:
            del st.query_params["lang"]
        email = getattr(user, "email", None)
        if email:
            from . import services

            try:
                services.runtime().store.set_user_language(email, picked)
            except PaynetOpsError as err:
                log.warning("language choice not saved: %s", err)
        st.session_state["_lang_session"] = picked

    st.session_state["lang_switch"] = current
    st.sidebar.radio(
        "Dil · Language",
        list(LANGUAGE_NAMES),
        format_func=LANGUAGE_NAMES.__getitem__,
        horizontal=True,
        key="lang_switch",
        on_change=chosen,
    )


#: Job states, then the item states that are not also job states.
JOB_STATES = {
    JobState.PENDING: N_("pending"),
    JobState.RUNNING: N_("running"),
    JobState.PAUSED: N_("paused"),
    JobState.CANCELLING: N_("cancelling"),
    JobState.CANCELLED: N_("cancelled"),
    JobState.DONE: N_("done"),
    JobState.FAILED: N_("failed"),
    ItemState.SENDING: N_("sending"),
    ItemState.SKIPPED: N_("skipped"),
}
JOB_KINDS = {JobKind.CREATE_INVOICES: N_("create invoices"), JobKind.SET_STATUS: N_("set status")}
OUTCOMES = {
    Outcome.PAID: N_("Paid"),
    Outcome.CANCELLED: N_("Cancelled"),
    Outcome.OPEN: N_("Open"),
    Outcome.FAILED: N_("Failed"),
}
MODES = {"sandbox": "SANDBOX", "test": "TEST", "live": "LIVE"}
DEMO_NAMES = {"Demo operator": N_("Demo operator"), "Demo admin": N_("Demo admin")}  # sandbox only
ROLES = {
    "none": N_("no role"),
    "viewer": N_("viewer"),
    "operator": N_("operator"),
    "admin": N_("admin"),
}


def state_name(state: object) -> str:
    return _(JOB_STATES[state]) if state in JOB_STATES else str(state)


def outcome_name(outcome: object) -> str:
    return _(OUTCOMES[outcome]) if outcome in OUTCOMES else str(outcome)


def status_labels() -> dict:
    """Each status as ``5 · İptal``, fixed now: a widget may format its options after the run
    (so a format function must not read the language when called)."""
    from paynet_core.paynet import InvoiceStatus

    return {s: f"{s.value} · {s.display_label}" for s in InvoiceStatus}


def status_name(code: object) -> str:
    """A Paynet status code as ``5 · İptal`` / ``5 · Cancel``."""
    from paynet_core.paynet import InvoiceStatus

    try:
        status = InvoiceStatus(int(code))
    except (TypeError, ValueError):
        return "—" if code is None else str(code)
    return f"{status.value} · {status.display_label}"


#: Column headers of the tables people read, by the cache's column names.
COLUMNS = {
    "job_id": N_("Job"),
    "kind": N_("Kind"),
    "state": N_("State"),
    "progress": N_("Progress"),
    "total": N_("Total"),
    "done": N_("Done"),
    "failed": N_("Failed"),
    "created_by": N_("Created by"),
    "created_at": N_("Created at"),
    "finished_at": N_("Finished at"),
    "started_at": N_("Started at"),
    "mode": N_("Mode"),
    "source_name": N_("Source"),
    "seq": N_("No."),
    "operation": N_("Operation"),
    "target_key": N_("Target"),
    "attempts": N_("Attempts"),
    "provider_code": N_("Provider code"),
    "message": N_("Provider message"),
    "status_before": N_("Status before"),
    "status_after": N_("Status after"),
    "source_row": N_("Source row"),
    "invoice_no": N_("Invoice no"),
    "invoice_id": N_("Invoice id"),
    "subscription_id": N_("Subscription id"),
    "reference_no": N_("Reference no"),
    "amount_kurus": N_("Amount (kuruş)"),
    "amount": N_("Amount"),
    "val_day": N_("Charge date"),
    "status": N_("Status"),
    "status_label": N_("Status name"),
    "id": N_("Id"),
    "old_status": N_("Old status"),
    "old_status_label": N_("Old status name"),
    "new_status": N_("New status"),
    "new_status_label": N_("New status name"),
    "source": N_("Source"),
    "actor": N_("Who"),
    "observed_at": N_("Seen at"),
    "at": N_("When"),
    "action": N_("Action"),
    "target_type": N_("Target type"),
    "target_ids": N_("Target ids"),
    "provider_message": N_("Provider message"),
    "detail": N_("Detail"),
    "field": N_("Field"),
    "value": N_("Value"),
    "setting": N_("Setting"),
    "row": N_("Row"),
    "errors": N_("Errors"),
    "agent_id": N_("Agent"),
    "agent_amount_kurus": N_("Agent amount"),
    "company_amount_kurus": N_("Company amount"),
    "currency": N_("Currency"),
    "val_date": N_("Charge time"),
    "outcome": N_("Outcome"),
    "updated_at": N_("Updated at"),
    "synced_at": N_("Synced at"),
    "invoice_payment_id": N_("Payment id"),
    "invoice_type": N_("Invoice type"),
    "institution": N_("Institution"),
    "subscriber_no": N_("Subscriber no"),
    "customer_name_masked": N_("Customer (masked)"),
    "due_date": N_("Due date"),
    "fee_kurus": N_("Fee"),
    "paid_at": N_("Paid at"),
    "paid_day": N_("Paid on"),
    "first_seen_at": N_("First seen at"),
    "name_surname": N_("Name"),
}
_DAY_COLUMNS = {"val_day"}
_TIME_COLUMNS = {
    "created_at",
    "finished_at",
    "started_at",
    "observed_at",
    "at",
    "heartbeat_at",
    "updated_at",
    "synced_at",
    "val_date",
    "paid_at",
    "first_seen_at",
}
_STATUS_LABELS = {
    "status_label": "status",
    "old_status_label": "old_status",
    "new_status_label": "new_status",
}


def table(frame, *, column_config: dict | None = None, **kwargs):
    """``st.dataframe`` for people: headers in the current language (as column labels, so the
    data keeps the cache's column names), states and statuses by name, days as ``dd.MM.yyyy``.
    Provider messages stay as received. A Styler is shown as styled, with its labels."""
    from pandas.io.formats.style import Styler

    styled = isinstance(frame, Styler)
    columns = frame.data.columns if styled else frame.columns
    labels: dict = {c: column_label(c) for c in columns if c in COLUMNS}
    labels |= column_config or {}
    shown = frame if styled else grouped_counts(display_values(frame))
    return st.dataframe(shown, column_config=labels, **kwargs)


#: Integer columns that hold counts: shown grouped (``4.702``) like every card, in both languages.
COUNT_COLUMNS = {
    "total",
    "done",
    "failed",
    "skipped",
    "pending",
    "sending",
    "count",
    "items",
    "calls",
    "invoices",
    "payments",
    "subscriptions",
    "attempts",
}
#: Up to this many rows a Styler formats the counts (the column stays numeric, so it sorts as
#: numbers); a longer table gets them as text (Styler's cell limit and cost).
_STYLED_ROWS = 5_000


def grouped_counts(frame):
    """``frame`` with its count columns displayed the Turkish way (``4.702``, not ``4702``)."""
    import pandas as pd

    counts = [
        c
        for c in frame.columns
        if (c in COUNT_COLUMNS or str(c).endswith("_count"))
        and pd.api.types.is_integer_dtype(frame[c])
    ]
    if not counts:
        return frame
    if len(frame) <= _STYLED_ROWS:
        return frame.style.format(format_count, subset=counts)
    return frame.assign(**{c: frame[c].map(format_count) for c in counts})


def display_values(frame):
    """A copy of ``frame`` with states and statuses by name and days as ``dd.MM.yyyy``."""
    shown = frame.copy()
    for column in shown.columns:
        if column == "state":
            shown[column] = shown[column].map(state_name)
        elif column == "kind":
            shown[column] = shown[column].map(lambda k: _(JOB_KINDS[k]) if k in JOB_KINDS else k)
        elif column == "outcome":
            shown[column] = shown[column].map(outcome_name)
        elif column in _STATUS_LABELS and _STATUS_LABELS[column] in shown.columns:
            shown[column] = shown[_STATUS_LABELS[column]].map(_status_only)
        elif column in _DAY_COLUMNS:
            shown[column] = shown[column].map(day)
        elif column in _TIME_COLUMNS:
            shown[column] = shown[column].map(_timestamp)
        elif column in ("action", "target_type"):
            shown[column] = shown[column].map(audit_word)
        elif column in _STATUS_CODES:
            shown[column] = shown[column].map(_status_only)
        elif column in _CODE_COLUMNS:
            shown[column] = shown[column].map(_code)
        elif _is_text(shown[column]):
            # a missing text reads as a dash, not as the grid's English "None"
            shown[column] = shown[column].map(lambda v: "—" if v is None or v != v else v)
    return shown


#: The audit log's actions and target types as people read them (the ids stay in the cache;
#: in English the id is the word).
AUDIT_WORDS = {
    "invoice.create": N_("invoice.create"),
    "invoice.status": N_("invoice.status"),
    "sync.run": N_("sync.run"),
    "job.start": N_("job.start"),
    "job.pause": N_("job.pause"),
    "job.resume": N_("job.resume"),
    "job.cancel": N_("job.cancel"),
    "job.cancelled": N_("job.cancelled"),
    "job.review_pause": N_("job.review_pause"),
    "job.finish": N_("job.finish"),
    "create_invoice": N_("create_invoice"),
    "invoice_status_update": N_("invoice_status_update"),
    "invoices_status_update_all": N_("invoices_status_update_all"),
    "invoice": N_("invoice"),
    "job": N_("job"),
    "cache": N_("cache"),
}


def audit_word(value):
    """An audit action or target type in the page language (``job.finish`` → ``iş bitti``)."""
    if isinstance(value, str):
        dotted = value.replace("_", ".", 1) if value.startswith("job_") else value
        if dotted in AUDIT_WORDS:
            return _(AUDIT_WORDS[dotted])
    return value


#: Status codes a table shows by name (an audit line's before and after).
_STATUS_CODES = {"status_before", "status_after"}
#: Provider codes: whole numbers, or a dash when there is none.
_CODE_COLUMNS = {"provider_code", "http_status"}


def _is_text(series) -> bool:
    import pandas as pd

    return series.dtype == object or pd.api.types.is_string_dtype(series)


def _code(value) -> str:
    if value is None or value != value or value == "":
        return "—"
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return str(value)


def _status_only(code) -> str:
    """``İptal`` for 5; a dash for no status (a first sighting has no old one)."""
    if code is None or code != code:
        return "—"
    return status_name(code).split(" · ", 1)[-1]


def column_label(column: str) -> str:
    return _(COLUMNS[column]) if column in COLUMNS else column


def _timestamp(value) -> str:
    from datetime import datetime

    from paynet_core.dates import format_display_datetime

    if value is None or value != value or value == "":
        return "—"
    try:
        return format_display_datetime(datetime.fromisoformat(str(value)))
    except (ValueError, TypeError, OverflowError):
        return str(value)


#: English names the figures module gives traces and hover texts, translated after building.
FIGURE_NAMES = (
    N_("Paid"),
    N_("Cancelled"),
    N_("Failed"),
    N_("Open"),
    N_("Fees on paid payments"),
    N_("Fees on cancelled payments"),
)
_WEEK_OF = re.compile(r"^week of (.+)$")


def localise_figure(fig):
    """A copy of a figure from ``paynet_core.reports`` in the current language: title, axis
    titles, legend and trace names, hover texts; numbers the Turkish way (``1.234,56``).

    The figures module builds them in English (it knows no language yet); the cached figure is
    shared by every session, so this works on a copy."""
    import plotly.graph_objects as go

    out = go.Figure(fig)
    title = out.layout.title.text
    if title:
        out.layout.title.text = _(title)
    for axis in ("xaxis", "yaxis", "xaxis2", "yaxis2"):
        ax = getattr(out.layout, axis, None)
        if ax is not None and ax.title is not None and ax.title.text:
            ax.title.text = _(ax.title.text)
    names = {name: _(name) for name in FIGURE_NAMES}
    cancelled_of = _(
        "{rate} cancelled ({cancelled} of {settled})",
        rate="<b>%{y:.1%}</b>",
        cancelled="%{customdata[1]}",
        settled="%{customdata[2]}",
    )
    for trace in out.data:
        if trace.name in names:
            trace.name = names[trace.name]
        template = trace.hovertemplate
        if template:
            template = template.replace(
                "<b>%{y:.1%}</b> cancelled (%{customdata[1]} of %{customdata[2]})", cancelled_of
            )
            for english, local in names.items():
                template = template.replace(f" · {english}", f" · {local}").replace(
                    f"{english}<br>", f"{local}<br>"
                )
            trace.hovertemplate = template
        if trace.customdata is not None:
            trace.customdata = [
                [_week_of(v) for v in row]
                if isinstance(row, (list, tuple)) or hasattr(row, "tolist")
                else _week_of(row)
                for row in trace.customdata
            ]
    out.layout.separators = ",."
    if title:  # room between the title and the legend above the plot (they touched at 60 px)
        out.layout.margin.t = max(out.layout.margin.t or 0, 90)
    return out


def _week_of(value):
    if isinstance(value, str):
        found = _WEEK_OF.match(value)
        if found:
            return _("week of {day}", day=found.group(1))
    return value


def other_form() -> str:
    """The CSV form that is not the page language's: offered beside every CSV download."""
    return "en" if current_language() == "tr" else "tr"


def csv_downloads(target, label: str, make, file_name: str, *, key: str) -> None:
    """A CSV download in the page language's form (Turkish Excel's: Turkish headers, ``;``,
    UTF-8 BOM; or English: column names, ``,``), and a small one beside it in the other form.

    ``make(form)`` builds the bytes; ``target`` is ``st`` or a column."""
    row = target.container(horizontal=True, gap="small")
    row.download_button(label, make(None), file_name, "text/csv", key=key)
    other = other_form()
    row.download_button(
        _("English CSV (,)") if other == "en" else _("Turkish Excel CSV (;)"),
        make(other),
        file_name.replace(".csv", f"_{other}.csv"),
        "text/csv",
        key=f"{key}_{other}",
        type="tertiary",
    )


def frame_csv(frame):
    """``make(form)`` for :func:`csv_downloads` of a table as the page shows it."""
    from paynet_core.reports import forms
    from paynet_core.reports.cells import to_csv_bytes

    def make(form: str | None) -> bytes:
        renamed = frame.set_axis(forms.headers(frame.columns, form), axis=1)
        return to_csv_bytes(renamed, delimiter=forms.delimiter(form))

    return make
