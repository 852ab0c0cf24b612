"""Benchmark buyer notices.

1. Render and check 100,000 notices (target: under 10 s): an incident of 100,000 seller-fulfilled
   cancellable orders, pulled from generated reports and exported; `render_notices` is timed
   (templates, babel formatting, the rule checker, the database write).
2. The sending rate reached through the SP-API simulator on a real clock, against the rate limit
   it enforces (target: within 1.1x of the limit): Amazon's default 1 message/s (burst 5), and a
   seller granted 20/s, which the client learns from x-amzn-RateLimit-Limit. Per notice: the
   buyer's language (getAttributes), getMessagingActionsForOrder, createUnexpectedProblem; one
   US buyer in eight reads Spanish, so that notice is held back for re-rendering.

    .venv/bin/python bench/bench_notices.py [--render 100000] [--send-default 65] [--send-fast 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from incident import cancellation, notices, orders
from incident.amazon import spapi
from incident.sandbox.scenario import cancellable_reports
from incident.sandbox.server import Simulator
from incident.timeutil import parse_iso
from incident.workspace import runbook, store

START, END = "2026-11-20T14:00:00-08:00", "2026-11-20T16:00:00-08:00"


def incident(count: int, folder: Path):
    """An open incident store with `count` exported cancellable orders, and the orders."""
    scenario, generated, reports = cancellable_reports(folder, count, datetime.fromisoformat(START),
                                                       datetime.fromisoformat(END))
    opened = store.create(folder / "home", title="bench", skus=[scenario.incident_product.sku],
                          window_start=parse_iso(START), window_end=parse_iso(END), floor=None,
                          marketplace="US", who="bench", steps=runbook.load())
    orders.pull_reports(opened, reports, "bench")
    cancellation.export(opened, "bench", "txt")
    return opened, generated


def bench_render(count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        opened, _ = incident(count, Path(tmp))
        with opened:
            started = time.perf_counter()
            result = notices.render_notices(opened, "bench")
            seconds = time.perf_counter() - started
            blocked = len(notices.blocked(opened))
    return {"notices": result.rendered, "blocked": blocked, "seconds": round(seconds, 2),
            "per_second": round(result.rendered / seconds)}


def bench_send(count: int, rate: float | None) -> dict:
    operations = ("getAttributes", "getMessagingActionsForOrder", "createUnexpectedProblem")
    plans = {op: (rate, 5) for op in operations} if rate else None
    with tempfile.TemporaryDirectory() as tmp:
        opened, generated = incident(count, Path(tmp))
        simulator = Simulator(processing_seconds=0, plans=plans)
        simulator.add_orders(generated)
        simulator.start()
        os.environ.update(simulator.environment())
        limit = simulator.plans["createUnexpectedProblem"]
        with opened:
            notices.render_notices(opened, "bench")
            connection = spapi.Connection(spapi.load_settings("US"))
            started = time.perf_counter()
            result = notices.send_notices(opened, "bench", "spapi", connection=connection)
            seconds = time.perf_counter() - started
        throttled = sum(simulator.throttled.values())
        simulator.stop()
    # Each notice takes one call of each of the three operations (a held-back one only the first),
    # each operation with its own bucket: the first `burst` go at once, the rest at the limit at best.
    processed = result.sent + result.other_language
    bound = max(0.0, (processed - limit[1]) / limit[0])
    return {"notices": processed, "sent": result.sent, "held_back_for_language": result.other_language,
            "failed": result.failed, "limit_per_s": limit[0], "burst": limit[1],
            "seconds": round(seconds, 1), "lower_bound_s": round(bound, 1),
            "ratio": round(seconds / bound, 3) if bound else None, "throttled": throttled}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--render", type=int, default=100_000)
    parser.add_argument("--send-default", type=int, default=65)
    parser.add_argument("--send-fast", type=int, default=1000)
    options = parser.parse_args()
    results = {"render": bench_render(options.render),
               "send_default": bench_send(options.send_default, None),
               "send_fast": bench_send(options.send_fast, 20.0)}
    (HERE / "results-notices.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
