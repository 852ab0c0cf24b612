"""Drill scenarios for the simulator: the two incidents of the reference (§7) and a Lightning
Deal plus coupon, or the team's own YAML. A scenario is an arrival curve of orders at the stacked
price over ordinary traffic; the DrillWorld then lets time act on them as Amazon's warehouse and
the seller's shipping would: FBA orders enter picking after a delay (no longer cancellable),
seller-fulfilled orders ship after some hours, and Seller Support cancels the FBA orders a request
names that are not picked yet, some minutes after it arrives."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from incident.errors import InputFileError, UsageError
from incident.sandbox.scenario import CATALOG, Order, Scenario
from incident.sandbox.server import Simulator


@dataclass
class DrillScenario:
    name: str
    description: str = ""
    marketplace: str = "US"
    sku: str | None = None  # default: the catalogue's first product
    orders: int = 400  # orders at the stacked price
    minutes: float = 3.0  # over this long
    curve: str = "front"  # front (a sell-out: most at once), even, or ramp (word spreads)
    discount_share: float = 0.98  # of the list price the stack takes off
    promotion_ids: str = "PROMO-20 COUPON-60"
    mfn_share: float = 0.6  # seller-fulfilled share of the orders
    pending_share: float = 0.2  # orders whose payment clears `pending_minutes` later (no price till then)
    pending_minutes: float = 5.0
    fba_pick_minutes: float = 30.0  # FBA orders enter picking this long after purchase: too late to cancel
    mfn_ship_hours: float = 4.0  # seller-fulfilled orders ship this long after purchase
    support_minutes: float = 20.0  # Seller Support acts on an FBA request this long after it arrives
    starts_in_minutes: float = 10.0  # the stacked price goes live this long after the drill starts
    ordinary_per_hour: float = 30.0  # ordinary orders across the catalogue
    history_hours: float = 24.0  # ordinary orders before the drill (the watch learns its baseline there)
    notification_delay_seconds: float = 2.0
    seed: int = 13


BUILTIN = {
    "wrong-product": DrillScenario(
        "wrong-product", "A social-media promo code set up on the wrong product category stacks with that "
        "product's coupon: near zero, and the word spreads over half an hour (reference §7, case 1).",
        orders=150, minutes=30, curve="ramp", discount_share=0.97, promotion_ids="SOCIAL-WRONG-CAT COUPON-15"),
    "coupon-after-cancelled-promo": DrillScenario(
        "coupon-after-cancelled-promo", "A large coupon goes live early while a cancelled promo code is still "
        "running: 400 units sell out in 3 minutes (reference §7, case 2).",
        orders=400, minutes=3, curve="front", discount_share=0.98, promotion_ids="PROMO-CANCELLED-20 COUPON-60"),
    "deal-plus-coupon": DrillScenario(
        "deal-plus-coupon", "A Lightning Deal runs on a product whose coupon was left on: deal price minus the "
        "coupon on the original price, over the deal's first 20 minutes.",
        orders=250, minutes=20, curve="even", discount_share=0.9, promotion_ids="LIGHTNING-DEAL-7731 COUPON-50"),
}
_CURVES = ("front", "even", "ramp")


def load(name_or_path: str) -> DrillScenario:
    """A built-in scenario by name, or a YAML file of DrillScenario's keys (checked: a bad key or
    value names the file, line and column)."""
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml") or not path.exists():
        raise UsageError(f"no scenario '{name_or_path}': use {', '.join(BUILTIN)}, or the path of a .yaml file")
    return _from_yaml(path)


def _from_yaml(path: Path) -> DrillScenario:
    import yaml

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputFileError(path, "is not valid YAML", "Fix the indentation or quoting there",
                             line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from None
    if not isinstance(root, yaml.MappingNode):
        raise InputFileError(path, "is not a mapping of settings", "Write one `key: value` per line, e.g. orders: 400",
                             line=1)
    types = {f.name: f.type for f in fields(DrillScenario)}
    base = BUILTIN.get(_scalar(root, "based_on") or "", DrillScenario(path.stem))
    values: dict[str, Any] = {**{f.name: getattr(base, f.name) for f in fields(DrillScenario)}, "name": path.stem}
    for key_node, value_node in root.value:
        key, where = key_node.value, {"line": value_node.start_mark.line + 1, "column": value_node.start_mark.column + 1}
        if key == "based_on":
            if value_node.value not in BUILTIN:
                raise InputFileError(path, f"based_on '{value_node.value}' is not a built-in scenario",
                                     f"Use one of {', '.join(BUILTIN)}", **where)
            continue
        if key not in types:
            raise InputFileError(path, f"'{key}' is not a scenario setting",
                                 f"Use based_on or one of {', '.join(sorted(types))}", line=key_node.start_mark.line + 1,
                                 column=key_node.start_mark.column + 1)
        text = value_node.value if isinstance(value_node, yaml.ScalarNode) else None
        kind = str(types[key])
        try:
            if text is None:
                raise ValueError
            value: Any = float(text) if "float" in kind else int(text) if kind.startswith("int") else str(text)
        except ValueError:
            raise InputFileError(path, f"{key}: '{text if text is not None else '...'}' is not "
                                 f"{'a number' if 'float' in kind or kind.startswith('int') else 'text'}",
                                 f"Write it like {key}: {getattr(base, key)}", **where) from None
        if isinstance(value, (int, float)) and (value < 0 or key in ("orders", "minutes") and value <= 0
                                                or key.endswith("share") and value > 1):
            raise InputFileError(path, f"{key}: {value} is out of range",
                                 "Use a positive number (shares between 0 and 1)", **where)
        if key == "curve" and value not in _CURVES:
            raise InputFileError(path, f"curve: '{value}' is not one of {', '.join(_CURVES)}",
                                 "front for a sell-out, even, or ramp", **where)
        values[key] = value
    return DrillScenario(**values)


def _scalar(root, key: str) -> str | None:
    return next((v.value for k, v in root.value if k.value == key and hasattr(v, "value")), None)


@dataclass
class Truth:
    """What really happened, for the scorecard: the orders at the stacked price and when."""

    sku: str
    list_price: Decimal
    currency: str
    start: datetime  # when the stacked price went live
    bad: list[Order] = field(default_factory=list)

    @property
    def first_bad_at(self) -> datetime:
        return min(o.purchase_date for o in self.bad)


class DrillSimulator(Simulator):
    """The simulator with a drill's world: time acts on the orders before every request."""

    world: DrillWorld | None = None

    def ripen(self) -> None:
        super().ripen()
        if self.world is not None:
            self.world.advance(self.now())

    def _visible(self, order: Order, now: datetime) -> bool:
        """As the simulator's, except that an order placed in the second the offer was stopped was
        placed before it (purchase times have whole seconds; the watch may have seen it already)."""
        if self.off_sale and order.channel == "Merchant" and order.purchase_date <= now and any(
                order.purchase_date == stopped for item in order.items
                for stopped, _ in self.off_sale.get(item.product.sku, ())):
            return order.marketplace.code == self.marketplace.code
        return super()._visible(order, now)


class DrillWorld:
    """The warehouse, the seller's shipping and Seller Support, as timed events on the orders."""

    def __init__(self, scenario: DrillScenario, sim: DrillSimulator, truth: Truth):
        self.scenario, self.sim, self.truth = scenario, sim, truth
        self._events: list[tuple[datetime, int, str, str]] = []
        self.picked: dict[str, datetime] = {}
        self.support_cancelled: set[str] = set()
        self.fba_requests: list[tuple[datetime, list[str]]] = []
        for number, order in enumerate(sim.orders.values()):
            if order.status in ("Shipped", "Cancelled"):
                continue
            if order.channel == "Merchant":
                heapq.heappush(self._events, (order.purchase_date + timedelta(hours=scenario.mfn_ship_hours), number,
                                              "ship", order.order_id))
            else:
                pick = order.purchase_date + timedelta(minutes=scenario.fba_pick_minutes)
                heapq.heappush(self._events, (pick, number, "pick", order.order_id))
                heapq.heappush(self._events, (pick + timedelta(hours=2), number, "ship", order.order_id))
        self._sequence = len(sim.orders)

    def fba_request(self, order_ids: list[str], at: datetime) -> None:
        """Seller Support got a request to cancel these FBA orders."""
        with self.sim.lock:
            self.fba_requests.append((at, list(order_ids)))
            self._sequence += 1
            heapq.heappush(self._events, (at + timedelta(minutes=self.scenario.support_minutes), self._sequence,
                                          "support", str(len(self.fba_requests) - 1)))

    def advance(self, now: datetime) -> None:
        with self.sim.lock:
            while self._events and self._events[0][0] <= now:
                at, _, kind, key = heapq.heappop(self._events)
                if kind == "support":
                    self._support(at, self.fba_requests[int(key)][1])
                    continue
                order = self.sim.orders[key]
                if order.status == "Cancelled":
                    continue
                if kind == "pick":
                    self.picked[key] = at
                else:
                    order.status = "Shipped"
                    for item in order.items:
                        if item.status != "Cancelled":  # an item cancelled by the feed stays cancelled
                            item.status = "Shipped"
                    order.last_updated = at

    def _support(self, at: datetime, order_ids: list[str]) -> None:
        for order_id in order_ids:
            order = self.sim.orders.get(order_id)
            if order is None or order.channel != "Amazon" or order.status in ("Shipped", "Cancelled"):
                continue
            if order_id in self.picked:  # in the warehouse's sorting already: too late
                continue
            order.status = "Cancelled"
            for item in order.items:
                item.status = "Cancelled"
            order.last_updated = at
            self.support_cancelled.add(order_id)


def build(scenario: DrillScenario, start: datetime, clock, processing_seconds: float = 60.0) -> tuple[DrillSimulator, DrillWorld, Truth]:
    """The simulated account at `start`: a day of ordinary history, ordinary traffic on, and the
    scenario's orders at the stacked price from `starts_in_minutes` on."""
    if scenario.marketplace not in CATALOG:
        raise UsageError(f"scenario {scenario.name}: marketplace {scenario.marketplace} has no simulated catalogue: "
                         f"use {', '.join(CATALOG)}")
    live = start + timedelta(minutes=scenario.starts_in_minutes)
    end = live + timedelta(minutes=scenario.minutes)
    begin, finish = start - timedelta(hours=scenario.history_hours), end + timedelta(hours=scenario.mfn_ship_hours + 3)
    maker = Scenario(scenario.marketplace, scenario.seed, begin=begin, finish=finish, window_start=live, window_end=end,
                     incident_sku=scenario.sku, burst_orders=0, background_orders=0, mfn_share=scenario.mfn_share)
    if scenario.sku and scenario.sku not in {p.sku for p in maker.catalog}:
        raise UsageError(f"scenario {scenario.name}: no SKU {scenario.sku} in the simulated catalogue: use one of "
                         f"{', '.join(p.sku for p in maker.catalog)}")
    rnd = random.Random(scenario.seed)
    product = maker.incident_product
    truth = Truth(product.sku, product.price, maker.marketplace.currency, live)
    orders: list[Order] = []
    for _ in range(scenario.orders):
        share = rnd.random()
        share = share ** 2 if scenario.curve == "front" else share ** 0.5 if scenario.curve == "ramp" else share
        moment = live + (end - live) * share
        order = _fresh(maker, moment, True, rnd, scenario.pending_share)
        _stack(order, product, scenario)
        truth.bad.append(order)
        orders.append(order)
    hours = (finish - begin).total_seconds() / 3600
    for _ in range(int(scenario.ordinary_per_hour * hours)):
        moment = begin + (finish - begin) * rnd.random()
        order = _fresh(maker, moment, False, rnd, scenario.pending_share)
        if moment < start:  # history: long since paid for, most shipped
            order.status = "Shipped" if moment < start - timedelta(hours=scenario.mfn_ship_hours) else "Unshipped"
            for item in order.items:
                item.status = order.status
        elif live <= moment < end and _stack(order, product, scenario):  # the stack hits every order of it
            truth.bad.append(order)
        orders.append(order)
    sim = DrillSimulator(maker, clock=clock, pending_minutes=scenario.pending_minutes,
                         processing_seconds=processing_seconds)
    sim.add_orders(orders)
    world = DrillWorld(scenario, sim, truth)
    sim.world = world
    return sim, world, truth


def _stack(order: Order, product, scenario: DrillScenario) -> bool:
    """The stack takes the scenario's share off this product's lines; whether the order has one."""
    hit = False
    for item in order.items:
        if item.product is product:
            cents = Decimal(1).scaleb(product.price.as_tuple().exponent)
            item.discount = (product.price * item.quantity * Decimal(str(scenario.discount_share))).quantize(cents)
            item.promotion_ids, hit = scenario.promotion_ids, True
    return hit


def _fresh(maker: Scenario, moment: datetime, burst: bool, rnd: random.Random, pending_share: float) -> Order:
    order = maker._order(moment, burst=burst)
    order.status = "Pending" if rnd.random() < pending_share else "Unshipped"
    order.last_updated = order.purchase_date
    for item in order.items:
        item.status = order.status
        if not burst:
            item.discount, item.promotion_ids = Decimal(0), ""
    return order
