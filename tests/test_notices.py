"""Buyer notices: rendered in the buyer's language (golden files), checked against Amazon's
messaging rules, only once the cancellation step allows it."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import ASSETS, SAMPLES

from incident.notices import check

GOLDEN = ASSETS / "golden"


def notices(home) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(next(home.glob("*/incident.db")))
    conn.row_factory = sqlite3.Row
    return {r["order_id"]: r for r in conn.execute("SELECT * FROM notices")}


def as_text(row) -> str:
    return row["subject"] + "\n" + row["body"]


def test_notices_wait_for_the_cancellation_and_the_fba_request(small_incident, home):
    out = small_incident("notify", "render").stdout
    assert "0 notices rendered" in out and "waiting: 3 lines in cancellable_mfn" in out
    small_incident("cancel", "export")
    result = small_incident("notify", "send", "--via", "outbox")
    assert "sent 0 of 0" in result.stdout and "3 orders are due a notice not rendered yet" in result.stderr
    small_incident("notify", "render")
    assert set(notices(home)) == {"111-0000001-0000001", "111-0000002-0000002", "111-0000009-0000009"}
    small_incident("support", "fba-request", "--sent")
    small_incident("notify", "render")
    assert "111-0000003-0000003" in notices(home)


def test_english_notice_matches_the_golden_file(small_incident, home):
    small_incident("cancel", "export")
    small_incident("support", "fba-request", "--sent")
    small_incident("notify", "render", "--seller-name", "Sonic Audio")
    rows = notices(home)
    assert as_text(rows["111-0000001-0000001"]) == (GOLDEN / "notice-en-US-mfn.txt").read_text()
    assert as_text(rows["111-0000003-0000003"]) == (GOLDEN / "notice-en-US-fba.txt").read_text()


def test_japanese_notice_matches_the_golden_file(cli, home):
    spec = json.loads((SAMPLES / "jp" / "scope.json").read_text())
    cli("open", "--sku", spec["skus"][0], "--start", spec["start"], "--end", spec["end"], "--floor", spec["floor"])
    cli("pull", "--report", SAMPLES / "jp" / "all-orders.txt", "--report", SAMPLES / "jp" / "unshipped.txt")
    cli("cancel", "export")
    cli("notify", "render", "--seller-name", "ソニックオーディオ")
    rows = notices(home)
    first = rows[sorted(rows)[0]]
    assert first["locale"] == "ja-JP"
    assert as_text(first) == (GOLDEN / "notice-ja-JP-mfn.txt").read_text()
    assert "notices pass" in cli("notify", "check").stdout


def test_a_link_in_a_product_name_blocks_the_notice_until_forced(small_incident, home):
    small_incident("cancel", "export")
    small_incident("notify", "render")
    result = small_incident("notify", "check", code=6)
    assert "blocked: 111-0000009-0000009: 4:" in result.stderr and "no-links" in result.stderr
    assert "1 notices are blocked" in small_incident("notify", "send", "--via", "outbox").stderr
    [listed] = [n for n in small_incident.json("notify", "list") if n["state"] == "blocked"]
    assert listed["order_id"] == "111-0000009-0000009" and "no-links" in listed["problems"][0]
    assert "needs --reason" in small_incident("notify", "check", "--force", code=2).stderr
    small_incident("notify", "check", "--force", "--reason", "product name from the report; checked by hand")
    assert notices(home)["111-0000009-0000009"]["state"] == "rendered"
    assert small_incident.json("log")[-1]["action"] == "notify_force"


def test_rendering_again_changes_nothing(small_incident, home):
    small_incident("cancel", "export")
    small_incident("notify", "render")
    assert "0 notices rendered, 3 unchanged" in small_incident("notify", "render").stdout


def test_seller_templates_override_and_undefined_variables_are_errors(small_incident, tmp_path):
    small_incident("cancel", "export")
    (tmp_path / "notice").mkdir()
    (tmp_path / "notice" / "en-US.txt.j2").write_text("Order {{ order_id }}\n{{ refund_eta }}\n")
    result = small_incident("notify", "render", "--templates", tmp_path, code=3)
    assert "notice/en-US.txt.j2: uses an undefined variable" in result.stderr and "refund_eta" in result.stderr
    (tmp_path / "notice" / "en-US.txt.j2").write_text("Sorry about {{ order_id }}\nWe cancelled order {{ order_id }}.\n")
    assert "3 notices rendered" in small_incident("notify", "render", "--templates", tmp_path).stdout


def test_html_templates_escape_report_data_and_are_blocked_for_the_api(small_incident, home, tmp_path):
    small_incident("cancel", "export")
    (tmp_path / "notice").mkdir()
    (tmp_path / "notice" / "en-US.html.j2").write_text("Order {{ order_id }}\n<p>Sorry about {{ order_id }}: {{ products }}</p>\n")
    db = sqlite3.connect(next(home.glob("*/incident.db")))
    db.execute("UPDATE order_lines SET product_name = '<script>x</script> Cable'")
    db.commit()
    small_incident("notify", "render", "--templates", tmp_path)
    body = notices(home)["111-0000001-0000001"]["body"]
    assert "&lt;script&gt;x&lt;/script&gt; Cable" in body and "<script>" not in body
    assert "no-html" in small_incident("notify", "check", code=6).stderr


GOOD = "Your order 111-0000001-0000001\nWe are sorry: the order 111-0000001-0000001 was cancelled.\n"


@pytest.mark.parametrize("text, rule", [
    (GOOD + "See https://example.com/sorry", "no-links"),
    (GOOD + "Visit www.example.com", "no-links"),
    (GOOD + "Write to help@example.com", "no-email"),
    (GOOD + "Call us at +1 206 555 0100", "no-phone"),
    (GOOD + "Here is a coupon for your next order", "no-marketing"),
    (GOOD + "Please leave a review", "no-marketing"),
    (GOOD + "<b>Sorry</b>", "no-html"),
    (GOOD + "x" * 2000, "length"),
    ("We are sorry about your order.", "order-id"),
    (GOOD.replace("We are sorry", "申し訳ございません"), "language"),
])
def test_checker_catches_each_rule(text, rule):
    assert rule in {p.rule for p in check(text, "111-0000001-0000001", "en-US")}


def test_checker_passes_a_good_notice_and_locates_problems():
    assert check(GOOD, "111-0000001-0000001", "en-US") == []
    [problem] = check(GOOD + "Mail help@example.com", "111-0000001-0000001", "en-US")
    assert (problem.line, problem.column) == (3, 6)
    assert check(GOOD, "111-0000001-0000001", "de-DE", buyer_locale="en-GB")[0].rule == "language"


def test_buyers_whose_orders_were_cancelled_are_still_told(small_incident, home):
    """Once Amazon shows the exported orders cancelled, their buyers are still owed a notice; a
    buyer who cancelled before the seller acted is not."""
    small_incident("cancel", "export")
    small_incident("pull", "--report", ASSETS / "all-orders-small-cancelled.txt")
    status = small_incident.json("status")
    assert status["counts"]["cancelled_by_seller"] == 3 and status["counts"]["cancellable_mfn"] == 0
    assert "3 notices rendered" in small_incident("notify", "render").stdout
    assert set(notices(home)) == {"111-0000001-0000001", "111-0000002-0000002", "111-0000009-0000009"}
    assert "111-0000005-0000005" not in notices(home)  # cancelled before: no notice, no loss
    assert status["money"]["cancelled_before"]["totals"] in ({}, {"USD": {"list_price": "0", "price_paid": "0",
                                                                         "charged": "0"}})
    assert small_incident.json("status")["notices"]["owed"] == 3


def test_a_buyers_cancellation_request_is_not_a_cancellation(cli):
    from decimal import Decimal

    from incident.scope import CANCELLED, decide
    from incident.timeutil import parse_iso
    from incident.workspace.store import Incident, OrderLine

    incident = Incident("x", "t", ["SKU-A"], parse_iso("2026-11-20T22:00:00Z"), parse_iso("2026-11-20T23:00:00Z"),
                        None, "US", parse_iso("2026-11-20T23:00:00Z"), "me", "open")
    line = OrderLine("111-0000001-0000001", "SKU-A", 0, order_item_id="01234567890123",
                     purchase_date="2026-11-20T22:10:00Z", order_status="Unshipped", fulfillment_channel="Merchant",
                     quantity=1, item_price=Decimal("100"), cancel_requested="1")
    assert decide(line, incident).bucket not in CANCELLED
