"""Second-person approval: an approval covers a promotion's content as it was approved (a hash of
its products, discount and dates); the person who set it up cannot approve it; any later change
voids it, for good, with an event saying what changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from incident.errors import StateError, UsageError
from incident.prevent.flags import Flag, ended
from incident.prevent.model import Promotion
from incident.workspace.account import Account

_PARTS = {"products": ("items", "excluded", "catalog"), "discount": ("benefit", "item_benefits", "stacking", "claim_code", "budget",
          "per_customer_uses", "kind"), "dates": ("start", "end")}


class SelfApprovalError(StateError):
    """The approver set the promotion up: a second person must approve it."""


@dataclass
class Approval:
    promotion_id: str
    state: str  # valid, void or missing
    by: str | None = None
    at: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {"state": self.state, "by": self.by, "at": self.at, "reason": self.reason}


def same_person(a: str | None, b: str | None) -> bool:
    return bool(a and b) and " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def approve(account: Account, promotion: Promotion, by: str) -> tuple[Approval, bool]:
    """Records `by`'s approval of the promotion's current content. Returns the approval and
    whether it is new (False: the same content was already approved)."""
    if not by.strip():
        raise UsageError("--by must name the person approving")
    if not promotion.is_promotion:
        raise UsageError(f"{promotion.id} is a sale price, not a promotion: it needs no approval")
    if same_person(by, promotion.set_up_by):
        raise SelfApprovalError(f"{promotion.id} ('{promotion.title}') was set up by {promotion.set_up_by}: {by} "
                                "cannot approve it; a second person must check it against the coupons already live")
    current = promotion.content_hash()
    latest = account.approvals().get(promotion.id)
    if latest is not None and not latest["voided_at"]:
        if latest["content_hash"] == current:
            return Approval(promotion.id, "valid", latest["approved_by"], latest["approved_at"]), False
        account.void(by, latest["id"], promotion.id, _changed(latest["content"], promotion))
    account.approve(by, promotion.id, promotion.content(), current, promotion.set_up_by)
    latest = account.approvals()[promotion.id]
    return Approval(promotion.id, "valid", latest["approved_by"], latest["approved_at"]), True


def _changed(approved: str, promotion: Promotion) -> str:
    before, now = json.loads(approved), promotion.content()
    parts = [part for part, keys in _PARTS.items() if any(before.get(k) != now.get(k) for k in keys)]
    return f"{' and '.join(parts) or 'content'} changed since the approval"


def check(account: Account, promotions: list[Promotion], at: datetime, who: str) -> tuple[dict[str, Approval], list[Flag]]:
    """Each current promotion's approval, voiding those whose promotion changed, and a flag for
    every promotion without a valid one."""
    approvals = account.approvals()
    states: dict[str, Approval] = {}
    flags: list[Flag] = []
    for promotion in promotions:
        if not promotion.is_promotion:
            continue
        row = approvals.get(promotion.id)
        if row is None:
            state = Approval(promotion.id, "missing")
        elif row["voided_at"]:
            state = Approval(promotion.id, "void", row["approved_by"], row["approved_at"], row["void_reason"])
        elif row["content_hash"] != promotion.content_hash():
            reason = _changed(row["content"], promotion)
            account.void(who, row["id"], promotion.id, reason)
            state = Approval(promotion.id, "void", row["approved_by"], row["approved_at"], reason)
        else:
            state = Approval(promotion.id, "valid", row["approved_by"], row["approved_at"])
        states[promotion.id] = state
        if state.state == "valid" or ended(promotion, at):
            continue
        name = f"'{promotion.title}' ({promotion.kind.lower().replace('_', ' ')})"
        if state.state == "missing":
            reason = f"{name} has no approval: a second person runs `incident preflight approve {promotion.id} --by NAME`"
        else:
            reason = f"the approval of {name} by {state.by} is void ({state.reason}): it needs a new one"
        flags.append(Flag("not_approved", reason, [promotion.id]))
    return states, flags
