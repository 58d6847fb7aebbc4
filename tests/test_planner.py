from datetime import datetime

import pytest

from paynet_core.dates import ISTANBUL
from paynet_core.importing import read_invoice_rows, read_status_rows
from paynet_core.jobs.planner import (
    CREATE,
    SET_STATUS,
    SET_STATUS_ALL,
    plan_invoices,
    plan_status_changes,
)
from paynet_core.paynet.models import Invoice, InvoiceStatus, Subscription
from paynet_core.store import Store

WAITING, CANCEL, DONE, FAILED = 0, 5, 3, 4


@pytest.fixture
def store(cache_target):
    with Store.open(cache_target) as s:
        yield s


def cache(
    store,
    sub: str,
    invoices: dict[str, int],
    *,
    known_subscription: bool = True,
    amount: int = 1000,
):
    """Put a subscription and its invoices (invoice_no → status) in the cache."""
    if known_subscription:
        store.upsert_subscriptions([Subscription(subscription_id=sub, reference_no=f"R{sub}")])
    store.upsert_invoices(
        [
            Invoice(
                invoice_no=no,
                invoice_id=f"9{no}",
                subscription_id=sub,
                amount=amount,
                status=status,
                val_date=datetime(2027, 1, 15, 10, tzinfo=ISTANBUL),
            )
            for no, status in invoices.items()
        ]
    )


def statuses_csv(rows: list[tuple[str, object]]) -> bytes:
    return ("fatura_no;durum\n" + "".join(f"{no};{status}\n" for no, status in rows)).encode()


# -- collapsing ----------------------------------------------------------------------------------


def test_every_open_invoice_of_a_subscription_collapses_into_one_call(store):
    cache(store, "S1", {"A1": WAITING, "A2": WAITING, "A3": WAITING, "A4": DONE})
    plan = plan_status_changes([("A1", CANCEL), ("A2", CANCEL), ("A3", "İptal")], store=store)
    assert [c.operation for c in plan.calls] == [SET_STATUS_ALL]
    call = plan.calls[0]
    assert call.target_key == "S1"
    assert call.invoice_nos == ("A1", "A2", "A3")
    assert call.rows == (1, 2, 3)
    assert call.payload["status"] == CANCEL
    assert plan.invoice_count == 3 and plan.call_count == 1
    assert plan.total_amount_kurus == 3000


def test_a_missing_open_invoice_keeps_one_call_per_invoice(store):
    cache(store, "S1", {"A1": WAITING, "A2": WAITING, "A3": WAITING})
    plan = plan_status_changes([("A1", CANCEL), ("A2", CANCEL)], store=store)
    assert [c.operation for c in plan.calls] == [SET_STATUS, SET_STATUS]


def test_different_target_statuses_in_one_subscription_do_not_collapse(store):
    cache(store, "S1", {"A1": WAITING, "A2": WAITING, "A3": WAITING})
    plan = plan_status_changes([("A1", CANCEL), ("A2", CANCEL), ("A3", DONE)], store=store)
    assert {c.operation for c in plan.calls} == {SET_STATUS}
    assert plan.call_count == 3


def test_an_unknown_subscription_does_not_collapse(store):
    cache(store, "S1", {"A1": WAITING, "A2": WAITING}, known_subscription=False)
    plan = plan_status_changes([("A1", CANCEL), ("A2", CANCEL)], store=store)
    assert plan.call_count == 2 and not plan.collapsed


def test_another_invoice_the_sweep_could_reach_prevents_collapsing(store):
    # Done unsucceed (4) may still be cancelled: update_all would sweep it along.
    cache(store, "S1", {"A1": WAITING, "A2": WAITING, "A3": FAILED})
    plan = plan_status_changes([("A1", CANCEL), ("A2", CANCEL)], store=store)
    assert plan.call_count == 2 and not plan.collapsed


def test_settled_or_already_target_invoices_do_not_prevent_collapsing(store):
    cache(store, "S1", {"A1": WAITING, "A2": WAITING, "A3": DONE, "A4": CANCEL, "A5": 6, "A6": 2})
    plan = plan_status_changes([("A1", CANCEL), ("A2", CANCEL)], store=store)
    assert [c.operation for c in plan.calls] == [SET_STATUS_ALL]


def test_a_single_open_invoice_stays_a_single_call(store):
    cache(store, "S1", {"A1": WAITING})
    plan = plan_status_changes([("A1", CANCEL)], store=store)
    assert [c.operation for c in plan.calls] == [SET_STATUS]


def test_a_row_for_an_invoice_that_is_not_open_prevents_collapsing(store):
    cache(store, "S1", {"A1": WAITING, "A2": WAITING, "A3": FAILED})
    plan = plan_status_changes([("A1", CANCEL), ("A2", CANCEL), ("A3", CANCEL)], store=store)
    assert plan.call_count == 3 and not plan.collapsed


def test_collapsing_is_per_subscription(store):
    cache(store, "S1", {"A1": WAITING, "A2": WAITING})
    cache(store, "S2", {"B1": WAITING, "B2": WAITING, "B3": WAITING})
    plan = plan_status_changes(
        [("A1", CANCEL), ("B1", CANCEL), ("A2", CANCEL), ("B2", CANCEL)], store=store
    )
    ops = {c.target_key: c.operation for c in plan.calls}
    assert ops == {"S1": SET_STATUS_ALL, "B1": SET_STATUS, "B2": SET_STATUS}


# -- status plans --------------------------------------------------------------------------------


def test_status_plan_counts_rows_calls_invoices_and_cached_amounts(store):
    cache(store, "S1", {"A1": WAITING, "A2": DONE}, amount=2500)
    data = statuses_csv([("A1", "5"), ("A2", "Cancel"), ("X9", "5"), ("A1", "3"), ("", "5")])
    plan = plan_status_changes(read_status_rows(data, "s.csv"), store=store)
    assert plan.total_rows == 5
    assert plan.valid_count == 3  # A1, A2 and the uncached X9
    assert plan.invalid_rows == [5, 6]  # the repeated A1 and the empty number (header is row 1)
    assert plan.call_count == 3 and plan.invoice_count == 3
    assert plan.total_amount_kurus == 5000
    assert plan.unknown_amounts == 1
    assert any("not in the cache" in w for w in plan.warnings)
    assert {r["row"] for r in plan.invalid_records} == {5, 6}
    assert all(r["error"] for r in plan.invalid_records)
    single = {c.target_key: c.payload for c in plan.calls}
    assert single["A1"]["status_before"] == WAITING and single["A1"]["subscription_id"] == "S1"
    assert single["X9"]["status_before"] is None


def test_a_bare_key_the_cache_knows_as_an_invoice_id_is_read_as_one(store):
    cache(store, "S1", {"A1": WAITING})
    plan = plan_status_changes([("9A1", CANCEL)], store=store)
    assert plan.calls[0].payload["invoice_no"] == "A1"
    assert plan.calls[0].payload["invoice_id"] == "9A1"


def test_the_same_invoice_by_number_and_by_id_is_refused_once(store):
    cache(store, "S1", {"A1": WAITING})
    plan = plan_status_changes([("A1", CANCEL), ("9A1", DONE)], store=store)
    assert plan.call_count == 1
    assert [e.row for e in plan.errors] == [2]
    assert "same invoice as row 1" in plan.errors[0].message


def test_bad_status_in_a_pair_is_an_error_not_an_exception(store):
    plan = plan_status_changes([("A1", "sideways"), ("A2", 5)], store=store)
    assert plan.call_count == 1 and [e.row for e in plan.errors] == [1]


# -- invoice plans -------------------------------------------------------------------------------


def invoices_csv(lines: list[str]) -> bytes:
    return ("abonelik_no;fatura_no;tutar;tarih\n" + "\n".join(lines) + "\n").encode()


def test_every_invoice_gets_its_number_at_planning_time(store):
    data = invoices_csv(
        ["S1;;10,50;15.01.2027", "S1;MINE-1;20,00;16.01.2027", "S1;;abc;15.01.2027"]
    )
    plan = plan_invoices(read_invoice_rows(data, "i.csv"), store=store)
    assert [c.operation for c in plan.calls] == [CREATE, CREATE]
    generated, given = plan.calls
    assert (
        generated.payload["invoice_no"].startswith("PO")
        and len(generated.payload["invoice_no"]) == 18
    )
    assert generated.target_key == generated.payload["invoice_no"]
    assert given.payload["invoice_no"] == "MINE-1"
    assert plan.total_amount_kurus == 3050
    assert plan.invalid_rows == [4]
    assert plan.valid_count == 2 and plan.invoice_count == 2
    assert datetime.fromisoformat(generated.payload["val_date"]).year == 2027
    # planning twice gives new numbers: nothing is reused by accident
    again = plan_invoices(read_invoice_rows(data, "i.csv"), store=store)
    assert again.calls[0].payload["invoice_no"] != generated.payload["invoice_no"]


def test_an_invoice_number_already_in_the_cache_is_refused(store):
    cache(store, "S1", {"TAKEN": WAITING})
    plan = plan_invoices(
        read_invoice_rows(invoices_csv(["S1;TAKEN;10,00;15.01.2027"]), "i.csv"), store=store
    )
    assert not plan.calls
    assert plan.errors[0].field == "invoice_no" and "already exists" in plan.errors[0].message


def test_a_row_like_a_cached_invoice_warns_of_a_second_upload(store):
    cache(store, "S1", {"OLD": WAITING}, amount=1000)
    plan = plan_invoices(
        read_invoice_rows(invoices_csv(["S1;;10,00;15.01.2027"]), "i.csv"), store=store
    )
    assert plan.call_count == 1
    assert any("OLD" in w and "uploaded before" in w for w in plan.warnings)


def test_describe_reads_well():
    plan = plan_status_changes([], store=None)  # type: ignore[arg-type]
    assert plan.describe()[0].startswith("0 rows read")


def test_plan_needs_the_right_kind_of_file(store):
    with pytest.raises(ValueError):
        plan_invoices(read_status_rows(statuses_csv([("A1", 5)]), "s.csv"), store=store)
    with pytest.raises(ValueError):
        plan_status_changes(
            read_invoice_rows(invoices_csv(["S1;;10,00;15.01.2027"]), "i.csv"), store=store
        )


def test_invoice_statuses_stay_codes_in_payloads(store):
    cache(store, "S1", {"A1": WAITING})
    plan = plan_status_changes([("A1", InvoiceStatus.CANCEL)], store=store)
    assert plan.calls[0].payload["status"] == 5 and type(plan.calls[0].payload["status"]) is int
