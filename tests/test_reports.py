"""Real report files in Amazon's formats, and every way a file goes wrong in practice."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from conftest import ASSETS, SAMPLES, WINDOW

from incident.amazon.reports import ALL_ORDERS, LEGACY, UNSHIPPED, read_report
from incident.sandbox.scenario import LEGACY_COLUMNS, write_report

SMALL_ALL = ASSETS / "all-orders-small.txt"
SMALL_UNSHIPPED = ASSETS / "unshipped-small.txt"


def edit_columns(source: Path, target: Path, drop=(), add=None, encoding="utf-8", newline="\n"):
    """Copy a report, dropping columns by name and adding extra ones."""
    lines = source.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    keep = [i for i, name in enumerate(header) if name not in drop]
    out = []
    for number, line in enumerate(lines):
        cells = line.split("\t")
        row = [cells[i] for i in keep]
        if add:
            row += list(add) if number == 0 else ["extra"] * len(add)
        out.append("\t".join(row))
    target.write_bytes((newline.join(out) + newline).encode(encoding))
    return target


def test_recognises_each_report_by_its_header():
    assert read_report(SMALL_ALL).kind == ALL_ORDERS
    assert read_report(SMALL_UNSHIPPED).kind == UNSHIPPED
    assert read_report(SAMPLES / "jp" / "all-orders.txt").kind == ALL_ORDERS


def test_legacy_report_with_prices_and_promotion_id(tmp_path):
    path = tmp_path / "legacy.txt"
    write_report(path, LEGACY_COLUMNS, [{
        "order-id": "111-0000001-0000001", "order-item-id": "01234567890123",
        "purchase-date": "2026-11-20T22:03:10+00:00", "sku": "SKU-A", "quantity-purchased": "1",
        "currency": "USD", "item-price": "100.00", "item-promotion-discount": "-95.00",
        "item-promotion-id": "SOCIAL20", "buyer-email": "x@marketplace.amazon.com",
        "sales-channel": "Amazon.com"}])
    report = read_report(path)
    assert report.kind == LEGACY
    line = report.lines[0]
    assert line.fields["order_item_id"] == "01234567890123"
    assert str(line.fields["item_price"]) == "100.00"
    assert line.fields["promotion_ids"] == "SOCIAL20"
    assert line.fields["fulfillment_channel"] == "Merchant"


def test_all_orders_without_url_and_cpf_and_with_new_columns(tmp_path):
    variant = edit_columns(SMALL_ALL, tmp_path / "v.txt", drop=("url", "cpf"),
                           add=("buyer-company-name", "is-iba"))
    assert [l.fields for l in read_report(variant).lines] == [l.fields for l in read_report(SMALL_ALL).lines]


def test_unshipped_without_buyer_name(tmp_path):
    variant = edit_columns(SMALL_UNSHIPPED, tmp_path / "u.txt", drop=("buyer-name",))
    lines = read_report(variant).lines
    assert lines[0].fields["order_item_id"] == "01234567890123"
    assert "buyer_name" not in lines[0].fields


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_western_encodings_and_crlf(tmp_path, encoding):
    path = edit_columns(SMALL_UNSHIPPED, tmp_path / "e.txt", encoding=encoding, newline="\r\n")
    report = read_report(path)
    names = {l.fields["buyer_name"] for l in report.lines}
    assert "Sam García" in names and "Renée Dubois" in names
    assert report.encoding == encoding


def test_japanese_cp932_report_is_detected():
    report = read_report(SAMPLES / "jp" / "all-orders.txt", ["JP-HP-BLK"])
    assert report.encoding == "cp932"
    assert any(l.fields["product_name"] == "ソニック ノイズキャンセリング ヘッドホン ブラック" for l in report.lines)


def test_accents_after_the_first_megabyte_are_still_decoded(tmp_path):
    header, first = SMALL_UNSHIPPED.read_text().splitlines()[:2]
    filler = "\n".join([first.replace("Alex Miller", "Plain Name")] * 12000)
    text = header + "\n" + filler + "\n" + first.replace("Alex Miller", "Zoë Brontë") + "\n"
    path = tmp_path / "late.txt"
    path.write_bytes(text.encode("cp1252"))
    assert path.stat().st_size > 1 << 20
    report = read_report(path)
    assert report.encoding == "cp1252"
    assert report.lines[-1].fields["buyer_name"] == "Zoë Brontë"


def test_forced_encoding(tmp_path):
    path = edit_columns(SMALL_UNSHIPPED, tmp_path / "e.txt", encoding="cp1252")
    assert read_report(path, encoding="windows-1252").encoding == "cp1252"


def test_gzip_compressed_report(tmp_path):
    path = tmp_path / "all.txt.gz"
    path.write_bytes(gzip.compress(SMALL_ALL.read_bytes()))
    report = read_report(path)
    assert report.compressed and len(report.lines) == len(read_report(SMALL_ALL).lines)


def test_scope_filter_keeps_only_the_skus_asked_for():
    report = read_report(SMALL_ALL, ["SKU-OTHER"])
    assert report.rows_read == 11 and [l.order_id for l in report.lines] == ["111-0000002-0000002"]


# -- bad input: one clear line naming file, line and column; exit 3; nothing written ----------

def _bad(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _replace_cell(source: Path, order_id: str, column: str, value: str) -> str:
    lines = source.read_text().splitlines()
    header = lines[0].split("\t")
    index = header.index(column)
    for number, line in enumerate(lines):
        if line.startswith(order_id):
            cells = line.split("\t")
            cells[index] = value
            lines[number] = "\t".join(cells)
            return "\n".join(lines) + "\n", number + 1, index + 1
    raise AssertionError(order_id)


def _truncated(tmp_path):
    text = SMALL_UNSHIPPED.read_text()
    cut = text.rstrip("\n")
    cut = cut[: cut.rfind("\t", 0, cut.rfind("\t") - 40)]
    last = len(text.splitlines())
    fields = cut.splitlines()[-1].count("\t") + 1
    return _bad(tmp_path, "cut.txt", cut.encode()), last, fields + 1


def _cell(report: Path, order_id: str, column: str, value: str, name: str):
    """A case: `report` with one cell of `order_id`'s line replaced by `value`."""
    def make(tmp_path):
        text, line, where = _replace_cell(report, order_id, column, value)
        return _bad(tmp_path, name, text.encode()), line, where
    return make


def _missing_column(tmp_path):
    return edit_columns(SMALL_UNSHIPPED, tmp_path / "nocol.txt", drop=("order-item-id",)), 1, None


CASES = {
    "truncated": (_truncated, "cut off"),
    "scientific notation": (_cell(SMALL_UNSHIPPED, "111-0000002-0000002", "order-item-id", "2.22222E+13",
                                  "excel.txt"), "spreadsheet"),
    "lost leading zeros": (_cell(SMALL_UNSHIPPED, "111-0000001-0000001", "order-item-id", "1234567890123",
                                 "zeros.txt"), "leading zeros"),
    "mangled order id": (_cell(SMALL_ALL, "111-0000003-0000003", "amazon-order-id", "1.11E+18", "orderid.txt"),
                         "not an Amazon order id"),
    "bad date": (_cell(SMALL_ALL, "111-0000003-0000003", "purchase-date", "20/11/2026 14:05", "date.txt"), "ISO-8601"),
    "missing column": (_missing_column, "lacks the column(s) order-item-id"),
    "empty": (lambda t: (_bad(t, "empty.txt", b""), 1, None), "is empty"),
    "xlsx": (lambda t: (_bad(t, "r.xlsx", b"PK\x03\x04" + b"\x00" * 200), 1, None), "Excel"),
    "pdf": (lambda t: (_bad(t, "r.pdf", b"%PDF-1.7\n" + b"x" * 200), 1, None), "PDF"),
    "japanese headers": (lambda t: (_bad(t, "jp.txt", "注文番号\t商品名\tSKU\n249-1\tx\ty\n".encode("cp932")), 1, None),
                         "Japanese column names"),
    "not a report": (lambda t: (_bad(t, "notes.txt", b"hello\tworld\n1\t2\n"), 1, None), "not an order report"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_gives_one_located_line_and_writes_nothing(cli, tmp_path, case):
    make, expected = CASES[case]
    path, line, column = make(tmp_path)
    cli("open", "--sku", "SKU-A", *WINDOW)
    before = cli.json("log")
    result = cli("pull", "--report", SMALL_ALL, "--report", path, code=3)
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in result.output
    where = f"{path}:{line}" + (f":{column}" if column else "")
    assert message.startswith(f"error: {where}:") or message.startswith(f"error: {where} "), message
    assert expected in message
    # nothing from that pull: the good file given with it was not saved either
    assert cli.json("log") == before
    assert cli.json("orders") == []
    # no buyer data in the message
    assert not re.search(r"@marketplace|Miller|García", message)


def test_unknown_encoding_option(cli):
    cli("open", "--sku", "SKU-A", *WINDOW)
    result = cli("pull", "--report", SMALL_ALL, "--encoding", "ebcdic", code=2)
    assert "--encoding 'ebcdic' is not supported" in result.stderr
