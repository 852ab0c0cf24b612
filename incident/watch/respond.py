"""What the watch does on a confirmed bad price, when asked: open an incident for the SKU with a
window from the first bad order (seeded with the order lines the watch saw, so `incident status`
and the FBA request are ready when the manager arrives), and stop the seller-fulfilled sales
(quantity 0 through stop-sales, recorded in the incident for `--undo`, the checklist step ticked).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from incident import orders
from incident.amazon import listings
from incident.amazon.reports import ReportLine
from incident.amazon.spapi import Connection
from incident.timeutil import iso_utc
from incident.watch.state import WatchDB
from incident.workspace import runbook, store

WINDOW = timedelta(hours=24)  # the end of the bad price is not known yet: the manager narrows it
STOP_STEP = "stop-bleeding"


def open_incident(db: WatchDB, home: Path, sku: str, first_at: datetime, floor: Decimal | None,
                  marketplace: str | None, who: str) -> store.Store:
    start = first_at.replace(microsecond=0)
    opened = store.create(home, title=f"Watch: stacked price on {sku}", skus=[sku], window_start=start,
                          window_end=start + WINDOW, floor=floor, marketplace=marketplace, who=who,
                          steps=runbook.load())
    seed(db, opened, sku, who)
    return opened


def seed(db: WatchDB, incident_store: store.Store, sku: str, who: str) -> int:
    """The watch's order lines of the SKU since the window's start, as report-shaped lines: their
    channel, status and item codes (and price, where checked) sort them into buckets at once."""
    incident = incident_store.incident()
    lines = []
    for row in db.orders_of(sku, iso_utc(incident.window_start)):
        quantity = row["quantity"] or 1
        fields = {"order_item_id": row["order_item_id"], "purchase_date": row["purchase_date"],
                  "order_status": row["status"], "fulfillment_channel": row["channel"], "quantity": quantity,
                  "currency": row["currency"]}
        if row["list_unit"] is not None:
            fields["item_price"] = Decimal(row["list_unit"]) * quantity
            fields["item_promotion_discount"] = (Decimal(row["list_unit"]) - Decimal(row["net_unit"])) * quantity
        lines.append(ReportLine(row["order_id"], sku, 0, {k: v for k, v in fields.items() if v is not None}))
    details = {"lines": len(lines)}
    with incident_store.change(who, "watch_seed", details) as conn:
        new, updated = orders.merge_into(incident_store, conn, incident, lines)
        details.update(new_lines=new, updated_lines=updated)
    return new


def stop_sales(incident_store: store.Store, connection: Connection, who: str) -> list[str]:
    """Quantity 0 for the incident's seller-fulfilled SKUs; ticks the stop step with what is left by hand."""
    result = listings.stop_sales(incident_store, connection, who)
    stopped = [sku for sku, _, after in result.changed if after == 0]
    if stopped and incident_store.step(STOP_STEP)["state"] == "open":
        note = (f"incident watch set the seller-fulfilled quantity to 0 for {', '.join(stopped)}; "
                "end the promotion, coupon or deal by hand (FBA orders go on until then)")
        runbook.mark(incident_store, STOP_STEP, "done", who, note)
    return stopped
