"""Every page in Turkish shows no English message from the catalog, and in English no Turkish.

Each page is rendered through the app (the demo operator; an admin for the audit log and
settings) with some state to show: a pending job, an invoice looked up, a subscription searched.
Every text a person sees is collected from the rendered elements (titles, markdown, alerts,
widget labels, help, placeholders, options, tab and expander labels, metric labels and values,
table column labels, figure and chart titles, legend names, hover and tooltip texts, the texts
of a chart's records) and searched for the other language's catalog texts, placeholders matching
anything. Proper nouns (Paynet, Payofin, CSV,
XLSX, SANDBOX) and texts the same in both languages are not evidence either way.

The app's default language is Turkish; these tests are marked ``turkish`` so the suite's
English default (tests/conftest.py) does not apply, and English comes from the saved choice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from apptest_helpers import APP, PAGES, open_page
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from paynet_core.i18n import check
from paynet_core.paynet import InvoiceStatus

pytestmark = pytest.mark.turkish

ADMIN_PAGES = ["views/audit.py", "views/settings.py"]
OPERATOR_PAGES = [page for page in PAGES if page not in ADMIN_PAGES]
PROPER_NOUNS = {"Paynet", "Payofin", "CSV", "XLSX", "SANDBOX", "TEST"}
#: Proto fields that hold text a person reads (not keys, ids, or data).
SEEN = {
    "label",
    "help",
    "placeholder",
    "body",
    "options",
    "text",
    "value",
    "delta",
    "title",
    "caption",
}
_PLACEHOLDER = re.compile(r"\\\{[A-Za-z_][A-Za-z0-9_]*(?:[!:][^}]*)?\\\}")


def _pattern(text: str) -> re.Pattern[str]:
    """A catalog text as a whole-word pattern; ``{placeholders}`` match any text."""
    body = _PLACEHOLDER.sub(".+?", re.escape(text))
    return re.compile(rf"(?<!\w){body}(?!\w)")


def _catalog_texts(language: str) -> list[tuple[str, re.Pattern[str]]]:
    """The texts of ``language`` that differ from the other language's."""
    tr = check.read_catalog("tr")
    pairs = [(msgid, str(msgstr)) for msgid, msgstr in tr.items() if msgstr and msgstr != msgid]
    texts = [msgid if language == "en" else msgstr for msgid, msgstr in pairs]
    return [(t, _pattern(t)) for t in texts if t.strip(" .—") not in PROPER_NOUNS]


def _walk(node) -> Iterator:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _strings(value, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)
    elif isinstance(value, str) and key in SEEN:
        yield value


def _figure_texts(spec: str) -> Iterator[str]:
    figure = json.loads(spec)
    layout = figure.get("layout", {})
    yield str(layout.get("title", {}).get("text") or "")
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            yield str((axis.get("title") or {}).get("text") or "")
    for note in layout.get("annotations", []):
        yield str(note.get("text") or "")
    for trace in figure.get("data", []):
        yield str(trace.get("name") or "")
        yield str(trace.get("hovertemplate") or "")
        for row in trace.get("customdata") or []:
            yield from (str(v) for v in (row if isinstance(row, list) else [row]))


#: Fields of a Vega-Lite chart's records that are drawn as text (the others are ids and numbers).
_VEGA_DRAWN = {
    "provider_name",
    "outcome_name",
    "label",
    "when",
    "when_text",
    "shown",
    "description",
}


def _vega_texts(spec, key: str = "") -> Iterator[str]:
    """Titles, tooltip titles and the texts of the drawn records (legend, axis, tooltip)."""
    if isinstance(spec, dict):
        if key == "data":
            for row in spec.get("values", []):
                yield from (str(v) for k, v in row.items() if k in _VEGA_DRAWN)
            return
        for k, v in spec.items():
            if k != "config":  # the locale's month and day names are not catalog texts
                yield from _vega_texts(v, k)
    elif isinstance(spec, list):
        for v in spec:
            yield from _vega_texts(v, key)
    elif isinstance(spec, str) and key in {"text", "title", "subtitle"}:
        yield spec


def seen_texts(at: AppTest) -> list[str]:
    """Every text a person can read on the rendered page (sidebar included)."""
    found: list[str] = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or getattr(node, "type", None) == "json":  # a request body, as sent
            continue
        data = MessageToDict(proto, preserving_proto_field_name=False)
        if getattr(node, "type", None) == "plotly_chart":
            found.extend(_figure_texts(data.get("spec", "{}")))
            continue
        if getattr(node, "type", None) == "vega_lite_chart":
            found.extend(_vega_texts(json.loads(data.get("spec", "{}"))))
            continue
        if "columns" in data and isinstance(data["columns"], str):  # a dataframe's column config
            found.extend(str(c.get("label") or "") for c in json.loads(data["columns"]).values())
        found.extend(_strings(data))
    return [t for t in found if t]


def foreign(at: AppTest, language_not_wanted: str) -> list[str]:
    # A text that is itself one of the wanted language's catalog texts is ours as translated
    # (the status caption names file values in both languages on purpose).
    wanted = {t for t, _p in _catalog_texts("tr" if language_not_wanted == "en" else "en")}
    texts = [t for t in seen_texts(at) if t not in wanted]
    hits = []
    for text, pattern in _catalog_texts(language_not_wanted):
        for shown in texts:
            if pattern.search(shown):
                hits.append(f"{text!r} in {shown[:120]!r}")
                break
    return hits


def _prepare(store) -> str:
    """A pending job to list and an invoice to look up; returns that invoice's number."""
    from dashboard import services
    from paynet_core.jobs import confirmation_phrase, start_job
    from paynet_core.jobs.planner import plan_status_changes

    nos = store.find_invoices(status=[0], limit=2)["invoice_no"].tolist()
    plan = plan_status_changes([(no, InvoiceStatus.CANCEL) for no in nos], store=store)
    start_job(
        plan,
        runtime=services.runtime(),
        created_by="tester@example.com",
        confirmation=confirmation_phrase(plan),
    )
    return nos[0]


def _render(at: AppTest, page: str, invoice_no: str) -> AppTest:
    open_page(at, page)
    if page == "views/lookup.py":
        at.text_input(key="lookup_invoice").input(invoice_no).run()
    elif page == "views/issue.py":
        at.text_input(key="issue_sub_query").input("a").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _pages(admin: bool) -> list[str]:
    return ADMIN_PAGES if admin else OPERATOR_PAGES


@pytest.mark.parametrize("admin", [False, True], ids=["operator", "admin"])
def test_every_page_in_turkish_shows_no_english(request, demo, store, admin):  # noqa: F811
    if admin:
        request.getfixturevalue("as_admin")
    invoice_no = _prepare(store)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    problems = {}
    for page in _pages(admin):
        _render(at, page, invoice_no)
        assert at.title[0].value != "", page
        problems[page] = foreign(at, "en")
    assert all(not p for p in problems.values()), problems
    assert "Genel bakış" in [t.value for t in AppTest.from_file(APP).run().title] or admin


@pytest.mark.parametrize("admin", [False, True], ids=["operator", "admin"])
def test_every_page_in_english_shows_no_turkish(request, demo, store, admin):  # noqa: F811
    from dashboard import services

    user = request.getfixturevalue("as_admin") if admin else services.demo_user()
    services.runtime().store.set_user_language(user.email, "en")  # the saved choice
    invoice_no = _prepare(store)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    problems = {}
    for page in _pages(admin):
        _render(at, page, invoice_no)
        problems[page] = foreign(at, "tr")
    assert all(not p for p in problems.values()), problems


def test_the_check_finds_a_foreign_text(demo):  # noqa: F811
    """The page check can fail: an English label on a Turkish page is found."""
    at = AppTest.from_string(
        'import streamlit as st\nst.button("Sync now")\nst.title("Genel bakış")'
    )
    at.run()
    assert foreign(at, "en") == ["'Sync now' in 'Sync now'"]
    assert foreign(at, "tr") == ["'Genel bakış' in 'Genel bakış'"]


def test_the_switch_saves_the_choice_and_a_link_wins(demo, store):  # noqa: F811
    from paynet_core.auth import demo_user

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert at.title[0].value == "Genel bakış"  # no choice, no browser: Turkish
    at.radio(key="lang_switch").set_value("en").run()
    assert at.title[0].value == "Overview"
    assert store.user_language(demo_user().email) == "en"
    again = AppTest.from_file(APP, default_timeout=60)  # a reload: a new session
    again.run()
    assert again.title[0].value == "Overview"
    linked = AppTest.from_file(APP, default_timeout=60)
    linked.query_params["lang"] = "tr"  # a shared link says Turkish
    linked.run()
    assert linked.title[0].value == "Genel bakış"
    assert linked.radio(key="lang_switch").value == "tr"


def test_core_messages_follow_the_page_language(demo, store):  # noqa: F811
    """A money error raised by the core speaks the page's language."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    open_page(at, "views/bulk_status.py")
    at.text_input(key="bs_min").input("12,345").run()
    errors = [e.value for e in at.error]
    assert any("en az tutar" in e and "belirsiz" in e for e in errors), errors  # field and reason


def test_table_counts_are_grouped_like_the_cards_and_stay_numbers():
    import pandas as pd

    from dashboard.components import grouped_counts

    frame = pd.DataFrame({"job_id": ["a", "b"], "total": [4702, 135449], "seq": [1200, 7]})
    styled = grouped_counts(frame)
    html = styled.to_html()
    assert "4.702" in html and "135.449" in html and "1200" in html  # ids and sequence stay as is
    assert styled.data["total"].dtype.kind == "i"  # still sorts as numbers
    long = grouped_counts(pd.concat([frame] * 3000, ignore_index=True))
    assert list(long["total"][:2]) == ["4.702", "135.449"]
