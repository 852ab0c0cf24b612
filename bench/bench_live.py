"""Benchmark the live pull in simulated time: incidents of 400, 5,000 and 50,000 affected orders
in a busy window (four other orders for every affected one), the planner's choice against the
naive v0 path (getOrders + getOrderItems per order) and the lower bound the token buckets allow.
The simulator and the client share a virtual clock, so hours of rate limits pass in seconds.

    .venv/bin/python bench/bench_live.py [--sizes 400 5000 50000] [--naive-up-to 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from incident import cancellation
from incident.amazon import live, spapi
from incident.amazon.ratelimits import VirtualClock
from incident.sandbox.scenario import Scenario
from incident.sandbox.server import Simulator
from incident.timeutil import parse_iso
from incident.workspace import runbook, store

START, END = "2026-11-20T14:02:00-08:00", "2026-11-20T16:02:00-08:00"


def run(affected: int, strategy: str | None) -> dict:
    clock = VirtualClock()
    scenario = Scenario("US", 11, begin=datetime.fromisoformat(START), finish=datetime.fromisoformat(END),
                        window_start=datetime.fromisoformat(START), window_end=datetime.fromisoformat(END),
                        burst_orders=affected, background_orders=0, busy_orders=4 * affected, extra_skus=200)
    simulator = Simulator(scenario, clock=clock, processing_seconds=live.ASSUMED_REPORT_SECONDS)
    simulator.start()
    os.environ.update(simulator.environment())
    connection = spapi.Connection(spapi.load_settings("US"), clock=clock)
    home = Path(tempfile.mkdtemp(prefix="bench-live-"))
    with store.create(home, title="bench", skus=[scenario.incident_product.sku], window_start=parse_iso(START),
                      window_end=parse_iso(END), floor=Decimal(100), marketplace="US", who="bench",
                      steps=runbook.load()) as incident_store:
        started, wall = clock.now(), time.perf_counter()
        result = live.LivePull(incident_store, connection, "bench").run(force=strategy)
        cancellation.export(incident_store, "bench", "txt")
        simulated = clock.now() - started
        lines = len(incident_store.lines())
    simulator.stop()
    total = len(simulator.orders)
    candidates = sum(1 for o in simulator.orders.values() if o.channel == "Merchant"
                     and o.status in ("Pending", "Unshipped", "PartiallyShipped")
                     and any(i.product.sku == scenario.incident_product.sku for i in o.items))
    bounds = live.estimate_seconds(total, candidates)
    return {"affected": affected, "orders_in_window": total, "strategy": result.plan.strategy,
            "simulated_s": round(simulated, 1), "lower_bound_s": round(min(bounds.values()), 1),
            "bounds": {k: round(v, 1) for k, v in bounds.items()}, "api_calls": result.api_calls,
            "lines": lines, "wall_s": round(time.perf_counter() - wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[400, 5000, 50000])
    parser.add_argument("--naive-up-to", type=int, default=5000)
    options = parser.parse_args()
    rows = []
    for size in options.sizes:
        planned = run(size, None)
        naive = run(size, "v0") if size <= options.naive_up_to else None
        rows.append({"planned": planned, "naive": naive})
        print(json.dumps(rows[-1]), file=sys.stderr)
    (HERE / "results-live.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| affected orders | orders in window | plan | simulated | lower bound | / bound | naive v0 | naive / plan |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        p, n = row["planned"], row["naive"]
        naive_s = f"{n['simulated_s'] / 60:.1f} min" if n else f"~{p['bounds']['v0'] / 60:.0f} min (estimate)"
        ratio = (n["simulated_s"] if n else p["bounds"]["v0"]) / max(p["simulated_s"], 1.0)
        print(f"| {p['affected']:,} | {p['orders_in_window']:,} | {p['strategy']} | {p['simulated_s'] / 60:.1f} min | "
              f"{p['lower_bound_s'] / 60:.1f} min | {p['simulated_s'] / max(p['lower_bound_s'], 1.0):.2f}x | "
              f"{naive_s} | {ratio:.0f}x |")


if __name__ == "__main__":
    main()
