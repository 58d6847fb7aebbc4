import pytest

from paynet_core.outcomes import Outcome
from paynet_core.paynet.models import InvoiceStatus

S = InvoiceStatus


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, S.CANCEL),
        ("5", S.CANCEL),
        (" 5 ", S.CANCEL),
        (5.0, S.CANCEL),
        ("Cancel", S.CANCEL),
        ("İptal", S.CANCEL),
        ("iptal", S.CANCEL),
        ("IPTAL", S.CANCEL),
        ("ıptal", S.CANCEL),
        ("Cancelled", S.CANCEL),
        ("Done succeed", S.DONE_SUCCEED),
        ("done  SUCCEED", S.DONE_SUCCEED),
        ("DONE_SUCCEED", S.DONE_SUCCEED),
        ("Başarılı", S.DONE_SUCCEED),
        ("BAŞARILI", S.DONE_SUCCEED),
        ("basarili", S.DONE_SUCCEED),
        ("Done unsucceed", S.DONE_UNSUCCEED),
        ("Başarısız", S.DONE_UNSUCCEED),
        (0, S.WAITING),
        ("Bekliyor", S.WAITING),
        ("External charged", S.EXTERNAL_CHARGED),
        ("Harici tahsil edildi", S.EXTERNAL_CHARGED),
        ("Deleted", S.DELETED),
        ("Silindi", S.DELETED),
        (S.DELETED, S.DELETED),
    ],
)
def test_parse_reads_codes_and_labels_in_both_languages(value, expected):
    assert S.parse(value) is expected


@pytest.mark.parametrize(
    "value", [1, "1", "7", 7, -1, 5.5, "foo", "", None, True, False, "1e1", [5]]
)
def test_parse_refuses(value):
    with pytest.raises(ValueError) as info:
        S.parse(value)
    assert "not an invoice status" in str(info.value)


def test_refusal_lists_the_choices():
    with pytest.raises(ValueError) as info:
        S.parse("7")
    assert "5 Cancel" in str(info.value) and "0 Waiting" in str(info.value)


@pytest.mark.parametrize("value", ["²", "٥"])
def test_parse_refuses_non_ascii_digits(value):
    with pytest.raises(ValueError):
        S.parse(value)


def test_labels_outcomes_and_destructive_flags():
    assert [s.value for s in S] == [0, 2, 3, 4, 5, 6]
    assert S.CANCEL.label == "Cancel" and S.CANCEL.label_tr == "İptal"
    assert S.DONE_SUCCEED.outcome is Outcome.PAID
    assert S.EXTERNAL_CHARGED.outcome is Outcome.PAID
    assert S.DONE_UNSUCCEED.outcome is Outcome.FAILED
    assert S.WAITING.outcome is Outcome.OPEN
    assert {s for s in S if s.is_destructive} == {S.CANCEL, S.DELETED}


@pytest.mark.parametrize("status", list(S))
def test_every_label_parses_back(status):
    assert S.parse(status.label) is status
    assert S.parse(status.label_tr) is status
    assert S.parse(str(status.value)) is status
