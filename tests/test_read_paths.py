"""status, orders and notify render at any size (issue 19, §5): they read the affected lines a
batch of whole orders at a time (or from a cursor), so their memory does not grow with the
incident. Small batches here make every boundary happen; what they print must stay complete and
correct: totals equal to the lines sorted in one piece and to a direct SQL count, every line in
--csv and --json, every notice rendered. (Peak memory and time are measured in bench/.)"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from incident import scope
from incident.workspace import store as store_mod

START, END = "2026-11-20T14:00:00-08:00", "2026-11-20T14:30:00-08:00"


def busy_incident(cli, tmp_path: Path, floor: str | None = None) -> str:
    """An incident over reports with orders inside and outside the window, several SKUs, FBA and
    seller-fulfilled, multi-line orders; pulled and its cancellations exported. Its SKU."""
    from incident.sandbox.scenario import busy_reports

    scenario, paths = busy_reports(tmp_path, datetime.fromisoformat(START), datetime.fromisoformat(END),
                                   seed=11, burst_orders=150)
    sku = scenario.incident_product.sku
    cli("open", "--sku", sku, "--start", START, "--end", END, *(["--floor", floor] if floor else []))
    cli("pull", "--report", paths[0], "--report", paths[1])
    cli("cancel", "export")
    return sku


def whole(store) -> list[scope.Decision]:
    return scope.sort_store(store)


def test_totals_by_batch_are_the_totals_of_the_whole_incident(cli, tmp_path):
    from incident.notices.render import eligible
    from incident.totals import summary_by_batch

    busy_incident(cli, tmp_path, floor="100")
    with store_mod.open_store(store_mod.home()) as store:
        decisions = whole(store)
        expected = (scope.counts(decisions), scope.money(decisions), len(eligible(store)[0]))
        assert expected[0]["affected_orders"] > 20 and expected[2] > 5
        for size in (1, 3, 7, 20000):
            assert summary_by_batch(store, size) == expected


def test_status_counts_equal_a_direct_count_in_sql(cli, tmp_path):
    sku = busy_incident(cli, tmp_path)
    status = cli.json("status")
    with store_mod.open_store(store_mod.home()) as store:
        inc = store.incident()
        start, end = store_mod.iso_utc(inc.window_start), store_mod.iso_utc(inc.window_end)
        lines, orders, units = store.conn.execute(
            "SELECT count(*), count(DISTINCT order_id), coalesce(sum(quantity), 0) FROM order_lines "
            "WHERE sku = ? AND purchase_date >= ? AND purchase_date < ?", (sku, start, end)).fetchone()
        exported = store.conn.execute("SELECT count(*) FROM export_rows").fetchone()[0]
    assert sum(entry["lines"] for entry in status["money"].values()) == lines  # no floor: every line in the window
    assert status["counts"]["affected_orders"] == orders and status["counts"]["affected_units"] == units
    assert status["money"]["cancellable_mfn"]["lines"] == exported > 0
    assert status["counts"] == scope.counts(whole(store_mod.open_store(store_mod.home())))


def _expected_records(bucket: str | None = None) -> list[dict]:
    from incident.cli.orders import _record

    with store_mod.open_store(store_mod.home()) as store:
        return [_record(d) for d in whole(store) if bucket is None or d.bucket == bucket]


@pytest.mark.parametrize("bucket", [None, "cancellable_mfn", "fba_support"])
def test_orders_json_and_csv_hold_every_line_in_order(cli, tmp_path, monkeypatch, bucket):
    from incident.cli import print_json
    from incident.scope import affected as affected_in_order
    from incident.workspace.files import csv_text

    busy_incident(cli, tmp_path)
    monkeypatch.setattr(scope, "affected", lambda store, size=5000: affected_in_order(store, 4))  # many reads
    expected = _expected_records(bucket)
    assert len(expected) > 8
    options = ["--bucket", bucket] if bucket else []
    text = cli("orders", *options, "--json").stdout
    assert json.loads(text) == json.loads(json.dumps(expected, default=str))

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        print_json(expected)  # the text written in one piece before
    assert text == captured.getvalue()

    columns = list(expected[0])
    as_csv = cli("orders", *options, "--csv").stdout
    assert as_csv == csv_text(columns, (["" if r[c] is None else str(r[c]) for c in columns] for r in expected))
    assert len(list(csv.reader(io.StringIO(as_csv)))) == len(expected) + 1


def test_orders_of_an_empty_bucket_as_json_and_csv(cli, tmp_path):
    cli("open", "--sku", "NOTHING-HERE", "--start", START, "--end", END)
    assert cli.json("orders") == []
    assert cli("orders", "--csv").stdout == "order_id,bucket\n"


def test_the_orders_table_shows_the_first_lines_and_says_how_many_more(cli, tmp_path, monkeypatch):
    from incident.cli import orders as cli_orders

    busy_incident(cli, tmp_path)
    expected = _expected_records()
    monkeypatch.setattr(cli_orders, "SHOWN", 5)
    lines = cli("orders").stdout.splitlines()  # piped: tab-separated
    assert lines[0] == f"# {len(expected)} affected order lines, the first 5"
    rows = [line.split("\t") for line in lines[2:-1]]
    assert [row[0] for row in rows] == [r["order_id"] for r in expected[:5]]
    assert lines[-1] == f"# {len(expected) - 5} more affected order lines: use --csv or --json to get all {len(expected)}"
    monkeypatch.setattr(cli_orders, "SHOWN", len(expected))
    lines = cli("orders").stdout.splitlines()
    assert lines[0] == f"# {len(expected)} affected order lines" and len(lines) == len(expected) + 2


def test_notices_rendered_in_small_batches_are_those_rendered_in_one(cli, tmp_path, monkeypatch):
    from incident.notices import render

    busy_incident(cli, tmp_path)
    with store_mod.open_store(store_mod.home()) as store:
        due = render.eligible(store)[0]
    first = cli("notify", "render").stdout
    with store_mod.open_store(store_mod.home()) as store:
        one = store.conn.execute("SELECT order_id, locale, subject, body, state, problems FROM notices "
                                 "ORDER BY order_id").fetchall()
    assert [row[0] for row in one] == sorted(due) and len(one) > 5

    monkeypatch.setenv("INCIDENT_HOME", str(tmp_path / "again"))
    busy_incident(cli, tmp_path)
    original = render.render_notices
    monkeypatch.setattr(render, "render_notices", lambda *a, **k: original(*a, **{**k, "batch_size": 3}))
    monkeypatch.setattr("incident.notices.render_notices", render.render_notices)
    assert cli("notify", "render").stdout == first
    with store_mod.open_store(store_mod.home()) as store:
        again = store.conn.execute("SELECT order_id, locale, subject, body, state, problems FROM notices "
                                   "ORDER BY order_id").fetchall()
        events = [e for e in store.events() if e["action"] == "notify_render"]
    assert [tuple(r) for r in again] == [tuple(r) for r in one]
    assert len(events) == 1 and events[0]["details"]["rendered"] == len(one)
    assert "0 notices rendered, " + str(len(one)) + " unchanged" in cli("notify", "render").stdout


def test_seller_actions_of_some_orders_are_those_of_all_for_them(cli, tmp_path):
    busy_incident(cli, tmp_path)
    with store_mod.open_store(store_mod.home()) as store:
        every = store.seller_actions()
        some = sorted({order_id for order_id, _ in every.exported})[::2]
        part = store.seller_actions(some)
    assert part.exported == {key for key in every.exported if key[0] in some} and part.exported
    assert part.requests == {key: value for key, value in every.requests.items() if key[0] in some}
    assert part.fba_requested == {order_id for order_id in every.fba_requested if order_id in some}
