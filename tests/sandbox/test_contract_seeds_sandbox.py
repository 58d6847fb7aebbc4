import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.paynet.models import InvoiceStatus
from paynet_core.sandbox import PAYNET_BASE_URL, PAYOFIN_BASE_URL, SandboxTransport

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=ISTANBUL)


@pytest.fixture
def clock():
    return lambda: NOW


def load(name: str):
    return json.loads((SEEDS / name).read_text(encoding="utf-8"), parse_float=Decimal)


@pytest.fixture
def paynet(sandbox):
    with httpx.Client(
        transport=SandboxTransport(sandbox),
        base_url=PAYNET_BASE_URL,
        headers={"Authorization": "Basic sck_pcs_jECRyoZq0khnsV9elaF/SIBVvxQI+bIW"},
    ) as client:
        yield client


@pytest.fixture
def payofin(sandbox):
    with httpx.Client(
        transport=SandboxTransport(sandbox),
        base_url=PAYOFIN_BASE_URL,
        headers={"ApiKey": "1f6b0c2e-api", "SecretKey": "9d3e5a7b-secret"},
    ) as client:
        yield client


def post_seed(client: httpx.Client, path: str, name: str) -> httpx.Response:
    body = (SEEDS / f"{name}.request.json").read_bytes()
    return client.post(
        path, content=body, headers={"Content-Type": "application/json; charset=UTF-8"}
    )


def test_create_invoice_seed(sandbox, paynet):
    sandbox.add_subscription(reference_no="90000600")
    response = post_seed(paynet, "/v1/subscription/create_invoice", "create_invoice")
    assert response.status_code == 200
    assert response.json(parse_float=Decimal) == load("create_invoice.response.json")
    invoice = sandbox.get_invoice("11400556")
    assert (invoice.amount, invoice.agent_amount, invoice.company_amount) == (28898, 2926, 25972)
    assert invoice.val_date == datetime(2017, 10, 3, 10, 32, 24, tzinfo=ISTANBUL)
    assert invoice.status is InvoiceStatus.WAITING


def test_invoice_status_update_seed(sandbox, paynet):
    sandbox.add_subscription(reference_no="90000573")
    sandbox.add_invoice(reference_no="90000573", invoice_no="11400505", amount=10_000)
    response = post_seed(paynet, "/v1/subscription/invoice_status_update", "invoice_status_update")
    assert response.status_code == 200
    assert response.json() == load("invoice_status_update.response.json")
    assert sandbox.get_invoice("11400505").status is InvoiceStatus.DONE_UNSUCCEED


def test_invoice_amount_update_seed(sandbox, paynet):
    sandbox.add_subscription(reference_no="90000573")
    sandbox.add_invoice(reference_no="90000573", invoice_no="11400505", amount=10_000)
    response = post_seed(paynet, "/v1/subscription/invoice_amount_update", "invoice_amount_update")
    assert response.status_code == 200
    assert response.json() == load("invoice_amount_update.response.json")
    assert sandbox.get_invoice("11400505").amount == 10220


def test_subscription_list_seed_envelope(paynet):
    # The documented reply shows only the envelope; ours adds the page fields around it.
    response = post_seed(paynet, "/v1/subscription/list", "list")
    assert response.status_code == 200
    body = response.json()
    assert body.items() >= load("list.response.json").items()
    assert body["data"] == [] and body["total"] == 0


def test_invoicecheck_seed(sandbox, payofin):
    sandbox.add_payment(
        invoice_payment_id=1786,
        soot_code=1,
        subscriber_no="01345677000",
        customer_name="DE*** ÖZ****",
        invoice_no="0000000",
        exp_date=date(2022, 5, 10),
        invoice_amount=100,
        profit=50,
        payment_date=date(2022, 5, 10),
    )
    response = post_seed(payofin, "/invoices/invoicecheck", "invoicecheck")
    assert response.status_code == 200
    assert response.json(parse_float=Decimal) == load("invoicecheck.response.json")
    # Amounts are written with two decimals, as in the sample, not as 1.0 or 0.5.
    assert b'"invoiceAmount":1.00' in response.content
    assert b'"profit":0.50' in response.content
