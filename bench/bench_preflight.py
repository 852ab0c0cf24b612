"""Benchmark preflight at 10,000 SKUs and 2,000 promotions.

Offline: `incident preflight --offline` over a generated plan file (2,000 promotions: coupons,
promo codes, deals, price discounts, 1 to 9 SKUs each, one in 40 cancelled; one in 1,000
store-wide, and a dense variant with one in 200) and prices file (10,000 SKUs), as a fresh
process, best of N (wall and CPU time); and `preflight.run` in-process.
Live: the same account in the SP-API simulator (Amazon's getListingsItem plan, the Promotions
API at the third-party 0.1/s burst 4), the real client on a virtual clock shared with the
simulator, against the token-bucket lower bound: for each operation (its calls - its burst) /
its rate, the largest of them (the operations have separate buckets and could all overlap).

    .venv/bin/python bench/bench_preflight.py [--runs 5] [--skip-live]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from incident.amazon import spapi
from incident.amazon.ratelimits import DEFAULT_PLANS, VirtualClock
from incident.prevent import preflight
from incident.prevent.flags import Limits
from incident.sandbox import promotions as sim_promotions
from incident.sandbox.scenario import Scenario
from incident.sandbox.server import Simulator

SKUS, PROMOTIONS = 10_000, 2_000
AT = datetime(2026, 11, 23, tzinfo=UTC)
KINDS = ["coupon", "coupon", "promo_code", "deal", "price_discount", "basket_building", "lightning_deal"]


def write_files(folder: Path, store_wide_every: int, seed: int = 5) -> tuple[Path, Path]:
    rnd = random.Random(seed)
    prices, plan = folder / "prices.csv", folder / "plan.csv"
    lines = ["sku,asin,name,list_price,floor,unit_cost"]
    for n in range(SKUS):
        price = Decimal(rnd.randrange(500, 30000)) / 100
        lines.append(f"SKU-{n:05d},B0GEN{n:05d},Catalogue item {n},{price},{(price * Decimal('0.55')).quantize(price)},"
                     f"{(price * Decimal('0.35')).quantize(price)}")
    prices.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = ["id,kind,title,discount,price,skus,catalog,start,end,cancelled_at,claim_code,set_up_by,meant_for"]
    for n in range(PROMOTIONS):
        kind = KINDS[n % len(KINDS)]
        start = AT + timedelta(hours=rnd.randrange(-72, 24 * 21))
        end = start + timedelta(hours=rnd.randrange(6, 24 * 10))
        cancelled = (start + timedelta(hours=rnd.randrange(1, 48))).isoformat() if n % 40 == 0 else ""
        catalog = "yes" if n % store_wide_every == 0 and kind in ("coupon", "promo_code", "basket_building") else ""
        chosen = [f"SKU-{rnd.randrange(SKUS):05d}" for _ in range(rnd.randrange(1, 10))]
        skus = "" if catalog else " ".join(chosen)
        named = f"SKU-{rnd.randrange(SKUS):05d}" if n % 100 == 7 else chosen[0]  # one in 100 names the wrong product
        discount, price = f"{rnd.randrange(5, 40)}%", ""
        claim = "group" if kind == "promo_code" else ""
        rows.append(f"P{n:04d},{kind},{kind} {n} for {named},{discount},{price},{skus},{catalog},"
                    f"{start.isoformat()},{end.isoformat()},{cancelled},{claim},user{n % 7},")
    plan.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return plan, prices


def offline(runs: int, store_wide_every: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-preflight-"))
    plan, prices = write_files(folder, store_wide_every)
    command = [str(HERE.parent / ".venv" / "bin" / "incident"), "preflight", "--offline", "--plan", str(plan),
               "--prices", str(prices), "--at", AT.isoformat(), "--marketplace", "US"]
    timings: dict[str, list[float]] = {"json": [], "table": [], "in_process": [], "json_cpu": [], "table_cpu": []}
    summary = {}
    for run in range(runs):
        for label, extra in (("json", ["--json"]), ("table", [])):
            env = {**os.environ, "INCIDENT_HOME": str(folder / f"home-{label}-{run}")}
            started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(command + extra, env=env, capture_output=True, text=True)
            timings[label].append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            timings[f"{label}_cpu"].append(after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime)
            if done.returncode not in (0, 1):
                raise SystemExit(done.stderr)
            if label == "json":
                summary = json.loads(done.stdout)["summary"]
        started = time.perf_counter()
        preflight.run(folder / f"home-py-{run}", preflight.Sources(plan=plan, prices=prices), Limits(AT), "bench")
        timings["in_process"].append(time.perf_counter() - started)
    return {"skus": SKUS, "promotions": PROMOTIONS, "store_wide_every": store_wide_every, **{k: round(min(v), 3) for k, v in timings.items()},
            "load_average": os.getloadavg()[0], "summary": summary}


def live() -> dict:
    clock = VirtualClock(AT.timestamp())
    moment = datetime.fromtimestamp(clock.now(), UTC)
    scenario = Scenario("US", 2, begin=moment, finish=moment, window_start=moment, window_end=moment, burst_orders=0,
                        background_orders=0, extra_skus=SKUS - 5)
    simulator = Simulator(scenario, clock=clock)
    simulator.promotions = sim_promotions.generated(scenario.catalog, PROMOTIONS, simulator.now(), "USD")
    simulator.start()
    os.environ.update(simulator.environment())
    folder = Path(tempfile.mkdtemp(prefix="bench-preflight-live-"))
    prices = folder / "prices.csv"
    prices.write_text("sku,floor\n" + "".join(f"{p.sku},{(p.price * Decimal('0.5')).quantize(p.price)}\n"
                                              for p in scenario.catalog), encoding="utf-8")
    settings = spapi.load_settings("US")
    connection = spapi.Connection(settings, clock=clock)
    started, wall = clock.now(), time.perf_counter()
    report = preflight.run(folder / "home", preflight.Sources(prices=prices, connection=connection,
                                                              marketplace=settings.marketplace),
                           Limits(simulator.now()), "bench")
    simulated, wall = clock.now() - started, time.perf_counter() - wall
    simulator.stop()
    calls: dict[str, int] = {}
    for operation, _ in simulator.calls:
        calls[operation] = calls.get(operation, 0) + 1
    plans = {**DEFAULT_PLANS, **sim_promotions.PLANS}
    bounds = {op: max(0, n - plans[op][1]) / plans[op][0] for op, n in calls.items() if op in plans}
    bound = max(bounds.values())
    return {"calls": calls, "throttled": simulator.throttled, "simulated_s": round(simulated, 1),
            "lower_bound_s": round(bound, 1), "ratio": round(simulated / bound, 4), "wall_s": round(wall, 1),
            "bounds_s": {k: round(v, 1) for k, v in bounds.items()}, "summary": {
                "promotions": len([p for p in report.promotions if p.is_promotion]), "stretches": len(report.stretches),
                "critical": report.critical, "warnings": report.warnings}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-live", action="store_true")
    options = parser.parse_args()
    results = {"offline": offline(options.runs, 1000), "offline_dense": offline(options.runs, 200)}
    print(json.dumps(results, indent=2))
    if not options.skip_live:
        results["live"] = live()
        print(json.dumps(results["live"], indent=2))
    (HERE / "results-preflight.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
