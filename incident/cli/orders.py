"""Getting the orders in: pull (report files or the live API) and the sorted listing."""

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from incident.cli import (
    ByOpt,
    IncidentOpt,
    JsonOpt,
    app,
    connection,
    duration,
    err,
    money_text,
    open_store,
    out,
    print_money,
    progress,
    table,
)
from incident.errors import UsageError
from incident.safetext import csv_cell, json_inert, shown
from incident.totals import money_by_batch
from incident.workspace import store as store_mod


@app.command(rich_help_panel="During the incident")
def pull(
    report: Annotated[list[Path] | None, typer.Option("--report", help="A Seller Central order report (.txt or .gz), or - for standard input; repeat for more.")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="Force the files' encoding: utf-8, cp1252 or cp932.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Pull through the Selling Partner API instead of files.")] = False,
    plan: Annotated[bool, typer.Option("--plan", help="With --live: only show the plan and its estimated time.")] = False,
    strategy: Annotated[str | None, typer.Option("--strategy", help="With --live: force search, v0 or report.")] = None,
    repeat: Annotated[float | None, typer.Option("--repeat", metavar="MINUTES", help="With --live: pull again every MINUTES until stopped (Ctrl-C).")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Read order reports (or the live API) into the incident and sort the affected orders.

    Example: incident pull --report all-orders.txt --report unshipped.txt
    Example: incident pull --live --repeat 5
    """
    if live:
        return _pull_live(incident, by, plan, strategy, repeat)
    if not report:
        raise UsageError("give --report FILE (repeat for more), or --live to pull through the API")
    from incident import orders

    with open_store(incident) as store:
        result = orders.pull_reports(store, report, store_mod.actor(by), encoding)
        for r in result.reports:
            print(f"read {shown(r.path.name)}: {r.title}, {r.encoding}, {r.rows_read} lines, "
                  f"{r.scope_rows} for the scope's SKUs")
        print(f"{result.new_lines} new order lines, {result.updated_lines} updated")
        if result.marketplace:
            print(f"marketplace: {result.marketplace} (from the reports' sales channel)")
        for warning in result.warnings:
            err.print(f"warning: {shown(warning)}", markup=False, soft_wrap=True)
        print_money(money_by_batch(store))

def _pull_live(incident: str | None, by: str | None, plan_only: bool, strategy: str | None,
               repeat: float | None) -> None:
    import time

    from incident.amazon import live

    if strategy not in (None, "search", "v0", "report"):
        raise UsageError(f"--strategy '{strategy}' is not one of search, v0, report")
    while True:
        with open_store(incident) as store:
            api = connection(store)
            with progress() as update:
                puller = live.LivePull(store, api, store_mod.actor(by), progress=update)
                result = puller.run(force=strategy, plan_only=plan_only)
            p = result.plan
            if not result.resumed:
                ways = ", ".join(f"{name} ~{duration(sec)}" for name, sec in p.seconds.items())
                print(f"plan: {p.strategy} (about {p.estimated_orders} orders in the window, "
                      f"{p.estimated_affected} for the scope's SKUs; {ways})")
            for note in p.notes:
                print(f"note: {note}")
            if plan_only:
                return
            print(f"pulled {result.orders_seen} orders in {result.pages} pages with {result.api_calls} API calls: "
                  f"{result.new_lines} new order lines, {result.updated_lines} updated")
            print_money(money_by_batch(store))
        if not repeat:
            return
        print(f"next pull in {repeat:g} minutes (Ctrl-C to stop)")
        try:
            time.sleep(repeat * 60)
        except KeyboardInterrupt:
            print("stopped")
            return

SHOWN = 50  # order lines a terminal table shows; --csv and --json give every one


@app.command("orders", rich_help_panel="During the incident")
def list_orders(
    bucket: Annotated[str | None, typer.Option("--bucket", help="Only this bucket: cancellable_mfn, fba_support, shipped_unrecoverable, cancelled_by_seller, cancelled_before, needs_attention.")] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (to attach to a Seller Support case).")] = False,
    incident: IncidentOpt = None,
) -> None:
    """List the affected order lines, with money. No buyer data is shown.

    Example: incident orders --bucket fba_support --csv > fba-orders.csv
    """
    from incident.scope import BUCKETS, affected

    if bucket is not None and bucket not in BUCKETS:
        raise UsageError(f"--bucket '{bucket}' is not one of {', '.join(BUCKETS)}")
    with open_store(incident) as store:  # read and written a few thousand lines at a time: any size
        records = (_record(d) for d in affected(store) if bucket is None or d.bucket == bucket)
        if as_json:
            _write_json(records)
        elif as_csv:
            _write_csv(records)
        else:
            _print_table(records)


def _record(d) -> dict:
    return {
        "order_id": d.line.order_id, "order_item_id": d.line.order_item_id, "sku": d.line.sku,
        "product_name": d.line.product_name,
        "purchase_date": d.line.purchase_date, "fulfillment_channel": d.line.fulfillment_channel,
        "order_status": d.line.order_status, "units": d.units, "currency": d.line.currency,
        "list_price": d.list_price, "price_paid": d.price_paid, "charged": d.charged, "loss": d.loss,
        "promotion_ids": d.line.promotion_ids, "bucket": d.bucket, "reason": d.reason,
    }


def _write_json(records) -> None:
    """The same text as print_json(list(records)), written as the records come."""
    pieces, first = [], True
    for record in records:
        text = json.dumps(record, indent=2, ensure_ascii=False, default=str).replace("\n", "\n  ")
        pieces.append(("[\n  " if first else ",\n  ") + text)
        first = False
        if len(pieces) >= 500:
            sys.stdout.write(json_inert("".join(pieces)))
            pieces = []
    sys.stdout.write(json_inert("".join(pieces)) + ("[]\n" if first else "\n]\n"))


def _write_csv(records) -> None:
    """The same text as csv_text() of all the records, written as they come."""
    records = iter(records)
    first = next(records, None)
    columns = list(first) if first is not None else ["order_id", "bucket"]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([csv_cell(name) for name in columns])
    if first is None:
        return
    batch = [first]
    for record in records:
        batch.append(record)
        if len(batch) >= 500:
            writer.writerows([csv_cell("" if r[c] is None else str(r[c])) for c in columns] for r in batch)
            batch = []
    writer.writerows([csv_cell("" if r[c] is None else str(r[c])) for c in columns] for r in batch)


def _print_table(records) -> None:
    """The first SHOWN lines as a table, and how many more there are."""
    first, total = [], 0
    for record in records:
        total += 1
        if len(first) < SHOWN:
            first.append(record)
    more = total - len(first)
    table(f"{total} affected order lines" + (f", the first {len(first)}" if more else ""), [
        "order", "item code", "sku", "status", "channel", "units", "list", "paid", "loss", "bucket", "why"],
        [[r["order_id"], r["order_item_id"] or "-", r["sku"], r["order_status"] or "-",
          r["fulfillment_channel"] or "-", str(r["units"]), money_text(r["list_price"], None),
          money_text(r["price_paid"], None), money_text(r["loss"], None), r["bucket"], r["reason"]]
         for r in first], notes="why")
    if more:
        note = f"{more} more affected order lines: use --csv or --json to get all {total}"
        print(note if out.is_terminal else f"# {note}")
