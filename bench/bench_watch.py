"""Benchmark incident watch and the drill in simulated time, on the second incident's scenario
(400 units in 3 minutes): detection by push (for several notification delays) and by polling
(first bad order at several points of the poll interval), the autopilot's figures on every
built-in scenario, and a week of ordinary traffic for false alarms. Real SQS (moto's server) and
the SP-API simulator, both on 127.0.0.1; the clock is virtual, so a week passes in minutes.

    .venv/bin/python bench/bench_watch.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from incident import drill, watch  # noqa: E402
from incident.amazon import spapi  # noqa: E402
from incident.amazon.ratelimits import VirtualClock  # noqa: E402
from incident.drill import environment  # noqa: E402
from incident.sandbox import drills  # noqa: E402
from incident.watch import detect, setup, state  # noqa: E402
from incident.watch.settings import WatchSettings  # noqa: E402

START = drill.DRILL_START
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")


def _watcher(env, clock, mode: str):
    connection = spapi.Connection(spapi.load_settings("US"), clock=clock)
    settings = WatchSettings()
    if mode == "push":
        setup.setup(connection, env.queue_arn)
        settings.queue_url, settings.sqs_endpoint = env.queue_url, env.sqs.endpoint
    home = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    return watch.build(home, watch.Options(mode=mode), settings=settings, connection=connection, wait_seconds=0,
                       terminal=lambda line: None), home


def detection(mode: str, delay: float = 2.0, offset: float = 0.0, seed: int = 13) -> dict:
    """Seconds from the first bad order to the first alert, the watch alone."""
    scenario = dataclasses.replace(drills.load("coupon-after-cancelled-promo"), notification_delay_seconds=delay,
                                   starts_in_minutes=10 + offset / 60, seed=seed)
    clock = VirtualClock(START.timestamp())
    with environment.start(scenario, START, clock, push=mode == "push") as env:
        watcher, home = _watcher(env, clock, mode)
        step = 1.0 if mode == "push" else watcher.settings.poll_minutes * 60
        first = env.truth.first_bad_at
        while datetime.fromtimestamp(clock.now(), UTC) < first + timedelta(minutes=5):
            if env.publisher:
                env.publisher.pump()
            if watcher.tick().alerts:
                break
            clock.sleep(step)
        episodes = watch.status(home)["episodes"]
    detected = datetime.fromisoformat(episodes[0]["detected_at"].replace("Z", "+00:00")) if episodes else None
    return {"mode": mode, "delay_s": delay, "offset_s": offset, "seed": seed,
            "detect_s": (detected - first).total_seconds() if detected else None}


def week(per_hour: float, days: int) -> dict:
    scenario = drills.DrillScenario("ordinary-week", orders=0, ordinary_per_hour=per_hour, history_hours=24 * 7,
                                    starts_in_minutes=days * 24 * 60, mfn_ship_hours=4)
    clock = VirtualClock(START.timestamp())
    wall = time.perf_counter()
    with environment.start(scenario, START, clock) as env:
        watcher, home = _watcher(env, clock, "push")
        end = START + timedelta(days=days)
        while datetime.fromtimestamp(clock.now(), UTC) < end:
            env.publisher.pump()
            watcher.tick()
            clock.sleep(600.0)
        sent, settings = env.publisher.sent, watcher.settings
    with state.open_db(home) as db:
        moments = [r[0] for r in db.conn.execute("SELECT DISTINCT purchase_date FROM orders WHERE purchase_date >= ?",
                                                 (START.strftime("%Y-%m-%dT%H:%M:%SZ"),))]
        flagged = sum(1 for m in moments if detect.signals(db, settings, datetime.fromisoformat(m.replace("Z", "+00:00"))))
    data = watch.status(home)
    return {"days": days, "orders_per_hour": per_hour, "notifications": sent, "orders": data["orders"],
            "alerts": len(data["alerts"]), "moments_judged": len(moments), "moments_flagged": flagged,
            "wall_s": round(time.perf_counter() - wall, 1)}


def autopilot(name: str, mode: str) -> dict:
    wall = time.perf_counter()
    card, _, _, _ = drill.autopilot_drill(name, Path(tempfile.mkdtemp(prefix="bench-drill-")), mode)
    keys = ("time_to_detect_s", "time_to_stop_sales_s", "time_to_submit_s", "time_to_fba_request_s",
            "time_to_notify_s", "mfn_orders_saved", "mfn_orders_lost", "mfn_orders_prevented", "fba_orders_saved",
            "fba_orders_lost", "orders_at_bad_price", "saved_share")
    return {"scenario": name, "mode": mode, **{k: card[k] for k in keys}, "wall_s": round(time.perf_counter() - wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs, one day instead of a week")
    quick = parser.parse_args().quick
    results: dict = {"push": [], "poll": [], "autopilot": [], "ordinary": None}
    for delay in ([2.0] if quick else [2.0, 10.0, 30.0, 60.0]):
        for seed in ([13] if quick else [13, 14, 15]):
            results["push"].append(detection("push", delay=delay, seed=seed))
            print(json.dumps(results["push"][-1]), file=sys.stderr)
    for offset in ([0.0, 30.0] if quick else [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 59.0]):
        results["poll"].append(detection("poll", offset=offset))
        print(json.dumps(results["poll"][-1]), file=sys.stderr)
    for name in (["coupon-after-cancelled-promo"] if quick else list(drills.BUILTIN)):
        for mode in ("push", "poll"):
            results["autopilot"].append(autopilot(name, mode))
            print(json.dumps(results["autopilot"][-1]), file=sys.stderr)
    results["ordinary"] = week(30.0, 1 if quick else 7)
    print(json.dumps(results["ordinary"]), file=sys.stderr)
    (HERE / "results-watch.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| detection | runs | worst | best |")
    print("|---|---|---|---|")
    for delay in sorted({r["delay_s"] for r in results["push"]}):
        runs = [r["detect_s"] for r in results["push"] if r["delay_s"] == delay]
        print(f"| push, notification delay {delay:g} s | {len(runs)} | {max(runs):.0f} s | {min(runs):.0f} s |")
    runs = [r["detect_s"] for r in results["poll"]]
    print(f"| poll every 60 s, first bad order at {len(runs)} points of the interval | {len(runs)} | {max(runs):.0f} s | "
          f"{min(runs):.0f} s |")
    print()
    print("| scenario | mode | detect | stop sales | submit | FBA request | FBA request after detection | MFN saved | FBA saved | saved |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results["autopilot"]:
        placed = r["mfn_orders_saved"] + r["mfn_orders_lost"]
        fba = r["fba_orders_saved"] + r["fba_orders_lost"]
        print(f"| {r['scenario']} | {r['mode']} | {r['time_to_detect_s']:.0f} s | {r['time_to_stop_sales_s']:.0f} s | "
              f"{r['time_to_submit_s'] / 60:.1f} min | {r['time_to_fba_request_s']:.0f} s | "
              f"{r['time_to_fba_request_s'] - r['time_to_detect_s']:.0f} s | {r['mfn_orders_saved']}/{placed} "
              f"(+{r['mfn_orders_prevented']} never placed) | {r['fba_orders_saved']}/{fba} | {r['saved_share']:.0%} |")
    o = results["ordinary"]
    print()
    print(f"Ordinary traffic: {o['days']} days at {o['orders_per_hour']:g} orders/h: {o['orders']} orders, "
          f"{o['notifications']} notifications, {o['alerts']} alerts, {o['moments_flagged']} of {o['moments_judged']} "
          f"moments flagged")


if __name__ == "__main__":
    main()
