"""No silent wrong value from a report (issue 11, §3): every value that cannot be read exactly is
one clear line naming the file, line and column, exit 3, and nothing of that pull is written."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ASSETS, WINDOW

SMALL_ALL = ASSETS / "all-orders-small.txt"
SMALL_UNSHIPPED = ASSETS / "unshipped-small.txt"


def edited(source: Path, order_id: str, column: str, value: str, sku: str = "SKU-A") -> tuple[bytes, int, int]:
    """`source` with one cell of `order_id`'s `sku` line replaced; (bytes, line, column)."""
    lines = source.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    index = header.index(column)
    for number, line in enumerate(lines):
        cells = line.split("\t")
        if cells[0] == order_id and sku in cells:
            cells[index] = value
            lines[number] = "\t".join(cells)
            return ("\n".join(lines) + "\n").encode("utf-8"), number + 1, index + 1
    raise AssertionError(order_id)


def cell(source: Path, order_id: str, column: str, value: str, sku: str = "SKU-A"):
    return lambda: edited(source, order_id, column, value, sku)


def mixed_encodings():
    """A UTF-8 file (an accented name on line 2) with one line saved in cp1252 (line 5)."""
    lines = SMALL_UNSHIPPED.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("Alex Miller", "Zoë Brontë")
    encoded = [line.encode("utf-8") for line in lines]
    encoded[4] = lines[4].replace(lines[4].split("\t")[8], "Renée Dubois").encode("cp1252")
    return b"\n".join(encoded) + b"\n", 5, 9


def duplicate_column():
    lines = SMALL_ALL.read_text(encoding="utf-8").splitlines()
    lines = [line + ("\titem-price" if number == 0 else "\t1.00") for number, line in enumerate(lines)]
    return ("\n".join(lines) + "\n").encode(), 1, 34


BOM = "\ufeff"
CASES = {
    "BOM inside the SKU": (cell(SMALL_ALL, "111-0000001-0000001", "sku", BOM + "SKU-A"), "invisible control character (\\ufeff)"),
    "zero-width space inside the SKU": (cell(SMALL_UNSHIPPED, "111-0000001-0000001", "sku", "SKU-A\u200b"), "\\u200b"),
    "escape character in the product name": (cell(SMALL_ALL, "111-0000001-0000001", "product-name",
                                                   "Sonic \x1b]8;;http://evil.example\x1b\\\\click\x1b]8;;\x1b\\\\"), "\\x1b"),
    "NUL byte": (cell(SMALL_ALL, "111-0000001-0000001", "item-status", "Unship\x00ped"), "\\x00"),
    "C1 control": (cell(SMALL_UNSHIPPED, "111-0000001-0000001", "buyer-name", "Alex\x85Miller"), "\\x85"),
    "file mixing encodings": (mixed_encodings, "mixes encodings"),
    "thousands separator": (cell(SMALL_ALL, "111-0000001-0000001", "item-price", "1,249"), "1,249 is 1249"),
    "thousands separator and decimals": (cell(SMALL_ALL, "111-0000001-0000001", "item-price", "1,249.00"), "thousands separator"),
    "negative price": (cell(SMALL_ALL, "111-0000001-0000001", "item-price", "-100.00"), "negative price"),
    "discount larger than the price": (cell(SMALL_ALL, "111-0000001-0000001", "item-promotion-discount", "-150.00"),
                                       "discount larger than the item price"),
    "tiny exponent": (cell(SMALL_ALL, "111-0000001-0000001", "item-price", "1e-999999"), "exponent"),
    "huge exponent": (cell(SMALL_ALL, "111-0000001-0000001", "item-promotion-discount", "1e999999"), "exponent"),
    "40-digit quantity": (cell(SMALL_ALL, "111-0000001-0000001", "quantity", "9" * 40), "999,999 units"),
    "the year 9999": (cell(SMALL_ALL, "111-0000001-0000001", "purchase-date", "9999-12-31T23:00:00-08:00"), "year"),
    "fullwidth digits in an order id": (cell(SMALL_ALL, "111-0000001-0000001", "amazon-order-id", "１１１-0000001-0000001"),
                                        "digits 0-9"),
    "fullwidth digits in an item code": (cell(SMALL_UNSHIPPED, "111-0000001-0000001", "order-item-id",
                                              "０１２３４５６７８９０１２３"), "digits 0-9"),
    "superscript quantity": (cell(SMALL_ALL, "111-0000001-0000001", "quantity", "²"), "whole number"),
    "duplicate column": (duplicate_column, "'item-price' appears twice"),
    "two addresses in the buyer e-mail": (cell(SMALL_UNSHIPPED, "111-0000001-0000001", "buyer-email",
                                               "aaa111@marketplace.amazon.com, attacker@evil.example"), "exactly one"),
    "display name in the buyer e-mail": (cell(SMALL_UNSHIPPED, "111-0000001-0000001", "buyer-email",
                                              '"Amazon" <attacker@evil.example>'), "exactly one"),
    "formula as the buyer e-mail": (cell(SMALL_UNSHIPPED, "111-0000001-0000001", "buyer-email",
                                         '=HYPERLINK("http://evil.example")'), "exactly one"),
    "carriage return inside a field": (cell(SMALL_UNSHIPPED, "111-0000001-0000001", "product-name", "x\ry"), "carriage return"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_value_that_cannot_be_read_exactly_is_one_located_error(cli, tmp_path, case):
    make, expected = CASES[case]
    data, line, column = make()
    path = tmp_path / "report.txt"
    path.write_bytes(data)
    cli("open", "--sku", "SKU-A", *WINDOW)
    before = cli.json("log")
    good = SMALL_UNSHIPPED if "amazon-order-id" in data.decode("utf-8", "replace").split("\n")[0] else SMALL_ALL
    result = cli("pull", "--report", good, "--report", path, code=3)
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in result.output
    assert message.startswith(f"error: {path}:{line}:{column}:"), message
    assert expected in message, message
    assert "\x1b" not in message and "\u202e" not in message and BOM not in message
    assert not re.search(r"@marketplace|evil\.example|Miller|Brontë|Dubois", message)  # never buyer data
    assert cli.json("log") == before and cli.json("orders") == []  # nothing from that pull


def test_a_header_only_report_alone_is_an_error_and_writes_nothing(cli, tmp_path):
    path = tmp_path / "empty-range.txt"
    path.write_text(SMALL_ALL.read_text().splitlines()[0] + "\n")
    cli("open", "--sku", "SKU-A", *WINDOW)
    before = cli.json("log")
    result = cli("pull", "--report", path, code=3)
    assert result.stderr.startswith(f"error: {path}:2: holds no orders")
    assert cli.json("log") == before


def test_a_header_only_report_next_to_others_is_a_warning(cli, tmp_path):
    path = tmp_path / "nothing-unshipped.txt"
    path.write_text(SMALL_UNSHIPPED.read_text().splitlines()[0])  # no line end either
    cli("open", "--sku", "SKU-A", *WINDOW)
    result = cli("pull", "--report", SMALL_ALL, "--report", path)
    assert "warning: nothing-unshipped.txt holds no orders" in result.stderr
    assert cli.json("orders")


def test_a_fifo_is_refused_at_once_not_waited_on(cli, tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    cli("open", "--sku", "SKU-A", *WINDOW)
    # a real process: opening a FIFO for reading would block it forever, the test would hang
    done = subprocess.run([Path(sys.executable).parent / "incident", "pull", "--report", str(fifo)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stderr == f"error: {fifo}: is a named pipe (FIFO), not a file. Save the report to a file and pass " \
                          "that, or pipe it in with `--report -` (standard input)\n"


def test_standard_input_is_read_whole_with_a_dash(cli):
    cli("open", "--sku", "SKU-A", *WINDOW)
    result = cli("pull", "--report", "-", "--report", SMALL_UNSHIPPED, input=SMALL_ALL.read_text())
    assert "read -: All Orders report" in result.stdout
    again = cli("pull", "--report", SMALL_ALL, "--report", SMALL_UNSHIPPED).stdout  # the same, from the files
    assert "0 new order lines, 0 updated" in again
    assert not [p for p in Path(os.environ["INCIDENT_HOME"]).rglob(".stdin-*")]  # the copy is gone


def test_standard_input_errors_name_it_and_nothing_is_left(cli):
    cli("open", "--sku", "SKU-A", *WINDOW)
    text, line, column = edited(SMALL_ALL, "111-0000001-0000001", "item-price", "1,249")
    result = cli("pull", "--report", "-", input=text.decode(), code=3)
    assert result.stderr.startswith(f"error: -:{line}:{column}:")
    assert not [p for p in Path(os.environ["INCIDENT_HOME"]).rglob(".stdin-*")]


def test_a_line_longer_than_a_mebibyte_is_refused_before_it_is_read_whole(cli, tmp_path):
    """A gzip bomb: one line of 64 MiB, 64 KiB on disk. Refused at the line, without reading it."""
    header, first = SMALL_ALL.read_text().splitlines()[:2]
    path = tmp_path / "bomb.txt.gz"
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write((header + "\n" + first + "\n").encode())
        for _ in range(64):
            handle.write(b"x" * (1 << 20))
        handle.write(b"\n")
    assert path.stat().st_size < 1 << 20
    cli("open", "--sku", "SKU-A", *WINDOW)
    result = cli("pull", "--report", path, code=3)
    assert result.stderr.startswith(f"error: {path}:3: the line is longer than 1 MiB")


def test_a_relay_address_of_another_domain_is_a_warning(cli, tmp_path):
    text, _, _ = edited(SMALL_UNSHIPPED, "111-0000001-0000001", "buyer-email", "someone@gmail.example")
    path = tmp_path / "unshipped.txt"
    path.write_bytes(text)
    cli("open", "--sku", "SKU-A", *WINDOW, "--marketplace", "US")
    result = cli("pull", "--report", SMALL_ALL, "--report", path)
    assert "1 buyer e-mail address(es) in unshipped.txt are not at Amazon's relay (marketplace.amazon.com)" in result.stderr
    assert "gmail" not in result.stderr and "111-0000001-0000001" in result.stderr


def test_amounts_that_are_exact_still_read():
    from decimal import Decimal

    from incident.amazon.cells import CONVERTERS

    price, discount, quantity = CONVERTERS["item_price"], CONVERTERS["item_promotion_discount"], CONVERTERS["quantity"]
    assert price("249.99") == Decimal("249.99") and price("1249") == Decimal("1249") and price("5,00") == Decimal("5.00")
    assert discount("-95.00") == Decimal("-95.00") and quantity("000012") == 12 and price(" ") is None
