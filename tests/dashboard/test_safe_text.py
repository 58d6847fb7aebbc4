"""Issue 12, "Markdown from outside is rendered": text from outside shows as typed.

Provider messages, the sync banner, uploaded file names and headers, a job's source and the
Charts filters from a shared link went into st.error/st.warning/st.markdown as Markdown. Each
test feeds hostile text in and checks the element's Markdown source renders no link, image,
HTML or Streamlit directive (parsed with markdown-it, CommonMark + GFM tables/strikethrough),
and carries no bare URL a GFM autolink would turn into a link.
"""

from __future__ import annotations

import re

import pytest
from apptest_helpers import new_app, open_page, texts
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from dashboard.components import literal
from paynet_core.errors import APIError

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_AUTOLINK = re.compile(r"(?<!\\)(?:https?(?<!\\):(?=//)|www\.)", re.IGNORECASE)
HOSTILE = (
    "![p](http://evil.example/p.png)[Session expired: log in again](http://evil.example/login)"
)
MARKUP_TOKENS = {
    "link_open",
    "image",
    "html_inline",
    "html_block",
    "code_inline",
    "em_open",
    "strong_open",
    "s_open",
}


def _tokens(source: str) -> set[str]:
    found: set[str] = set()
    for token in _MD.parse(source):
        found.add(token.type)
        found.update(child.type for child in token.children or [])
    return found


def assert_inert(source: str, ours: frozenset[str] = frozenset({"strong_open"})) -> None:
    """No link, image, HTML, code or emphasis in ``source`` beyond our own bold labels, no
    autolink, no Streamlit directive (``:red[``) or icon (``:material/``)."""
    bad = (_tokens(source) & MARKUP_TOKENS) - ours
    assert not bad, (bad, source)
    assert not _AUTOLINK.search(source), source
    assert not re.search(r"(?<!\\):(?:[a-z]+-?[a-z]*)(?<!\\)\[|(?<!\\):material/", source), source


def _render_text(source: str) -> str:
    """What a reader sees: the text of the rendered inline tokens."""
    out = []
    for token in _MD.parse(source):
        for child in token.children or []:
            out.append("\n" if child.type == "softbreak" else child.content)
    return "".join(out)


# -- the helper --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE,
        "<img src=x onerror=alert(1)> <b>bold</b> &amp;",
        "# heading\n> quote\n- item\n1. one\n***\n| a | b |\n|---|---|",
        "*em* _em_ __strong__ `code` ~~gone~~ $x^2$",
        ":red[alarm] :material/warning: :smile:",
        "see www.evil.example or http://evil.example or mail@evil.example or <http://evil.example>",
        "[ref]: http://evil.example\n[ref]",
    ],
)
def test_literal_leaves_no_markup(text):
    source = literal(text)
    assert_inert(source, ours=frozenset())
    assert _render_text(source).replace("\n", "") == text.replace("\n", "")


def test_literal_keeps_ordinary_text_readable():
    for text in (
        "invoice_no 11400505",
        "12:30",
        "1.234,56 ₺",
        "İSKİ · code 5",
        "Paynet refused invoice_list",
    ):
        assert literal(text) == text
    assert literal(None) == ""


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
        max_size=60,
    )
)
def test_literal_renders_any_line_as_typed(text):
    line = text.strip()
    source = literal(line)
    assert_inert(source, ours=frozenset())
    assert _render_text(source) == line


# -- the pages ---------------------------------------------------------------------------------


def test_provider_error_message_is_shown_literally(app, store, monkeypatch):
    from paynet_core.ops import lookup

    def refuse(*args, **kwargs):
        raise APIError(
            HOSTILE,
            provider="Payofin",
            operation="InvoiceCheck",
            code=-3,
            request_id="[x](http://evil.example)",
        )

    monkeypatch.setattr(lookup, "lookup_payment", refuse)
    at = open_page(app, "views/lookup.py")
    at.text_input(key="lookup_payment").input("42").run()
    assert not at.exception
    banners = texts(at.error)
    assert len(banners) == 1 and "Session expired" in banners[0], banners
    assert_inert(banners[0])


def test_last_sync_failed_banner_is_literal(demo, media):
    from dashboard import services

    services.sync_task().error = HOSTILE
    at = new_app()
    assert not at.exception
    banners = [str(e.value) for e in at.sidebar.error]
    assert banners and "Session expired" in banners[0]
    assert_inert(banners[0])


def test_signed_in_name_from_the_idp_is_literal(demo, media, monkeypatch):
    from dashboard import services
    from paynet_core.auth import Role, User

    monkeypatch.setattr(
        services,
        "demo_user",
        lambda: User(email="x@example.com", name=HOSTILE, role=Role.OPERATOR, demo=True),
    )
    at = new_app()
    shown = [str(e.value) for e in at.sidebar.caption if "Signed in" in str(e.value)]
    assert shown and "Session expired" in shown[0]
    assert_inert(shown[0])


def test_uploaded_file_name_and_header_are_literal(app):
    at = open_page(app, "views/issue.py")
    data = b"abonelik_no;tutar;tarih;[x](http://evil.example/h)\nS1;10,00;15.01.2027;z\n"
    name = "![p](http://evil.example/a.png).csv"
    at.file_uploader(key="batch_invoices_file").upload(name, data, "text/csv").run()
    assert not at.exception
    shown = [m for m in texts(at.markdown) if "rows" in m and "read from" in m]
    assert shown and "evil.example" in shown[0], texts(at.markdown)
    assert_inert(shown[0].split(": :green[")[0])  # the counts after it are ours, in colour
    warnings = [w for w in texts(at.warning) if "ignored columns" in w]
    assert warnings and "evil.example" in warnings[0]
    assert_inert(warnings[0])


def test_unreadable_file_error_names_file_and_headers_literally(app):
    at = open_page(app, "views/issue.py")
    data = b"[x](http://evil.example/h);foo\n1;2\n"
    at.file_uploader(key="batch_invoices_file").upload(
        "![p](http://evil.example/a.png).csv", data, "text/csv"
    ).run()
    assert not at.exception
    errors = [e for e in texts(at.error) if "cannot be used" in e]
    assert errors and "evil.example/h" in errors[0], texts(at.error)
    assert_inert(errors[0])


def test_a_jobs_source_name_is_literal_on_jobs(app, store):
    from dashboard import services
    from paynet_core.jobs import start_job
    from paynet_core.jobs.planner import plan_status_changes
    from paynet_core.paynet import InvoiceStatus

    no = store.find_invoices(status=[0], limit=1).iloc[0]["invoice_no"]
    plan = plan_status_changes([(no, InvoiceStatus.DONE_SUCCEED)], store=store, source_name=HOSTILE)
    job_id = start_job(
        plan,
        runtime=services.runtime(),
        created_by="[me](http://evil.example)",
        source_name=HOSTILE,
    )
    at = open_page(app, "views/jobs.py")
    assert not at.exception
    captions = [c for c in texts(at.caption) if c.startswith("Created by")]
    assert captions and "Session expired" in captions[0], (job_id, texts(at.caption))
    assert_inert(captions[0])


def test_charts_filters_from_a_shared_link_are_literal(app):
    at = open_page(app, "views/charts.py")
    at.query_params["from"] = HOSTILE
    at.run()
    assert not at.exception
    warnings = [w for w in texts(at.warning) if "filters were ignored" in w]
    assert warnings and "Session expired" in warnings[0], texts(at.warning)
    assert_inert(warnings[0])
    assert not texts(at.error)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="[]()!<>*_`~#-+=|:/\\.&@$;{}^ \nahtpw1:", max_size=40))
def test_literal_renders_markdown_soup_as_typed(text):
    lines = [line.strip() for line in text.split("\n")]
    source = literal("\n".join(lines))
    assert_inert(source, ours=frozenset())
    assert _render_text(source).replace("\n", "") == "".join(lines)
