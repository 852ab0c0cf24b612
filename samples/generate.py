"""Write the sample incidents under samples/: a US marketplace pair (UTF-8) and a Japanese pair
(cp932, Japanese product names), each with the scope.json that describes it. Deterministic: run
it again and the files come out the same. The SP-API simulator rebuilds the same orders from
scope.json.

    python samples/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path

from incident.sandbox.scenario import ALL_ORDERS_COLUMNS, UNSHIPPED_COLUMNS, from_spec, write_report

HERE = Path(__file__).resolve().parent

SAMPLES = {
    "us": dict(marketplace="US", seed=20261120, encoding="utf-8", burst_orders=260, background_orders=140,
               begin="2026-11-20T08:00:00-08:00", finish="2026-11-20T20:00:00-08:00",
               start="2026-11-20T14:02:00-08:00", end="2026-11-20T14:30:00-08:00", floor="100"),
    "jp": dict(marketplace="JP", seed=20261124, encoding="cp932", burst_orders=60, background_orders=40,
               begin="2026-11-21T09:00:00+09:00", finish="2026-11-21T21:00:00+09:00",
               start="2026-11-21T12:00:00+09:00", end="2026-11-21T12:20:00+09:00", floor="10000"),
}


def main() -> None:
    for folder, spec in SAMPLES.items():
        scenario = from_spec(spec)
        orders = sorted(scenario.orders(), key=lambda o: o.purchase_date)
        target = HERE / folder
        target.mkdir(exist_ok=True)
        enc = spec["encoding"]
        write_report(target / "all-orders.txt", ALL_ORDERS_COLUMNS, scenario.all_orders_rows(orders), enc)
        write_report(target / "unshipped.txt", UNSHIPPED_COLUMNS, scenario.unshipped_rows(orders), enc)
        scope = {**spec, "skus": [scenario.incident_product.sku]}
        (target / "scope.json").write_text(json.dumps(scope, indent=2) + "\n")


if __name__ == "__main__":
    main()
