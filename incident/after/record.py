"""Reading an incident after the fact: any incident, open or closed, and which orders the seller
itself cancelled (the ones that count against the cancellation rate and get an apology card)."""

from __future__ import annotations

from pathlib import Path

from incident.errors import NoIncidentError
from incident.scope import ATTENTION, BUCKETS, CANCELLABLE, FBA, SHIPPED, Decision
from incident.workspace.store import DB_NAME, Store, open_store

SELLER_FULFILLED = ("merchant", "mfn")
# Every bucket of orders already cancelled, however scope names and splits them.
CANCELLED_BUCKETS = tuple(b for b in BUCKETS if b not in (CANCELLABLE, FBA, SHIPPED, ATTENTION))


def open_any(root: Path, incident_id: str | None = None) -> Store:
    """The named incident; else the most recent open one; else the most recent one at all, so a
    closed incident can still be reported, checked and purged without its id."""
    try:
        return open_store(root, incident_id)
    except NoIncidentError:
        if incident_id:
            raise
    newest = sorted(root.glob(f"*/{DB_NAME}"), reverse=True) if root.exists() else []
    if not newest:
        raise NoIncidentError(f"no incident under {root}: start one with `incident open --sku SKU --start TIME "
                              "--end TIME` (or set INCIDENT_HOME to where your incidents are)")
    return Store(newest[0].parent)


def seller_fulfilled(decision: Decision) -> bool:
    return (decision.line.fulfillment_channel or "").lower() in SELLER_FULFILLED


def cancelled_by_seller(store: Store, decisions: list[Decision]) -> list[Decision]:
    """Seller-fulfilled lines the seller cancelled, or is cancelling: accepted by a feed, marked
    cancelled by the merchant in the Orders API, or waiting in a cancellation file already written."""
    requests = store.cancel_requests()
    exported = bool(store.exports())
    chosen = []
    for decision in decisions:
        if not seller_fulfilled(decision):
            continue
        line = decision.line
        accepted = requests.get((line.order_id, line.order_item_id or ""), (None,))[0] == "accepted"
        by_merchant = (line.cancelled_by or "").upper() in ("MERCHANT", "SELLER")
        if accepted or by_merchant or (decision.bucket == CANCELLABLE and (exported or decision.in_flight)):
            chosen.append(decision)
    return chosen
