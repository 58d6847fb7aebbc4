"""The core speaks the reader's language: errors carry a message id and parameters, and
``str(err)`` renders in the language current where it is read, not where it was raised."""

import os
import pickle
import subprocess
import sys

import httpx
import pytest

from paynet_core.errors import DuplicateError, InputError, JobError, NotFoundError
from paynet_core.http import Call
from paynet_core.i18n import using_language
from paynet_core.importing import read_rows
from paynet_core.paynet.replies import code_error
from paynet_core.payofin.client import interpret as payofin_interpret

BAD_ROW = b"abonelik_no;tutar;tarih\n100045;abc;15.01.2027\n100046;10,00;32.13.2027\n"
CTX = {"provider": "Paynet", "operation": "create_invoice", "http_status": 200}


def test_an_uploaded_bad_rows_error_reads_in_the_readers_language():
    with using_language("en"):
        result = read_rows(BAD_ROW, "bad.csv", "invoices")  # read in English...
    amount, day = result.errors
    with using_language("tr"):  # ...shown to a Turkish reader
        assert str(amount) == "satır 2, Tutar (TL): 'abc' bir sayı değil (1.234,56 gibi yazın)"
        assert amount.message == "'abc' bir sayı değil (1.234,56 gibi yazın)"
        assert "satır 3, Çekim Tarihi:" in str(day) and "gibi bir tarih" in str(day)
        assert "bir sayı değil" in result.as_dataframe()["errors"][0]
    with using_language("en"):
        assert str(amount) == "row 2, amount: 'abc' is not a number (write it like 1.234,56)"
        assert "row 3, val_date:" in str(day) and "is not a date" in str(day)
    assert pickle.loads(pickle.dumps(amount)) == amount


def test_a_header_problem_and_a_repeated_row_read_in_both_languages():
    with pytest.raises(InputError) as missing:
        read_rows(b"abonelik_no;tarih\n100045;15.01.2027\n", "x.csv", "invoices")
    twice = read_rows(
        "fatura_no;fatura_id;durum\nF1;;5\nF1;;İptal\n".encode(), "s.csv", "statuses"
    ).errors[0]
    with using_language("tr"):
        assert str(missing.value).startswith("başlık: eksik sütun: amount (kabul edilen başlıklar:")
        assert "Bulunan başlıklar: 'abonelik_no', 'tarih'" in str(missing.value)
        assert twice.message.startswith("'F1' zaten 2. satırda var; bir dosyada her faturaya")
    with using_language("en"):
        assert str(missing.value).startswith("header: missing column amount (accepted headers:")
        assert twice.message.startswith("'F1' is already in row 2; each invoice may be given")


def test_a_provider_error_explains_in_both_languages_and_keeps_what_the_provider_said():
    err = code_error(5, "Invoice no FT-1 was used before", {**CTX, "request_id": "req_1"})
    assert isinstance(err, DuplicateError) and err.said == "Invoice no FT-1 was used before"
    with using_language("tr"):
        assert str(err) == (
            "Paynet create_invoice, kod 5, HTTP 200: duplicatedata: mükerrer kayıt; "
            'Paynet yanıtı: "Invoice no FT-1 was used before" (istek req_1)'
        )
    with using_language("en"):
        assert str(err) == (
            "Paynet create_invoice, code 5, HTTP 200: duplicatedata: duplicate record (e.g. a "
            'reused invoice number); Paynet said: "Invoice no FT-1 was used before" '
            "(request req_1)"
        )
    again = pickle.loads(pickle.dumps(err))  # a job's worker hands errors across processes
    with using_language("tr"):
        assert str(again) == str(err) and "mükerrer kayıt" in str(again)


def test_a_payofin_result_code_is_explained_from_the_catalog_beside_its_own_message():
    call = Call("Payofin", "invoicecheck", "/x", None, True)
    reply = httpx.Response(200, json={"resultCode": -19, "resultMessage": "Fatura yok (FY-19)"})
    with pytest.raises(NotFoundError) as info:
        payofin_interpret(call, reply, "req_2")
    with using_language("tr"):
        assert "ödenecek fatura bulunamadı" in str(info.value)
        assert '"Fatura yok (FY-19)"' in str(info.value)
    with using_language("en"):
        assert "bill to pay not found" in str(info.value)
        assert 'Payofin said: "Fatura yok (FY-19)"' in str(info.value)


def test_a_job_conflict_message_follows_the_reader():
    from paynet_core.jobs.control import resume_refusal

    refusal = resume_refusal({"job_id": "J1", "state": "done"})
    err = JobError(refusal)
    with using_language("tr"):
        assert str(err) == "J1 işi tamamlandı; sürdürülemez"
    with using_language("en"):
        assert str(err) == "job J1 is done; it cannot be resumed"


@pytest.mark.parametrize(
    ("lang", "expected", "unexpected"),
    [
        ("tr", ["'abc' bir sayı değil", "1 satır okundu: 0 geçerli, 1 geçersiz"], "rows read"),
        ("en", ["'abc' is not a number", "1 rows read: 0 valid, 1 invalid"], "satır okundu"),
    ],
)
def test_the_cli_speaks_paynet_ops_lang(tmp_path, lang, expected, unexpected):
    bad = tmp_path / "bad.csv"
    bad.write_text("abonelik_no;tutar;tarih\n100045;abc;15.01.2027\n", encoding="utf-8")
    env = {
        **os.environ,
        "PAYNET_OPS_LANG": lang,
        "LANG": "en_US.UTF-8" if lang == "tr" else "tr_TR.UTF-8",  # PAYNET_OPS_LANG wins
        "PAYNET_OPS_DB": str(tmp_path / "cache.db"),
        "PAYNET_SANDBOX_DB": str(tmp_path / "sandbox.db"),
        "COLUMNS": "200",
    }
    run = subprocess.run(
        [sys.executable, "-m", "paynet_core.cli", "invoices", "create", str(bad), "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert all(text in out for text in expected), out
    assert unexpected not in out and "Traceback" not in out


def _file_error(data: bytes, name: str = "f.csv", **limits: int) -> InputError:
    with pytest.raises(InputError) as info:
        read_rows(data, name, "invoices", **limits)
    return info.value


def test_an_empty_or_too_big_upload_reads_in_both_languages():
    empty = _file_error(b"  \n")
    big = _file_error(b"x;" * 1_310_720, "big.csv", max_bytes=1_572_864)  # 2.5 MB over 1.5 MB
    with using_language("tr"):
        assert str(empty) == "dosya: dosya boş; şablonu doldurup yeniden yükleyin"
        assert str(big) == (
            "dosya: dosya 2,5 MB; sınır 1,5 MB (1.572.864 bayt). Dosyayı daha küçük dosyalara bölün"
        )
    with using_language("en"):
        assert str(empty) == "file: the file is empty; fill in the template and upload it again"
        assert str(big) == (
            "file: the file is 2.5 MB; the limit is 1.5 MB (1,572,864 bytes). "
            "Split it into smaller files"
        )
    again = pickle.loads(pickle.dumps(big))  # figures are written when read, after the trip too
    with using_language("tr"):
        assert "(1.572.864 bayt)" in str(again)


@pytest.mark.turkish
def test_an_encoding_error_reads_in_turkish():
    # 0x81 is neither UTF-8 nor a Windows-1254 letter
    err = _file_error(b"abonelik_no;tutar;tarih\n100045;1,00;15.01.2027\n\x81;2,00;15.01.2027\n")
    assert str(err) == (
        "dosya: 3. satırda 0x81 baytı var; bu ne UTF-8 ne de Windows-1254 (Türkçe) metin; "
        "dosyayı Excel'den 'CSV UTF-8' olarak kaydedin"
    )
    with using_language("en"):
        assert "line 3 holds the byte 0x81, which is neither UTF-8 nor Windows-1254" in str(err)


def test_no_reply_and_a_non_json_reply_read_in_both_languages():
    from paynet_core.errors import ContractError, TransportError
    from paynet_core.http.sender import transport_error
    from paynet_core.paynet.replies import interpret as paynet_interpret

    call = Call("Paynet", "create_invoice", "/x", None, False)
    refused = transport_error(httpx.ConnectError("[Errno 111] Connection refused"), call, "req_3")
    dropped = transport_error(httpx.ReadError("peer closed"), call, "req_4")
    assert isinstance(refused, TransportError) and not refused.maybe_applied
    html = httpx.Response(200, text="<html><body>Bad Gateway</body></html>")
    with pytest.raises(ContractError) as broken:
        paynet_interpret(call, html, "req_5")
    with using_language("tr"):
        assert str(refused) == (
            "Paynet create_invoice: yanıt gelmedi (ConnectError: [Errno 111] Connection refused) "
            "(istek req_3)"
        )
        assert str(dropped).endswith(
            "yanıt gelmedi (ReadError: peer closed); istek işlenmiş olabilir (istek req_4)"
        )
        assert str(broken.value) == (
            "Paynet create_invoice, HTTP 200: yanıt bir HTML sayfası (HTTP 200): "
            "<html><body>Bad Gateway</body></html> (istek req_5)"
        )
    with using_language("en"):
        assert str(refused) == (
            "Paynet create_invoice: no reply (ConnectError: [Errno 111] Connection refused) "
            "(request req_3)"
        )
        assert str(dropped).endswith(
            "no reply (ReadError: peer closed); the request may have been processed (request req_4)"
        )
        assert str(broken.value) == (
            "Paynet create_invoice, HTTP 200: reply is an HTML page (HTTP 200): "
            "<html><body>Bad Gateway</body></html> (request req_5)"
        )
    again = pickle.loads(pickle.dumps(refused))  # a worker hands it across processes
    with using_language("tr"):
        assert "yanıt gelmedi (ConnectError" in str(again)


def test_a_plain_non_json_reply_and_a_server_error_page_read_in_turkish():
    from paynet_core.errors import ContractError, ServerError
    from paynet_core.paynet.replies import interpret as paynet_interpret

    call = Call("Paynet", "list_invoices", "/x", None, True)
    with pytest.raises(ContractError) as plain:
        paynet_interpret(call, httpx.Response(200, text="OK"), "req_6")
    with pytest.raises(ServerError) as page:  # raised in English, read in Turkish
        paynet_interpret(call, httpx.Response(502, text="upstream down"), "req_7")
    with using_language("tr"):
        assert "HTTP 200: yanıt JSON değil (HTTP 200): OK (istek req_6)" in str(plain.value)
        assert "yanıt JSON değil (HTTP 502): upstream down" in str(page.value)
    with using_language("en"):
        assert "HTTP 200: reply is not JSON (HTTP 200): OK (request req_6)" in str(plain.value)
        assert "reply is not JSON (HTTP 502): upstream down" in str(page.value)


def test_a_too_large_reply_names_its_cap_in_the_readers_language():
    from paynet_core.errors import ReplyTooLargeError
    from paynet_core.http.replies import Body

    call = Call("Payofin", "invoicelist", "/x", None, True)
    reply = httpx.Response(200, headers={"Content-Length": "5000000"})
    with pytest.raises(ReplyTooLargeError) as info:
        Body(reply, 2 * 1024 * 1024, call, "req_8")
    with using_language("tr"):
        assert "yanıtın gövdesi bu istemcinin okuduğu 2 MiB sınırından büyük" in str(info.value)
        assert "(Content-Length 5.000.000 diyor)" in str(info.value)
    with using_language("en"):
        assert (
            "reply body is larger than the 2 MiB this client reads "
            "(says Content-Length 5,000,000); reading stopped there"
        ) in str(info.value)


def test_a_broken_payofin_payment_item_is_explained_in_the_readers_language():
    from paynet_core.errors import ContractError
    from paynet_core.payofin.client import _payment

    call = Call("Payofin", "invoicecheck", "/x", None, True)
    with pytest.raises(ContractError) as info:
        _payment({"status": "Paid", "invoicePaymentId": "7"}, call)
    with using_language("tr"):
        assert "HTTP 200: 'invoicePaymentId' alanı: '7' bir tam sayı değil" in str(info.value)
    with using_language("en"):
        assert "HTTP 200: field 'invoicePaymentId': '7' is not an integer" in str(info.value)
