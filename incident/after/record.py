"""Reading an incident after the fact: any incident, open or closed, and which orders the seller
itself cancelled (the ones that count against the cancellation rate and get an apology card)."""

from __future__ import annotations

from pathlib import Path

from incident.errors import NoIncidentError
from incident.scope import CANCELLABLE, CANCELLED, CANCELLED_BY_SELLER, Decision
from incident.workspace.store import DB_NAME, Store, open_store

SELLER_FULFILLED = ("merchant", "mfn")
CANCELLED_BUCKETS = CANCELLED  # every bucket of orders already cancelled


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
    """Seller-fulfilled lines the seller cancelled, or is cancelling: cancelled at the seller's
    request (scope's own bucket), or cancellable and already in an upload file or a feed."""
    actions = store.seller_actions()
    return [d for d in decisions if seller_fulfilled(d) and (
        d.bucket == CANCELLED_BY_SELLER
        or (d.bucket == CANCELLABLE and actions.acted_on(d.line.order_id, d.line.order_item_id)))]
