"""Whether a checklist step's command can succeed now, so that `next` and `guide` never suggest a
command that will fail: each rule says what stands in the way and what to do instead."""

from __future__ import annotations

from incident.notices.render import eligible
from incident.scope import CANCELLABLE, CANCELLED_BY_SELLER, FBA, sort_store
from incident.workspace.store import Store


def blocker(store: Store, step_id: str) -> str | None:
    """Why the step's command would fail in the incident's current state, or None."""
    lines = store.lines()
    if step_id in ("scope-orders", "stop-bleeding", "review-promotions"):
        return None
    if not lines:
        return "no order is in the incident yet: pull the reports first (`incident pull`)"
    sorted_lines = sort_store(store, lines)
    buckets = {d.bucket for d in sorted_lines}
    actions = store.seller_actions()
    if step_id == "cancel-export":
        waiting = [d for d in sorted_lines if d.bucket == CANCELLABLE and not d.in_flight
                   and (d.line.order_id, d.line.order_item_id or "") not in actions.exported]
        if not waiting:
            return ("every cancellable order is already in an upload file or a feed" if CANCELLABLE in buckets
                    else f"no order can be cancelled by you now (`incident orders`); skip: `incident step skip "
                         f"{step_id} --reason \"nothing to cancel\"`")
    if step_id == "cancel-upload" and not store.exports() and not actions.requests:
        return "write the upload file first (`incident cancel export`), or submit by feed (`incident cancel submit`)"
    if step_id == "fba-request" and FBA not in buckets:
        return f"no FBA order in the incident: skip it (`incident step skip {step_id} --reason \"no FBA orders\"`)"
    if step_id == "notify-buyers" and not eligible(store, lines)[0]:
        return ("no buyer is owed a notice yet: a buyer is owed one once you export or submit the "
                "cancellation, or ask Seller Support to cancel the FBA order")
    if step_id == "annotation-request" and CANCELLED_BY_SELLER not in buckets:
        return ("no order is cancelled at your request yet: once Amazon has processed the cancellations, "
                "pull again (`incident pull`), then write the request")
    return None
