"""What the incident cost, per currency, from the orders and from what was entered by hand.

Entered through the event log, so nothing is typed twice: costs (`incident cost add`, e.g. a paid
account-manager service), a unit cost per SKU (for the goods given away), and the promotion fees
Amazon still charges (entered, or read from a Promotions API answer's `feeSnapshot`). Amazon's bill
is the authority on fees; these are the rates the seller agreed to, applied to the orders we know.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from incident.after.record import CANCELLED_BUCKETS
from incident.amazon import marketplaces
from incident.errors import InputFileError, UsageError
from incident.scope import ATTENTION, CANCELLABLE, FBA, SHIPPED, Decision
from incident.timeutil import parse_iso
from incident.workspace.store import Store

COST_ACTION, UNIT_COST_ACTION, FEE_ACTION = "cost_added", "unit_cost_set", "promotion_fee_added"


def amount(text: str, option: str = "AMOUNT") -> Decimal:
    try:
        value = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise UsageError(f"{option} '{text}' is not an amount: write it like 21800 or 70.50") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"{option} must be a positive amount")
    return value


def _currency(store: Store, currency: str | None) -> str:
    if currency:
        if len(currency.strip()) != 3 or not currency.strip().isalpha():
            raise UsageError(f"--currency '{currency}' is not a currency code: write it like USD, EUR or JPY")
        return currency.strip().upper()
    market = marketplaces.BY_CODE.get(store.incident().marketplace or "")
    if market is None:
        raise UsageError("the incident's marketplace is not known yet: give --currency")
    return market.currency


def add_cost(store: Store, who: str, value: str, what: str, currency: str | None = None, fee: bool = False) -> dict:
    if not what.strip():
        raise UsageError("say what the cost was with --what")
    details = {"amount": str(amount(value)), "currency": _currency(store, currency), "what": what.strip(),
               "kind": "promotion_fee" if fee else "cost"}
    with store.change(who, FEE_ACTION if fee else COST_ACTION, details):
        pass
    return details


def set_unit_cost(store: Store, who: str, value: str, sku: str | None = None, currency: str | None = None) -> dict:
    skus = store.incident().skus
    if sku is None and len(skus) > 1:
        raise UsageError(f"this incident has several SKUs ({', '.join(skus)}): name one with --sku")
    chosen = sku or skus[0]
    if chosen not in skus:
        raise UsageError(f"--sku '{chosen}' is not in this incident: use one of {', '.join(skus)}")
    details = {"sku": chosen, "amount": str(amount(value)), "currency": _currency(store, currency)}
    with store.change(who, UNIT_COST_ACTION, details):
        pass
    return details


def read_fee_snapshot(path: Path) -> list[dict[str, Any]]:
    """The fees of each promotion in a saved Promotions API answer (getPromotion or
    searchPromotions, as JSON): upfront fee, its frequency, the days it ran, the sales share."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "no such file", "Check the path") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        raise InputFileError(path, "is not JSON", "Save the Promotions API answer as it came", line, column) from None
    found = []
    for promotion in _promotions(document):
        rates = (promotion.get("feeSnapshot") or {}).get("previewedFeeRates") or {}
        upfront, variable = rates.get("upfrontFee") or {}, rates.get("variableFee") or {}
        if not upfront and not variable:
            continue
        schedule = promotion.get("schedule") or {}
        days = 1
        if schedule.get("startDate") and schedule.get("endDate"):
            span = parse_iso(schedule["endDate"]) - parse_iso(schedule["startDate"])
            days = max(1, math.ceil(span.total_seconds() / 86400))
        rate, cap = upfront.get("rate") or {}, variable.get("feeCapAmount") or {}
        found.append({"promotion_id": str(promotion.get("promotionId") or promotion.get("trackingId") or "?"),
                      "type": promotion.get("promotionType"), "title": promotion.get("promotionTitle"),
                      "upfront": str(rate["amount"]) if "amount" in rate else None,
                      "frequency": upfront.get("frequency"), "days": days,
                      "sales_share": str(variable["salesPercentage"]) if "salesPercentage" in variable else None,
                      "cap": str(cap["amount"]) if "amount" in cap else None,
                      "currency": rate.get("currencyCode") or cap.get("currencyCode")})
    if not found:
        raise InputFileError(path, "holds no promotion with a feeSnapshot", "Save the getPromotion answer of the "
                             "coupon or deal involved (Promotions API 2025-12-01), or enter the fee with "
                             "`incident cost add AMOUNT --what TEXT --fee`")
    return found


def _promotions(document: Any) -> list[dict]:
    if isinstance(document, dict):
        if "promotionId" in document or "feeSnapshot" in document:
            return [document]
        for key in ("promotion", "promotions", "payload"):
            if key in document:
                return _promotions(document[key])
    if isinstance(document, list):
        return [p for item in document for p in _promotions(item)]
    return []


def add_fees_from(store: Store, who: str, path: Path) -> list[dict]:
    fees = read_fee_snapshot(path)
    for fee in fees:
        fee["currency"] = fee["currency"] or _currency(store, None)
        with store.change(who, FEE_ACTION, {"kind": "promotion_fee", "source": Path(path).name, **fee}):
            pass
    return fees


def _fee_amount(fee: dict, sales: Decimal) -> Decimal:
    """A fee event's amount: entered, or upfront (x days when daily) plus the capped sales share."""
    if fee.get("amount") is not None:
        return Decimal(fee["amount"])
    total = Decimal(fee["upfront"] or 0) * (fee["days"] if fee.get("frequency") == "DAILY" else 1)
    if fee.get("sales_share") is not None:
        share = Decimal(fee["sales_share"]) * sales
        total += min(share, Decimal(fee["cap"])) if fee.get("cap") is not None else share
    return total


def money(store: Store, decisions: list[Decision], cancelled_by_us: list[Decision]) -> dict[str, dict[str, Any]]:
    """Per currency: revenue lost on shipped lines, goods lost at unit cost, what cancelling saved,
    what is still at stake, fees, costs entered, and the total."""
    events = store.events()
    unit_costs = {(e["details"]["sku"], e["details"]["currency"]): Decimal(e["details"]["amount"])
                  for e in events if e["action"] == UNIT_COST_ACTION}  # the latest entry wins
    ours = {id(d) for d in cancelled_by_us}
    result: dict[str, dict[str, Any]] = {}

    def entry(currency: str) -> dict[str, Any]:
        return result.setdefault(currency, {
            "shipped_orders": set(), "shipped_units": 0, "revenue_lost": Decimal(0), "goods_lost": None,
            "saved_orders": set(), "saved_units": 0, "saved": Decimal(0), "saved_by_us_orders": set(),
            "at_stake_orders": set(), "at_stake": Decimal(0), "fees": [], "costs": [], "unit_cost": None})

    for d in decisions:
        currency = d.line.currency or ""
        values = entry(currency)
        loss = d.discount or Decimal(0)  # lost if shipped, saved if cancelled
        if d.bucket == SHIPPED:
            values["shipped_orders"].add(d.line.order_id)
            values["shipped_units"] += d.units
            values["revenue_lost"] += loss
            unit_cost = unit_costs.get((d.line.sku, currency))
            if unit_cost is not None:
                values["unit_cost"] = unit_cost
                given = unit_cost * d.units - (d.price_paid or Decimal(0))
                values["goods_lost"] = (values["goods_lost"] or Decimal(0)) + max(given, Decimal(0))
        elif d.bucket in CANCELLED_BUCKETS or id(d) in ours:
            values["saved_orders"].add(d.line.order_id)
            values["saved_units"] += d.units
            values["saved"] += loss
            if id(d) in ours:
                values["saved_by_us_orders"].add(d.line.order_id)
        elif d.bucket in (CANCELLABLE, FBA, ATTENTION):
            values["at_stake_orders"].add(d.line.order_id)
            values["at_stake"] += loss
    for e in events:
        if e["action"] in (FEE_ACTION, COST_ACTION):
            details = e["details"]
            values = entry(details["currency"])
            sales = sum((d.price_paid or Decimal(0) for d in decisions
                         if d.bucket == SHIPPED and (d.line.currency or "") == details["currency"]), Decimal(0))
            item = {"what": details.get("what") or _fee_title(details), "amount": _fee_amount(details, sales),
                    "at": e["at"], "by": e["actor"]}
            values["fees" if e["action"] == FEE_ACTION else "costs"].append(item)
    for currency, values in result.items():
        for name in ("shipped_orders", "saved_orders", "saved_by_us_orders", "at_stake_orders"):
            values[name] = len(values[name])
        values["fees_total"] = sum((f["amount"] for f in values["fees"]), Decimal(0))
        values["costs_total"] = sum((c["amount"] for c in values["costs"]), Decimal(0))
        lost = values["goods_lost"] if values["goods_lost"] is not None else values["revenue_lost"]
        values["total"] = lost + values["fees_total"] + values["costs_total"]
        values["total_basis"] = "goods lost at unit cost" if values["goods_lost"] is not None else "revenue lost"
    return dict(sorted(result.items()))


def _fee_title(details: dict) -> str:
    kind = (details.get("type") or "promotion").replace("_", " ").lower()
    parts = [f"{kind} fee, {details.get('title') or details.get('promotion_id')}"]
    if details.get("upfront") is not None:
        parts.append(f"{details['upfront']} {('a day x ' + str(details['days'])) if details.get('frequency') == 'DAILY' else 'once'}")
    if details.get("sales_share") is not None:
        parts.append(f"{Decimal(details['sales_share']) * 100:g}% of the sales that stand"
                     + (f", at most {details['cap']}" if details.get("cap") else ""))
    return "; ".join(parts)
