"""The totals of an incident of any size: counts and money per bucket, and the buyers owed a
notice. The lines are sorted into buckets a batch of whole orders at a time
(`scope.decided_batches`, with what the seller did about those orders only) and the batches' sums
added up, so an incident of a million lines is summed in the memory of twenty thousand; the
results are `scope.counts()`'s and `scope.money()`'s, to the cent (a test compares them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from incident.scope import BUCKETS, counts, decided_batches, money
from incident.workspace.store import Store

_COUNTS = ("orders", "lines", "units", "unpriced_lines")


def _add_money(total: dict[str, dict[str, Any]], entries: dict[str, dict[str, Any]]) -> None:
    for name, entry in entries.items():
        target = total[name]
        for key in _COUNTS:  # an order is never split between batches: its count adds up
            target[key] += entry[key]
        for currency, values in entry["totals"].items():
            have = target["totals"].setdefault(currency, {key: "0" for key in values})
            for key, value in values.items():
                have[key] = str(Decimal(have[key]) + Decimal(value))


def _empty_money() -> dict[str, dict[str, Any]]:
    return {name: {**{key: 0 for key in _COUNTS}, "totals": {}} for name in BUCKETS}


def money_by_batch(store: Store, batch_size: int = 20000) -> dict[str, dict[str, Any]]:
    total = _empty_money()
    for decisions, _ in decided_batches(store, batch_size):
        _add_money(total, money(decisions))
    return total


def summary_by_batch(store: Store, batch_size: int = 20000) -> tuple[dict[str, int], dict[str, dict[str, Any]], int]:
    """(scope.counts(), scope.money(), how many orders are owed a notice) of every affected line."""
    from incident.notices.render import eligible

    total_counts: dict[str, int] = {}
    total_money = _empty_money()
    owed = 0
    for decisions, actions in decided_batches(store, batch_size):
        for key, value in counts(decisions).items():  # orders are never split between batches
            total_counts[key] = total_counts.get(key, 0) + value
        _add_money(total_money, money(decisions))
        owed += len(eligible(store, sorted_lines=decisions, actions=actions)[0])
    return total_counts or counts([]), total_money, owed
