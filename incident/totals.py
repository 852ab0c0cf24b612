"""The money per bucket of an incident of any size. The lines are sorted into buckets a batch of
whole orders at a time (`Store.line_batches`) and the batches' sums added up, so an incident of a
million lines is summed in the memory of twenty thousand; the result is `scope.money()`'s, to the
cent (a test compares them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from incident.scope import BUCKETS, money, sort_lines
from incident.workspace.store import Store, line_batches

_COUNTS = ("orders", "lines", "units", "unpriced_lines")


def money_by_batch(store: Store, batch_size: int = 20000) -> dict[str, dict[str, Any]]:
    incident, actions = store.incident(), store.seller_actions()
    total: dict[str, dict[str, Any]] = {name: {**{key: 0 for key in _COUNTS}, "totals": {}} for name in BUCKETS}
    for batch in line_batches(store, batch_size):
        for name, entry in money(sort_lines(batch, incident, actions)).items():
            target = total[name]
            for key in _COUNTS:  # an order is never split between batches: its count adds up
                target[key] += entry[key]
            for currency, values in entry["totals"].items():
                have = target["totals"].setdefault(currency, {key: "0" for key in values})
                for key, value in values.items():
                    have[key] = str(Decimal(have[key]) + Decimal(value))
    return total
