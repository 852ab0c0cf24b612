"""Which order lines an incident affects, and which bucket each one is in.

An affected line is one of the scope's SKUs, bought inside the window [start, end), and, when a
price floor is set, sold at a net unit price below it. Each affected line lands in exactly one
bucket; the reason says why, so a manager can check any single decision.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from incident.workspace.store import Incident, OrderLine, SellerActions, line_batches, lines_in_order

CANCELLABLE = "cancellable_mfn"
FBA = "fba_support"
SHIPPED = "shipped_unrecoverable"
CANCELLED_BY_SELLER = "cancelled_by_seller"
CANCELLED_BEFORE = "cancelled_before"
ATTENTION = "needs_attention"
BUCKETS = [CANCELLABLE, FBA, SHIPPED, CANCELLED_BY_SELLER, CANCELLED_BEFORE, ATTENTION]
CANCELLED = (CANCELLED_BY_SELLER, CANCELLED_BEFORE)
BUCKET_TITLES = {
    CANCELLABLE: "Cancel now (seller-fulfilled, not shipped)",
    FBA: "FBA: only Seller Support can cancel",
    SHIPPED: "Shipped: a loss",
    CANCELLED_BY_SELLER: "Cancelled by you (the buyer is owed a notice)",
    CANCELLED_BEFORE: "Cancelled before you acted (buyer or Amazon)",
    ATTENTION: "Needs attention",
}
_SELLER = {"merchant", "seller"}  # Orders 2026-01-01 cancellationExecution.cancelledBy

_OPEN_STATUSES = {"pending", "unshipped", "pendingavailability"}
_SHIPPED_STATUSES = {"shipped", "shipping", "delivered", "invoiceunconfirmed"}
_CANCELLED_STATUSES = {"cancelled", "canceled"}


@dataclass
class Decision:
    line: OrderLine
    bucket: str
    reason: str
    in_flight: bool = False  # in a submitted feed whose result is not in yet

    @property
    def fulfilled_by_amazon(self) -> bool:
        return (self.line.fulfillment_channel or "").lower() in ("amazon", "afn")

    @property
    def units(self) -> int:
        return self.line.quantity or 0

    @property
    def list_price(self) -> Decimal | None:
        """What the line costs before promotions: item-price covers unit price x quantity."""
        return self.line.item_price

    @property
    def price_paid(self) -> Decimal | None:
        if self.line.item_price is None:
            return None
        return self.line.item_price - abs(self.line.item_promotion_discount or Decimal(0))

    @property
    def discount(self) -> Decimal | None:
        """The discount the line was sold at: what it loses if it ships, what cancelling saves."""
        if self.line.item_price is None:
            return None
        return abs(self.line.item_promotion_discount or Decimal(0))

    @property
    def loss(self) -> Decimal | None:
        """The money lost if the line ships. A cancelled line loses nothing."""
        return None if self.bucket in CANCELLED else self.discount

    @property
    def charged(self) -> Decimal | None:
        """What the buyer was charged for the line: item, shipping and gift wrap with their
        taxes, less the item's and the shipping's promotions."""
        line = self.line
        if line.item_price is None:
            return None
        added = (line.item_tax, line.shipping_price, line.shipping_tax, line.gift_wrap_price, line.gift_wrap_tax)
        taken = (line.item_promotion_discount, line.ship_promotion_discount)
        return (line.item_price + sum((v for v in added if v is not None), Decimal(0))
                - sum((abs(v) for v in taken if v is not None), Decimal(0)))

    @property
    def net_unit_price(self) -> Decimal | None:
        paid = self.price_paid
        if paid is None or not self.line.quantity:
            return None
        return paid / self.line.quantity


def _norm(status: str | None) -> str | None:
    return status.replace(" ", "").replace("_", "").lower() if status else None


def decide(line: OrderLine, incident: Incident, actions: SellerActions | None = None) -> Decision | None:
    """The bucket of one line, or None when the line is not affected. `actions`: what the seller
    did (feeds with Amazon's answers, upload files, the FBA request), kept apart from what Amazon
    says of the order, so that a line cancelled at the seller's request stays owed a notice."""
    if line.sku not in incident.skus or not incident.in_window(line.purchase_date):
        return None
    decision = Decision(line, ATTENTION, "")
    net = decision.net_unit_price
    if incident.floor is not None and net is not None and net >= incident.floor:
        return None
    order_status, item_status = _norm(line.order_status), _norm(line.item_status)
    channel = (line.fulfillment_channel or "").lower()

    def bucket(name: str, reason: str) -> Decision:
        decision.bucket, decision.reason = name, reason
        return decision

    requests = actions.requests if actions else {}
    request_state, message = requests.get((line.order_id, line.order_item_id or ""), (None, None))
    if order_status in _CANCELLED_STATUSES or item_status in _CANCELLED_STATUSES or request_state == "accepted":
        return _cancelled(decision, line, actions)
    if (order_status in _SHIPPED_STATUSES or item_status in _SHIPPED_STATUSES
            or (line.quantity and line.quantity_shipped and line.quantity_shipped >= line.quantity)):
        return bucket(SHIPPED, "already shipped: only a refund is possible")
    if channel in ("amazon", "afn"):
        return bucket(FBA, "fulfilled by Amazon: ask Seller Support to cancel before it is picked")
    if channel not in ("merchant", "mfn"):
        return bucket(ATTENTION, "fulfilment channel unknown: pull the All Orders report")
    if order_status == "partiallyshipped" or (line.quantity_shipped or 0) > 0:
        # the cancellation file would refund the whole order; Amazon wants an adjustment here
        return bucket(ATTENTION, "order partly shipped: refund this item from the order page "
                                 "(Manage Orders > Refund order), the upload file cannot")
    if order_status is None and not line.quantity_to_ship:
        return bucket(ATTENTION, "order status unknown: pull the All Orders report")
    if order_status is not None and order_status not in _OPEN_STATUSES:
        return bucket(ATTENTION, f"unexpected order status '{line.order_status}'")
    if line.order_item_id is None:
        if order_status == "pending":
            return bucket(ATTENTION, "pending: Amazon shows no item code until payment clears; "
                                     "pull again in a few minutes")
        return bucket(ATTENTION, "no order-item-id: pull the Unshipped Orders report too")
    if incident.floor is not None and net is None:
        return bucket(ATTENTION, "price unknown (Amazon hides prices of pending orders): cannot "
                                 "compare with the floor yet; pull again later")
    if request_state == "rejected":
        return bucket(ATTENTION, f"Amazon refused the cancellation: {message}")
    if request_state == "in_flight":
        decision.in_flight = True
        return bucket(CANCELLABLE, "in a submitted feed, waiting for Amazon's result")
    return bucket(CANCELLABLE, "seller-fulfilled and not shipped")


def _cancelled(decision: Decision, line: OrderLine, actions: SellerActions | None) -> Decision:
    """Who cancelled: the buyer (no notice needed), the seller or Amazon at the seller's request
    (the buyer is owed one), or somebody before the seller acted."""
    by = (line.cancelled_by or "").lower()
    if by == "buyer":
        decision.bucket, decision.reason = CANCELLED_BEFORE, "cancelled by the buyer"
    elif by in _SELLER:
        decision.bucket, decision.reason = CANCELLED_BY_SELLER, "cancelled by the seller"
    elif actions is not None and actions.acted_on(line.order_id, line.order_item_id):
        decision.bucket, decision.reason = CANCELLED_BY_SELLER, "cancelled after your upload, feed or request"
    else:
        decision.bucket, decision.reason = CANCELLED_BEFORE, "cancelled before you acted"
    return decision


def sort_lines(lines: list[OrderLine], incident: Incident, actions: SellerActions | None = None) -> list[Decision]:
    return [d for d in (decide(line, incident, actions) for line in lines) if d is not None]


def sort_store(store, lines: list[OrderLine] | None = None) -> list[Decision]:
    """Every affected line of an incident, with what the seller did about it. `lines`: the
    store's lines, when the caller has already read them."""
    return sort_lines(store.lines() if lines is None else lines, store.incident(), store.seller_actions())


def decided_batches(store, size: int = 20000) -> Iterator[tuple[list[Decision], SellerActions]]:
    """The affected lines a batch of whole orders at a time (about `size` lines), each with what
    the seller did about its orders: the same decisions as sort_store(), in the memory of a
    batch whatever the incident's size."""
    incident = store.incident()
    for batch in line_batches(store, size):
        actions = store.seller_actions(sorted({line.order_id for line in batch}))
        yield sort_lines(batch, incident, actions), actions


def affected(store, size: int = 5000) -> Iterator[Decision]:
    """Every affected line in sort_store()'s order (purchase date, order), read `size` lines at
    a time."""
    incident = store.incident()
    for lines in lines_in_order(store, size):
        yield from sort_lines(lines, incident, store.seller_actions(sorted({line.order_id for line in lines})))


def counts(decisions: list[Decision]) -> dict[str, int]:
    """Orders per bucket (an order with lines in two buckets counts in both), plus totals."""
    result = {"affected_orders": len({d.line.order_id for d in decisions}),
              "affected_units": sum(d.units for d in decisions)}
    for name in BUCKETS:
        result[name] = len({d.line.order_id for d in decisions if d.bucket == name})
    return result


def money(decisions: list[Decision]) -> dict[str, dict[str, object]]:
    """Per bucket: lines, units and, per currency, list price, price paid, what the buyers were
    charged in all, and the loss (none for cancelled lines)."""
    result: dict[str, dict[str, object]] = {}
    for name in BUCKETS:
        chosen = [d for d in decisions if d.bucket == name]
        totals: dict[str, dict[str, Decimal]] = {}
        for d in chosen:
            if d.list_price is None:
                continue
            currency = d.line.currency or ""
            entry = totals.setdefault(currency, {"list_price": Decimal(0), "price_paid": Decimal(0),
                                                 "charged": Decimal(0)}
                                      | ({} if name in CANCELLED else {"loss": Decimal(0)}))
            entry["list_price"] += d.list_price
            entry["price_paid"] += d.price_paid
            entry["charged"] += d.charged
            if d.loss is not None:
                entry["loss"] += d.loss
        result[name] = {"orders": len({d.line.order_id for d in chosen}), "lines": len(chosen),
                        "units": sum(d.units for d in chosen),
                        "unpriced_lines": sum(1 for d in chosen if d.list_price is None),
                        "totals": {c: {k: str(v) for k, v in t.items()} for c, t in totals.items()}}
    return result
