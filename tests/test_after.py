"""After the incident: closing, personal data on Amazon's clock, costs, the cancellation-rate
what-if and the post-incident report (a golden Markdown file, escaped report data)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import ASSETS

from incident import timeutil

GOLDEN = ASSETS / "golden"
BUYER_BYTES = [b"aaa111@", b"Alex Miller", b"Jordan Lee", b"Renee", "Renée Dubois".encode(), b"Sam Garc"]


@pytest.fixture
def clock(monkeypatch):
    """A clock that starts at 14:20 PST on the incident's day and moves one minute per reading, in
    every module that reads it: events get the same times on every run."""
    import incident.after.cards  # noqa: F401  (imported now so that their clock is replaced too)
    import incident.after.closing  # noqa: F401
    import incident.after.report  # noqa: F401
    import incident.cli  # noqa: F401

    moment = [datetime(2026, 11, 20, 22, 20, tzinfo=UTC)]

    def now():
        moment[0] += timedelta(minutes=1)
        return moment[0]

    original = timeutil.now_utc
    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "") or "").startswith("incident") and getattr(module, "now_utc", None) is original:
            monkeypatch.setattr(module, "now_utc", now)
    return moment


def with_addresses(tmp_path):
    """The small Unshipped report with its shipping addresses filled in."""
    lines = (ASSETS / "unshipped-small.txt").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = []
    for number, line in enumerate(lines[1:], start=1):
        cells = line.split("\t")
        for column, value in (("ship-address-1", f"{number} Elm Street"), ("ship-city", "Austin"),
                              ("ship-state", "TX"), ("ship-postal-code", "73301")):
            cells[header.index(column)] = value
        rows.append("\t".join(cells))
    path = tmp_path / "unshipped-with-addresses.txt"
    path.write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def worked(small_incident, tmp_path):
    """The small incident worked through: sales stopped, file written, FBA request, buyers told."""
    cli = small_incident
    cli("pull", "--report", with_addresses(tmp_path))
    cli("step", "done", "stop-bleeding", "--note", "promo SOCIAL20 ended, coupon off", "--by", "mia")
    cli("step", "done", "contact-support", "--by", "mia")
    cli("cancel", "export")
    cli("pull", "--report", ASSETS / "all-orders-small-cancelled.txt")  # Amazon shows them cancelled
    cli("support", "fba-request", "--sent")
    cli("notify", "render", "--seller-name", "Sonic Audio")
    cli("notify", "send", "--via", "outbox")  # the FBA buyer has no e-mail address: needs --via spapi
    return cli


def close_ready(cli):
    cli("step", "done", "cancel-upload", "--note", "processing report: 3 of 3 accepted")
    cli("step", "skip", "notify-buyers", "--reason", "the FBA buyer is told through Seller Support")
    cli("support", "annotation", "--sent")


def test_close_refuses_while_required_steps_are_open_and_lists_them(worked, home):
    result = worked("close", code=5)
    assert "cannot close" in result.stderr and "cancel-upload" in result.stderr and "annotation-request" in result.stderr
    assert "incident step skip ID --reason" in result.stderr
    assert worked.json("status")["state"] == "open"


def test_a_closed_incident_can_still_be_read_reported_and_purged(worked, home):
    close_ready(worked)
    out = worked("close").stdout
    assert "closed" in out and "skipped notify-buyers: the FBA buyer is told" in out
    assert worked.json("log")[-1]["action"] == "close"
    assert "closed already" in worked("close", code=5).stderr
    assert worked("report").stdout.strip().endswith(".html")  # no --incident needed once closed
    assert "erased buyer data" in worked("purge", "--yes", "--force").stdout  # the FBA buyer: told by Seller Support


def test_status_says_when_the_personal_data_is_due_for_purging(worked):
    data = worked.json("status")["personal_data"]
    assert data["lines"] == 4 and data["retention_days"] == 30
    assert data["due"] == "2026-12-20T23:10:00Z"  # 30 days after the last update Amazon reported (the cancellations)
    assert "due for purging by 2026-12-20" in worked("status").stdout


def test_after_a_purge_no_byte_of_buyer_data_is_left_in_the_folder_wal_included(worked, home):
    worked("cards", "--seller-name", "Sonic Audio")
    folder = next(home.glob("*/incident.db")).parent
    db = folder / "incident.db"
    keeper = sqlite3.connect(db)  # WAL mode, with a reader holding the file open as another process might
    keeper.execute("PRAGMA journal_mode=WAL")
    worked("pull", "--report", ASSETS / "unshipped-small.txt")  # buyer data written again, through the WAL
    assert any(b"Alex Miller" in p.read_bytes() for p in folder.rglob("*") if p.is_file())
    worked("close", code=5)
    close_ready(worked)
    worked("close")
    worked("purge", "--yes", "--force")
    leftovers = {str(p.relative_to(folder)): [b for b in BUYER_BYTES if b in p.read_bytes()]
                 for p in folder.rglob("*") if p.is_file()}
    assert {name: found for name, found in leftovers.items() if found} == {}
    assert worked.json("status", "--incident", folder.name)["counts"]["affected_orders"] == 7  # numbers kept
    keeper.close()


def test_purge_older_than_purges_only_incidents_past_their_clock(worked, home, clock):
    clock[0] = datetime(2026, 12, 10, tzinfo=UTC)
    assert "kept: not due until 2026-12-20T23:10:00Z" in worked("purge", "--older-than", "30", "--yes").stdout
    clock[0] = datetime(2026, 12, 21, tzinfo=UTC)
    assert "erased buyer data from 4 order lines" in worked("purge", "--older-than", "30", "--yes").stdout
    assert "no buyer data held" in worked("purge", "--older-than", "30", "--yes").stdout
    assert "leave out --incident" in worked("purge", "--older-than", "3", "--incident", "x", "--yes", code=2).stderr


def test_costs_fees_and_unit_cost_go_into_the_money(worked, tmp_path):
    worked("cost", "add", "150", "--what", "paid support service")
    worked("cost", "add", "70", "--what", "Lightning Deal fee", "--fee")
    worked("cost", "unit", "40")
    snapshot = tmp_path / "coupon.json"
    snapshot.write_text(json.dumps({"promotion": {
        "promotionId": "COUPON40", "promotionType": "COUPON", "promotionTitle": "40% coupon",
        "schedule": {"startDate": "2026-11-20T00:00:00-08:00", "endDate": "2026-11-21T00:00:00-08:00"},
        "feeSnapshot": {"previewedFeeRates": {"upfrontFee": {"rate": {"amount": 5, "currencyCode": "USD"}, "frequency": "ONE_TIME"},
                                              "variableFee": {"salesPercentage": 0.025}}}}}))
    assert "fee of COUPON40 (COUPON)" in worked("cost", "fees", "--promotion", snapshot).stdout
    assert "not an amount" in worked("cost", "add", "lots", "--what", "x", code=2).stderr
    (tmp_path / "none.json").write_text('{"promotions": []}')
    assert "holds no promotion" in worked("cost", "fees", "--promotion", tmp_path / "none.json", code=3).stderr
    assert "is not JSON" in worked("cost", "fees", "--promotion", ASSETS / "all-orders-small.txt", code=3).stderr
    from incident.after import costs
    from incident.after.record import cancelled_by_seller
    from incident.scope import sort_store
    from incident.workspace import store

    with store.open_store(store.home()) as opened:
        decisions = sort_store(opened)
        usd = costs.money(opened, decisions, cancelled_by_seller(opened, decisions))["USD"]
    assert str(usd["revenue_lost"]) == "95.00"  # one shipped order, sold at 5.00 instead of 100.00
    assert str(usd["goods_lost"]) == "35.00"  # one unit at 40.00, paid 5.00
    assert [f["amount"] for f in usd["fees"]] == [Decimal(70), Decimal("5.125")]  # 5 + 2.5% of the 5.00 that stands
    assert usd["total"] == Decimal("260.125") and usd["saved_by_us_orders"] == 3


def test_health_answers_will_my_account_be_all_right(worked, clock):
    clock[0] = datetime(2026, 11, 21, 12, tzinfo=UTC)
    result = worked.json("health", "--orders", "100", "--cancellations", "1")
    assert (result["incident_orders"], result["incident_cancellations"]) == (6, 3)
    assert (result["orders"], result["cancellations"], result["rate"], result["over"]) == (106, 4, "0.0377", True)
    assert result["dilution_orders"] == 54  # 4 / 160 = 2.5%
    assert result["back_under_on"] == "2026-11-28"  # the incident's orders of 11-20 leave the window
    assert any("PricingError" in rule for rule in result["rules"])
    assert result["offers_at_risk"] == {"SKU-A": 3}
    text = worked("health", "--orders", "100", "--cancellations", "1").stdout
    assert "OVER the limit" in text and "Amazon decides" in text and "not advice" in text


def test_health_reads_an_all_orders_report_of_the_last_seven_days(worked, clock):
    clock[0] = datetime(2026, 11, 21, 12, tzinfo=UTC)
    result = worked.json("health", "--report", ASSETS / "all-orders-small.txt")
    # -7 sold at full price, -8 before the window, -10 at its end: the incident's own orders are counted from it
    assert result["other_orders"] == 3 and result["other_cancellations"] == 0
    assert "give --report" in worked("health", code=2).stderr


def test_the_markdown_report_matches_the_golden_file(clock, worked, home):
    worked("cost", "add", "150", "--what", "paid support service")
    worked("cost", "unit", "40")
    path = worked("report", "--format", "md").stdout.strip()
    text = re.sub(r"\b[0-9a-f]{64}\b", "<log head>", open(path, encoding="utf-8").read())
    golden = GOLDEN / "report-small.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_report_data_is_inert_in_html_and_markdown(cli, tmp_path):
    hostile = tmp_path / "all-orders.txt"
    hostile.write_text((ASSETS / "all-orders-small.txt").read_text().replace(
        "SOCIAL20 COUPON40", "<script>alert(1)</script> [x](javascript:alert(1))|"), encoding="utf-8")
    cli("open", "--sku", "SKU-A", "--start", "2026-11-20T14:00:00-08:00", "--end", "2026-11-20T14:30:00-08:00")
    cli("pull", "--report", hostile)
    html = open(cli("report").stdout.strip(), encoding="utf-8").read()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html and "src=" not in html  # nothing fetched
    markdown = open(cli("report", "--format", "md").stdout.strip(), encoding="utf-8").read()
    assert "<script>" not in markdown and r"\<script\>" in markdown and r"\[x\]" in markdown
