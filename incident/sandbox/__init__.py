"""The local SP-API simulator."""

from __future__ import annotations

import json

from incident.resources import data_dir
from incident.sandbox.server import Fault, Simulator


def seeded(sample: str = "us", **options) -> Simulator:
    """A simulator holding the same orders as samples/<sample>/."""
    from incident.sandbox.scenario import from_spec

    path = data_dir("samples") / sample / "scope.json"
    if not path.exists():
        from incident.errors import UsageError

        raise UsageError(f"no sample '{sample}': use us or jp")
    return Simulator(from_spec(json.loads(path.read_text())), **options)


def drill(marketplace: str = "US", orders: int = 400, starts_in: float = 2.0, lasts: float = 15.0,
          pending_minutes: float = 5.0, clock=None, seed: int = 11) -> tuple[Simulator, dict]:
    """A live drill: ordinary sales from an hour ago, then a stacked discount goes live in
    `starts_in` minutes and `orders` orders for it arrive over `lasts` minutes; Pending orders turn
    Unshipped `pending_minutes` after purchase. Returns the simulator and the drill's scope."""
    from datetime import UTC, datetime, timedelta

    from incident.amazon.ratelimits import RealClock
    from incident.sandbox.scenario import Scenario

    clock = clock or RealClock()
    now = datetime.fromtimestamp(clock.now(), UTC).replace(microsecond=0)
    start = now + timedelta(minutes=starts_in)
    end = start + timedelta(minutes=lasts)
    scenario = Scenario(marketplace, seed, begin=now - timedelta(hours=1), finish=end + timedelta(minutes=30),
                        window_start=start, window_end=end, burst_orders=orders, background_orders=orders // 2)
    simulator = Simulator(scenario, clock=clock, pending_minutes=pending_minutes)
    return simulator, {"sku": scenario.incident_product.sku, "start": start.isoformat(), "end": end.isoformat(),
                       "marketplace": marketplace}


__all__ = ["Fault", "Simulator", "drill", "seeded"]
