"""The drill's scorecard: how long each step took from the first bad order (simulated seconds),
the orders and money saved and lost per bucket, against doing nothing and against the real
incident (300 of 400 saved in an hour), each step rated on four levels. Kept as JSON under
$INCIDENT_HOME/.account/drills/ so the next drill is compared with the last one of its scenario."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from incident.workspace import reserved
from incident.workspace.files import write_private

LEVELS = ("done without problems", "done with some problems", "done with major problems", "not done")
REAL_INCIDENT = {"orders": 400, "saved": 300, "lost": 100, "minutes": 60}


def _seconds(at: datetime | None, origin: datetime) -> float | None:
    return None if at is None else round((at - origin).total_seconds(), 1)


def _rate(seconds: float | None, good: float, fair: float, problems: bool = False) -> str:
    if seconds is None:
        return LEVELS[3]
    level = 0 if seconds <= good else 1 if seconds <= fair else 2
    return LEVELS[max(level, 1 if problems else 0)]


def score(env, *, detected: datetime | None, fba_request: datetime | None, notified: datetime | None,
          notices_sent: int = 0, notices_due: int = 0, refused: int = 0, mode: str = "push",
          autopilot: bool = True) -> dict[str, Any]:
    sim, world, truth, scenario = env.sim, env.world, env.truth, env.scenario
    first = truth.first_bad_at
    stops = sim.off_sale.get(truth.sku) or []
    stopped = min((s for s, _ in stops), default=None)
    submitted = min((datetime.fromtimestamp(f["created"], first.tzinfo) for f in sim.feeds.values()), default=None)
    buckets = {k: {"orders": 0, "money": Decimal(0)} for k in
               ("mfn_saved", "mfn_lost", "mfn_prevented", "fba_saved", "fba_lost")}
    total = Decimal(0)
    for order in truth.bad:
        loss = sum((i.discount for i in order.items if i.product.sku == truth.sku), Decimal(0))
        total += loss
        if order.channel == "Merchant":
            if not sim._visible(order, order.purchase_date):
                key = "mfn_prevented"  # the offer was at quantity 0: the order never happened
            else:
                bad_items = [i for i in order.items if i.product.sku == truth.sku]
                key = "mfn_saved" if all(i.status == "Cancelled" for i in bad_items) else "mfn_lost"
        else:
            key = "fba_saved" if order.order_id in world.support_cancelled or order.status == "Cancelled" else "fba_lost"
        buckets[key]["orders"] += 1
        buckets[key]["money"] += loss
    mfn_placed = buckets["mfn_saved"]["orders"] + buckets["mfn_lost"]["orders"]
    fba_savable = scenario.fba_pick_minutes - scenario.support_minutes
    saved = sum(buckets[k]["orders"] for k in ("mfn_saved", "mfn_prevented", "fba_saved"))
    card = {
        "scenario": scenario.name, "mode": mode, "autopilot": autopilot, "first_bad_order_at": first.isoformat(),
        "currency": truth.currency, "sku": truth.sku,
        "time_to_detect_s": _seconds(detected, first),
        "time_to_stop_sales_s": _seconds(stopped, first),
        "time_to_submit_s": _seconds(submitted, first),
        "time_to_fba_request_s": _seconds(fba_request, first),
        "time_to_notify_s": _seconds(notified, first),
        "mfn_orders_saved": buckets["mfn_saved"]["orders"], "mfn_orders_lost": buckets["mfn_lost"]["orders"],
        "mfn_orders_prevented": buckets["mfn_prevented"]["orders"],
        "fba_orders_saved": buckets["fba_saved"]["orders"], "fba_orders_lost": buckets["fba_lost"]["orders"],
        "mfn_saved_share": round(buckets["mfn_saved"]["orders"] / mfn_placed, 4) if mfn_placed else None,
        "money": {k: str(v["money"]) for k, v in buckets.items()},
        "orders_at_bad_price": len(truth.bad),
        "saved_share": round(saved / len(truth.bad), 4) if truth.bad else None,
        "against_doing_nothing": {"orders_lost": len(truth.bad), "money_lost": str(total)},
        "against_the_real_incident": {**REAL_INCIDENT, "saved_share": REAL_INCIDENT["saved"] / REAL_INCIDENT["orders"]},
        "notices": {"sent": notices_sent, "due": notices_due},
    }
    detect = card["time_to_detect_s"]
    card["ratings"] = {
        "detect": _rate(detect, 60, 300),
        "stop_sales": _rate(card["time_to_stop_sales_s"], 120, 600),
        "submit": _rate(card["time_to_submit_s"], 600, 1800, problems=refused > 0),
        "fba_request": _rate(card["time_to_fba_request_s"], fba_savable * 60, scenario.fba_pick_minutes * 60),
        "notify": LEVELS[3] if not notices_sent else _rate(card["time_to_notify_s"], 7200, 86400,
                                                            problems=notices_sent < notices_due),
    }
    return card


def keep(card: dict[str, Any], home: Path, run_id: str) -> tuple[Path, dict[str, Any] | None]:
    """Save the scorecard; the previous one of the same scenario, if any."""
    folder = reserved.drills(home)
    previous = None
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("scenario") == card["scenario"] and data.get("mode") == card["mode"]:
            previous = data
    path = folder / f"{run_id}-{card['scenario']}.json"
    write_private(path, (json.dumps(card, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return path, previous


def lines(card: dict[str, Any], previous: dict[str, Any] | None = None) -> list[str]:
    """The scorecard for a terminal."""
    def secs(value: float | None) -> str:
        return "not done" if value is None else f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"

    def was(key: str) -> str:
        return f"  (last drill: {secs(previous.get(key))})" if previous and key in previous else ""

    result = [f"Drill {card['scenario']} ({card['mode']}{', autopilot' if card['autopilot'] else ''}): "
              f"{card['orders_at_bad_price']} orders of {card['sku']} at the stacked price from {card['first_bad_order_at']}"]
    steps = [("detect", "time_to_detect_s", "Detected"), ("stop_sales", "time_to_stop_sales_s", "Sales stopped"),
             ("submit", "time_to_submit_s", "Cancellation submitted"),
             ("fba_request", "time_to_fba_request_s", "FBA request ready"), ("notify", "time_to_notify_s", "Buyers told")]
    for rating, key, title in steps:
        result.append(f"  {title:<24} {secs(card[key]):>10}  {card['ratings'][rating]}{was(key)}")
    money = card["money"]
    result.append(f"  Seller-fulfilled: {card['mfn_orders_saved']} saved ({money['mfn_saved']} {card['currency']}), "
                  f"{card['mfn_orders_lost']} lost ({money['mfn_lost']}), {card['mfn_orders_prevented']} never placed "
                  f"(offer at quantity 0)")
    result.append(f"  FBA: {card['fba_orders_saved']} saved ({money['fba_saved']} {card['currency']}), "
                  f"{card['fba_orders_lost']} lost ({money['fba_lost']})")
    share = card["saved_share"]
    result.append(f"  Saved {share:.0%} of the orders at the stacked price; doing nothing loses all "
                  f"{card['against_doing_nothing']['orders_lost']} ({card['against_doing_nothing']['money_lost']} "
                  f"{card['currency']}); the real incident saved 300 of 400 (75%) in an hour" if share is not None
                  else "  No order at the stacked price")
    return result
