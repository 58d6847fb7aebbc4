"""Endpoints and the network: settings give base URLs, the runtime alone builds transports."""

import os
import subprocess
import sys
from datetime import date

import httpcore
import pytest
from typer.testing import CliRunner

from paynet_core.cli import app
from paynet_core.config import load_settings
from paynet_core.errors import ConfigError
from paynet_core.paynet import InvoiceStatus, PaynetClient
from paynet_core.payofin import PayofinClient
from paynet_core.runtime import open_runtime, proxy_for
from paynet_core.sandbox import Sandbox, serve


@pytest.mark.parametrize(
    ("raw", "effective"),
    [
        ("https://proxy.example.com", "https://proxy.example.com"),
        ("https://proxy.example.com/paynet/", "https://proxy.example.com/paynet"),
        ("https://proxy.example.com:8443", "https://proxy.example.com:8443"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:8765/", "http://localhost:8765"),
        ("http://[::1]:8765", "http://[::1]:8765"),
        ("http://127.5.0.1", "http://127.5.0.1"),
    ],
)
def test_base_urls_that_are_accepted(raw, effective):
    s = load_settings(
        env={
            "PAYNET_OPS_MODE": "test",
            "PAYNET_SECRET_KEY": "sck_real_1234abcd",
            "PAYNET_BASE_URL": raw,
        },
        secrets_file=None,
    )
    assert s.paynet_url == effective


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("http://proxy.example.com", "http:// on proxy.example.com"),
        ("http://10.0.0.5:8080", "http:// on 10.0.0.5"),
        ("ftp://proxy.example.com", "must start with https://"),
        ("proxy.example.com", "must start with https://"),
        ("https://", "must start with https://"),
        ("https://host:port", "not a valid URL"),
        ("https://user:pw@proxy.example.com", "must not carry a user or password"),
        ("https://proxy.example.com/?a=1", "must not have a query"),
        ("data/paynet.db", "must start with https://"),
    ],
)
def test_base_urls_that_cannot_be_right_fail_at_start(raw, says):
    with pytest.raises(ConfigError, match="PAYOFIN_BASE_URL") as exc:
        load_settings(env={"PAYOFIN_BASE_URL": raw}, secrets_file=None)
    assert says in str(exc.value)
    assert "pw" not in str(exc.value) or "password" in str(exc.value)


def test_base_url_from_the_secrets_file(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text(
        'PAYNET_BASE_URL = "https://egress.internal.example"\nPAYNET_OPS_MODE = "test"\nPAYNET_SECRET_KEY = "sck_k_99998888"\n'
    )
    assert load_settings(env={}, secrets_file=f).paynet_url == "https://egress.internal.example"


def test_without_base_urls_each_mode_has_its_provider_hosts():
    test = load_settings(env={"PAYNET_SECRET_KEY": "sck_k_99998888"}, secrets_file=None)
    assert (test.paynet_url, test.payofin_url) == (
        "https://pts-api.paynet.com.tr",
        "https://api-test.payofin.com",
    )
    assert load_settings(env={}, secrets_file=None).sandbox_in_process


# -- one place builds the network ---------------------------------------------------------


@pytest.fixture
def served(tmp_path):
    """A sandbox served on loopback, in a file of its own (not the settings' sandbox file)."""
    sandbox = Sandbox(tmp_path / "served.db", record_requests=True)
    from paynet_core.sandbox import seed_demo

    seed_demo(sandbox)
    with serve(sandbox, port=0) as server:
        yield sandbox, server.base_url


def _sent(sandbox) -> list[str]:
    return [r.operation for r in sandbox.received()]


def test_every_client_the_runtime_builds_goes_to_the_configured_endpoint(
    served, monkeypatch, tmp_path
):
    sandbox, url = served
    monkeypatch.setenv("PAYNET_BASE_URL", url)
    rt = open_runtime()
    assert not rt.settings.sandbox_in_process
    with rt.paynet() as paynet:
        paynet.list_subscriptions(date(2025, 1, 1), date(2026, 12, 31))
    with rt.payofin() as payofin:
        payofin.list_payments(date(2026, 11, 1), date(2026, 11, 10))
    assert set(_sent(sandbox)) == {"list", "invoicelist"}  # Paynet subscriptions, Payofin payments
    assert not (tmp_path / "sandbox.db").exists()  # the in-process sandbox was never opened


def test_sync_and_a_bulk_job_in_a_thread_use_the_served_sandbox(served, monkeypatch, tmp_path):
    from paynet_core.importing import read_status_rows
    from paynet_core.jobs import run_job_in_background, start_job
    from paynet_core.jobs.planner import plan_status_changes
    from paynet_core.ops.sync import sync_all

    sandbox, url = served
    monkeypatch.setenv("PAYNET_BASE_URL", url)
    rt = open_runtime()
    sync_all(rt)
    synced = len(_sent(sandbox))
    assert synced > 0 and rt.store.query("SELECT count(*) AS n FROM invoices")["n"][0] > 0
    waiting = [i.invoice_no for i in sandbox.invoices(status=InvoiceStatus.WAITING)][:3]
    rows = read_status_rows(
        ("invoice_no;status\n" + "".join(f"{n};5\n" for n in waiting)).encode(), "s.csv"
    )
    job_id = start_job(
        plan_status_changes(rows, store=rt.store), runtime=rt, created_by="t@example.com"
    )
    run_job_in_background(job_id, rt).join(timeout=60)
    assert rt.store.job(job_id)["state"] == "done"
    assert [sandbox.get_invoice(n).status for n in waiting] == [InvoiceStatus.CANCEL] * 3
    assert not (tmp_path / "sandbox.db").exists()


def test_a_detached_job_process_gets_the_same_endpoint(served, monkeypatch, tmp_path):
    from paynet_core.jobs import run_job_detached

    rt_env = {"PAYNET_BASE_URL": served[1]}
    monkeypatch.setenv("PAYNET_BASE_URL", rt_env["PAYNET_BASE_URL"])
    rt = open_runtime()
    proc = run_job_detached("no-such-job", rt, log_dir=tmp_path)
    proc.wait(timeout=60)
    log = (tmp_path / "no-such-job.log").read_text()
    assert "no-such-job" in log
    # the child got the endpoint explicitly, whatever file or object the parent's came from
    monkeypatch.delenv("PAYNET_BASE_URL")
    rt2 = open_runtime(load_settings(env={"PAYNET_BASE_URL": served[1]}, secrets_file=None))
    import paynet_core.jobs.background as jobs

    captured = {}
    monkeypatch.setattr(jobs.subprocess, "Popen", lambda *a, **kw: captured.update(kw) or None)
    jobs.run_job_detached("j", rt2, log_dir=tmp_path)
    assert captured["env"]["PAYNET_BASE_URL"] == served[1]


def test_one_settings_object_gives_one_sandbox_everywhere(tmp_path):
    from paynet_core.jobs import paynet_clients

    settings = load_settings(
        env={"PAYNET_OPS_SANDBOX_DB": str(tmp_path / "one.db")}, secrets_file=None
    )
    rt = open_runtime(settings)
    factory = paynet_clients(rt)
    client = factory(lambda transport: transport)
    assert client._http._transport.sandbox is rt.sandbox
    assert rt.transport(settings.payofin_url).sandbox is rt.sandbox
    assert rt.sandbox.path == str((tmp_path / "one.db").resolve())


def test_clients_never_reach_for_the_sandbox_themselves():
    with pytest.raises(ConfigError, match="needs the sandbox"):
        PaynetClient(environment="sandbox")
    with pytest.raises(ConfigError, match="needs the sandbox"):
        PayofinClient(environment="sandbox")
    code = "import sys, paynet_core.paynet, paynet_core.payofin; print('paynet_core.sandbox' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_proxy_from_the_environment_is_used_by_every_transport(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert proxy_for("https://api.paynet.com.tr") == "http://proxy.corp.example:3128"
    assert proxy_for("https://pay.internal.example") is None
    assert proxy_for("http://127.0.0.1:8765") is None  # loopback never goes through a proxy
    rt = open_runtime(load_settings(env={"PAYNET_SECRET_KEY": "sck_k_99998888"}, secrets_file=None))
    assert isinstance(rt.transport(rt.settings.paynet_url)._pool, httpcore.HTTPProxy)
    assert isinstance(rt.async_transport(rt.settings.paynet_url)._pool, httpcore.AsyncHTTPProxy)
    from paynet_core.jobs import paynet_clients

    bulk = paynet_clients(rt)(lambda transport: transport)
    assert isinstance(bulk._http._transport._pool, httpcore.AsyncHTTPProxy)


# -- settings that cannot be right ----------------------------------------------------------


@pytest.mark.parametrize("key", ["sck_sandbox_local", "sck_...", "sck_example_key_1234"])
def test_live_mode_refuses_a_placeholder_key(key):
    with pytest.raises(ConfigError, match="placeholder or a sandbox key"):
        load_settings(env={"PAYNET_OPS_MODE": "live", "PAYNET_SECRET_KEY": key}, secrets_file=None)


def test_sandbox_mode_ignores_live_keys_with_a_warning():
    s = load_settings(
        env={
            "PAYNET_OPS_MODE": "sandbox",
            "PAYNET_SECRET_KEY": "sck_live_0000abcd",
            "PAYOFIN_API_KEY": "k",
        },
        secrets_file=None,
    )
    assert s.paynet_secret_key is None and s.payofin_api_key is None
    assert "ignores PAYNET_SECRET_KEY, PAYOFIN_API_KEY" in s.warnings[0]


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "0", "-3", "ten"])
def test_a_rate_that_cannot_be_right_fails_at_start(raw):
    with pytest.raises(ConfigError, match="PAYNET_OPS_RATE_LIMIT"):
        load_settings(env={"PAYNET_OPS_RATE_LIMIT": raw}, secrets_file=None)


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        # The cache may live in PostgreSQL (tests/store/test_postgres_backend.py); the sandbox not.
        ("PAYNET_OPS_SANDBOX_DB", "postgresql://u@db/paynet", "only the cache"),
        ("PAYNET_OPS_DB", "sqlite:///data/x.db", "not a sqlite:// URL"),
        ("PAYNET_OPS_DB", "mysql://u@db/paynet", "not a mysql:// URL"),
    ],
)
def test_a_database_url_where_a_path_is_expected_fails_at_start(name, raw, says, tmp_path):
    with pytest.raises(ConfigError, match=says):
        load_settings(env={name: raw}, secrets_file=None)
    assert not any(p.name.startswith(("postgresql", "sqlite")) for p in tmp_path.iterdir())


def test_the_cli_reports_a_bad_setting_in_one_line_without_a_traceback(tmp_path):
    env = {**os.environ, "PAYNET_OPS_RATE_LIMIT": "inf"}
    out = subprocess.run(
        [sys.executable, "-m", "paynet_core.cli", "jobs", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("configuration error: PAYNET_OPS_RATE_LIMIT='inf'")
    assert "Traceback" not in out.stderr


def test_settings_command_shows_endpoints_and_mode_never_a_key(monkeypatch):
    monkeypatch.setenv("PAYNET_OPS_MODE", "test")
    monkeypatch.setenv("PAYNET_SECRET_KEY", "sck_secretvalue_777x")
    monkeypatch.setenv("PAYNET_BASE_URL", "https://egress.example.com/paynet")
    result = CliRunner().invoke(app, ["settings"])
    assert result.exit_code == 0, result.output
    assert "https://egress.example.com/paynet" in result.output
    assert "https://api-test.payofin.com" in result.output
    assert "test" in result.output and "set" in result.output
    assert "secretvalue" not in result.output and "777x" not in result.output


# -- sync from the CLI is audited like the dashboard's ------------------------------------


def test_cli_sync_writes_the_same_audit_row_as_the_dashboard(monkeypatch):
    import getpass

    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code == 0, result.output
    rows = open_runtime().store.audit_rows()
    synced = rows[rows["action"] == "sync.run"]
    assert len(synced) == 1
    assert synced.iloc[0]["actor"] == f"cli:{getpass.getuser()}"
    assert synced.iloc[0]["target_type"] == "cache"


def test_the_public_api_imports_in_a_fresh_interpreter():
    code = (
        "from paynet_core import PaynetClient, AsyncPaynetClient, PayofinClient, InvoiceStatus, "
        "NotFoundError, ProviderError, PaynetOpsError, parse_amount, format_amount, open_cache\n"
        "import paynet_core\n"
        "assert all(hasattr(paynet_core, n) for n in paynet_core.__all__)\n"
        "print(format_amount(parse_amount('1.234,56')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1.234,56 ₺"
