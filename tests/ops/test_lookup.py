"""Looking one invoice up by invoice_no reads only its subscription's pages, up to the page that
has it (counted from the sandbox's own call log)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from paynet_core.auth import Role, User
from paynet_core.errors import NotFoundError
from paynet_core.ops import lookup
from paynet_core.ops.sync import sync_paynet
from paynet_core.paynet import PaynetClient
from paynet_core.paynet.calls import PAGE_SIZE
from paynet_core.sandbox import Sandbox, SandboxTransport
from paynet_core.store import Store

OPERATOR = User(email="op@example.com", name="Op", role=Role.OPERATOR)


@pytest.fixture
def world(tmp_path):
    sandbox = Sandbox()
    subs = [sandbox.add_subscription(amount=1000).subscription_id for _ in range(3)]
    nos: dict[str, list[str]] = {}
    for sub in subs:  # 2½ pages each
        nos[sub] = [
            sandbox.add_invoice(subscription_id=sub, amount=100 + i).invoice_no
            for i in range(PAGE_SIZE * 5 // 2)
        ]
    store = Store.open(tmp_path / "cache.db")
    with PaynetClient(transport=SandboxTransport(sandbox)) as client:
        sync_paynet(store, client)
    runtime = SimpleNamespace(
        store=store, paynet=lambda: PaynetClient(transport=SandboxTransport(sandbox))
    )
    yield sandbox, runtime, nos
    store.close()
    sandbox.close()


def listed_since(sandbox, before: int) -> list[dict]:
    return [body for op, body in sandbox.calls[before:] if op == "invoice_list"]


@pytest.mark.parametrize("page", [0, 1, 2])
def test_a_lookup_reads_its_subscription_up_to_the_page_with_the_invoice(world, page):
    sandbox, runtime, nos = world
    sub = list(nos)[1]
    no = nos[sub][page * PAGE_SIZE + 7]
    before = len(sandbox.calls)
    found = lookup.refresh_invoice(runtime, invoice_no=no, user=OPERATOR)
    assert found["invoice_no"] == no and found["subscription_id"] == sub
    pages = listed_since(sandbox, before)
    assert len(sandbox.calls) - before == page + 1 == len(pages)
    assert {p["subscription_id"] for p in pages} == {sub}


def test_an_invoice_the_cache_does_not_know_sends_nothing(world):
    sandbox, runtime, _ = world
    before = len(sandbox.calls)
    with pytest.raises(NotFoundError, match="not in the cache"):
        lookup.refresh_invoice(runtime, invoice_no="NOSUCH-1", user=OPERATOR)
    assert len(sandbox.calls) == before
