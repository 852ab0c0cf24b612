"""Which orders are affected and where each one goes: the decisions a manager acts on."""

from __future__ import annotations

from conftest import ASSETS, WINDOW


def by_order(cli, *extra):
    return {(r["order_id"], r["sku"]): r for r in cli.json("orders", *extra)}


def test_every_affected_line_lands_in_exactly_one_bucket(small_incident):
    rows = by_order(small_incident)
    assert {k: r["bucket"] for k, r in rows.items()} == {
        ("111-0000001-0000001", "SKU-A"): "cancellable_mfn",
        ("111-0000002-0000002", "SKU-A"): "cancellable_mfn",
        ("111-0000003-0000003", "SKU-A"): "fba_support",
        ("111-0000004-0000004", "SKU-A"): "shipped_unrecoverable",
        ("111-0000005-0000005", "SKU-A"): "cancelled_before",
        ("111-0000006-0000006", "SKU-A"): "needs_attention",
        ("111-0000009-0000009", "SKU-A"): "cancellable_mfn",
    }
    # outside the scope: another SKU of a multi-item order, a price above the floor, before the
    # window, and exactly at its end (the window is [start, end))
    assert ("111-0000002-0000002", "SKU-OTHER") not in rows
    assert ("111-0000007-0000007", "SKU-A") not in rows
    assert ("111-0000008-0000008", "SKU-A") not in rows
    assert ("111-0000010-0000010", "SKU-A") not in rows


def test_needs_attention_says_why(small_incident):
    pending = by_order(small_incident)[("111-0000006-0000006", "SKU-A")]
    assert "pending" in pending["reason"].lower() and "pull again" in pending["reason"]


def test_money_per_line_and_in_status(small_incident):
    line = by_order(small_incident)[("111-0000002-0000002", "SKU-A")]
    assert (line["units"], line["list_price"], line["price_paid"], line["loss"]) == (2, "200.00", "10.00", "190.00")
    status = small_incident.json("status")
    assert status["counts"] == {"affected_orders": 7, "affected_units": 8, "cancellable_mfn": 3,
                                "fba_support": 1, "shipped_unrecoverable": 1,
                                "cancelled_by_seller": 0, "cancelled_before": 1, "needs_attention": 1}
    assert status["money"]["cancellable_mfn"]["totals"]["USD"] == {
        "list_price": "400.00", "price_paid": "20.00", "charged": "25.81", "loss": "380.00"}  # order 1 paid tax and shipping


def test_without_floor_the_full_price_order_is_affected_too(cli):
    cli("open", "--sku", "SKU-A", *WINDOW)
    cli("pull", "--report", ASSETS / "all-orders-small.txt", "--report", ASSETS / "unshipped-small.txt")
    assert by_order(cli)[("111-0000007-0000007", "SKU-A")]["bucket"] == "cancellable_mfn"


def test_all_orders_alone_cannot_cancel_for_lack_of_item_codes(cli):
    cli("open", "--sku", "SKU-A", *WINDOW, "--floor", "50")
    cli("pull", "--report", ASSETS / "all-orders-small.txt")
    line = by_order(cli)[("111-0000001-0000001", "SKU-A")]
    assert line["bucket"] == "needs_attention"
    assert "Unshipped Orders report" in line["reason"]


def test_pulling_again_in_any_order_gives_the_same_picture(cli):
    cli("open", "--sku", "SKU-A", *WINDOW, "--floor", "50")
    cli("pull", "--report", ASSETS / "unshipped-small.txt")
    cli("pull", "--report", ASSETS / "all-orders-small.txt")
    first = cli.json("orders")
    out = cli("pull", "--report", ASSETS / "all-orders-small.txt", "--report", ASSETS / "unshipped-small.txt")
    assert "0 new order lines, 0 updated" in out.stdout
    assert cli.json("orders") == first


def test_newer_report_wins_and_older_does_not_overwrite(cli, tmp_path):
    cli("open", "--sku", "SKU-A", *WINDOW, "--floor", "50")
    source = (ASSETS / "all-orders-small.txt").read_text()
    header, *rows = source.splitlines()
    row = next(r for r in rows if r.startswith("111-0000001-0000001"))
    shipped = row.replace("\tUnshipped\tMerchant", "\tShipped\tMerchant").replace(
        "2026-11-20T14:03:10-08:00\t2026-11-20T14:03:10-08:00", "2026-11-20T14:03:10-08:00\t2026-11-20T16:00:00-08:00")
    shipped = shipped.replace("\tUnshipped\t1\t", "\tShipped\t1\t")
    (tmp_path / "newer.txt").write_text(header + "\n" + shipped + "\n")
    cli("pull", "--report", ASSETS / "unshipped-small.txt", "--report", tmp_path / "newer.txt")
    cli("pull", "--report", ASSETS / "all-orders-small.txt")  # older: must not undo the shipment
    assert by_order(cli)[("111-0000001-0000001", "SKU-A")]["bucket"] == "shipped_unrecoverable"


def test_marketplace_is_inferred_from_the_sales_channel(small_incident):
    status = small_incident.json("status")
    assert status["scope"]["marketplace"] == "US"
