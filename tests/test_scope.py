"""A scope that cannot silently miss: a pull that matches nothing says so loudly, with the SKUs
that come closest; orders just outside the window are pointed out; the scope can be changed."""

from __future__ import annotations

from conftest import ASSETS, WINDOW


def test_a_pull_matching_no_line_warns_with_the_closest_skus_and_ticks_nothing(cli):
    cli("open", "--sku", "sku-a", *WINDOW)
    out = cli("pull", "--report", ASSETS / "all-orders-small.txt")
    assert "NO LINE of sku-a is in these reports" in out.stderr
    assert "for sku-a: SKU-A" in out.stderr
    steps = {s["id"]: s["state"] for s in cli.json("status")["steps"]}
    assert steps["scope-orders"] == "open"


def test_two_skus_in_one_option_are_pointed_out(cli):
    cli("open", "--sku", "SKU-A,SKU-OTHER", *WINDOW)
    out = cli("pull", "--report", ASSETS / "all-orders-small.txt")
    assert "for SKU-A,SKU-OTHER: SKU-A, SKU-OTHER" in out.stderr
    assert "one --sku per SKU" in out.stderr


def test_orders_just_outside_the_window_are_pointed_out(cli):
    cli("open", "--sku", "SKU-A", "--start", "2026-11-20T14:00:00-08:00", "--end", "2026-11-20T14:29:00-08:00",
        "--floor", "50")
    out = cli("pull", "--report", ASSETS / "all-orders-small.txt")
    # 111-0000008 at 13:59:59 (before) and 111-0000009 at 14:29:59 and -10 at 14:30:00 (after), all at $5
    assert "outside the window: 3 lines of SKU-A below the floor were bought in the hour" in out.stderr


def test_the_scope_can_change_and_the_buckets_follow(small_incident, cli):
    small_incident("cancel", "export")
    before = cli.json("status")["counts"]["affected_orders"]
    out = cli("scope", "--no-floor")
    assert "no floor" in out.stdout and "written under the old scope" in out.stderr
    status = cli.json("status")
    assert status["scope"]["floor"] is None
    assert status["counts"]["affected_orders"] > before  # the $100 order 111-0000007 counts now
    assert status["exports"][0]["stale"]
    assert any(e["action"] == "scope_changed" for e in cli.json("log"))


def test_end_now_works_as_its_help_says(cli):
    incident_id = cli("open", "--sku", "SKU-A", "--start", "2026-11-20T14:00:00-08:00", "--end", "now").stdout.strip()
    assert incident_id
    assert cli.json("status")["scope"]["window_end"] > "2026-11-21"
