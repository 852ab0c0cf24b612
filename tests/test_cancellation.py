"""The Order Cancellation upload file: byte for byte what Seller Central expects."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from conftest import ASSETS

GOLDEN = ASSETS / "golden" / "OrderCancellation.txt"


def export(cli, *args) -> dict[str, Path]:
    out = cli("cancel", "export", *args).stdout
    files = [Path(line.split()[1]) for line in out.splitlines() if line.startswith("wrote ")]
    return {p.suffix: p for p in files}


def test_upload_file_matches_the_golden_file(small_incident):
    files = export(small_incident)
    assert files[".txt"].read_bytes() == GOLDEN.read_bytes()


def test_golden_file_layout():
    lines = GOLDEN.read_text().splitlines()
    assert lines[0] == "TemplateType=OrderCancellation\tVersion=1.0/1.0.3\tThis row for Amazon.com use only.  Do not modify or delete."
    assert lines[1] == "order-id\tcancellation-reason-code\tamazon-order-item-code"
    # a leading zero survives; the other SKU of the multi-item order is not cancelled
    assert "111-0000001-0000001\tPricingError\t01234567890123" in lines
    assert not any("22222222222223" in line for line in lines)


def test_xlsx_has_the_same_rows_all_as_text(small_incident):
    from openpyxl import load_workbook  # imported here: a third of a second for every worker otherwise

    files = export(small_incident, "--format", "both")
    sheet = load_workbook(files[".xlsx"]).active
    assert sheet.title == "OrderCancellation"
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    txt = [line.split("\t") for line in files[".txt"].read_text().splitlines()]
    assert rows == txt
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row)


def test_files_are_private_and_recorded_with_their_hash(small_incident):
    files = export(small_incident, "--format", "both")
    for path in files.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    status = small_incident.json("status")
    recorded = {e["path"]: e for e in status["exports"]}
    for path in files.values():
        entry = recorded[str(path)]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["rows"] == 3
    assert {s["id"]: s["state"] for s in status["steps"]}["cancel-export"] == "done"
    events = [e for e in small_incident.json("log") if e["action"] == "cancel_export"]
    assert events[0]["details"]["rows"] == 3


def test_general_adjustment_reason(small_incident):
    files = export(small_incident, "--reason", "generaladjustment")
    assert all(line.split("\t")[1] == "GeneralAdjustment"
               for line in files[".txt"].read_text().splitlines()[2:])


@pytest.mark.parametrize("reason, expected", [
    ("BuyerCanceled", "not allowed for a pricing error"),
    ("Oops", "not an Amazon cancellation reason"),
])
def test_bad_reason_is_refused_and_nothing_is_written(small_incident, home, reason, expected):
    result = small_incident("cancel", "export", "--reason", reason, code=2)
    assert expected in result.stderr
    assert not list(home.glob("*/exports/*"))


def test_nothing_cancellable_writes_no_file(cli, home):
    cli("open", "--sku", "NOT-SOLD", "--start", "2026-11-20T14:00:00-08:00", "--end", "2026-11-20T14:30:00-08:00")
    cli("pull", "--report", ASSETS / "all-orders-small.txt")
    result = cli("cancel", "export", code=5)
    assert "no order is cancellable" in result.stderr
    assert not list(home.glob("*/exports/*"))


def test_export_says_what_was_left_out(small_incident):
    out = small_incident("cancel", "export").stdout
    assert "3 items in 3 orders go in the file" in out
    assert "left out: 1 lines in fba_support" in out
    assert "left out: 1 lines in shipped_unrecoverable" in out


def test_spreadsheet_formulas_are_neutralised_in_csv(small_incident):
    out = small_incident("orders", "--csv").stdout
    assert "'=HYPERLINK" in out
    assert "\n=HYPERLINK" not in out and ",=HYPERLINK" not in out
