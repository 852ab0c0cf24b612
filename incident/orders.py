"""Pulling report files into an incident: read every file first (all or nothing), merge their
lines into one picture per order line, save it with its event in one transaction.

Merging: All Orders brings status, channel, prices and promotion ids; Unshipped brings the
order-item-id and the buyer's contact; the legacy report brings prices and item ids. A value from
a report with an older `last-updated-date` never overwrites a newer one, so pulling again, in any
order, gives the same picture.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from incident import marketplaces
from incident.reports import Report, ReportLine, read_report
from incident.store import OrderLine, Store

PULL_COMMAND = "pull"


@dataclass
class PullResult:
    reports: list[Report]
    new_lines: int = 0
    updated_lines: int = 0
    unchanged_lines: int = 0
    marketplace: str | None = None
    warnings: list[str] = field(default_factory=list)


def _merge(line: OrderLine, incoming: ReportLine) -> bool:
    """Apply one report line; True when anything changed."""
    stale = (incoming.fields.get("last_updated") is not None and line.last_updated is not None
             and incoming.fields["last_updated"] < line.last_updated)
    changed = False
    for name, value in incoming.fields.items():
        if value is None:
            continue
        current = getattr(line, name)
        if stale and current is not None:
            continue
        if current != value:
            setattr(line, name, value)
            changed = True
    return changed


def pull_reports(store: Store, paths: list[Path], who: str, encoding: str | None = None) -> PullResult:
    incident = store.incident()
    reports = [read_report(path, incident.skus, encoding) for path in paths]
    result = PullResult(reports=reports)
    existing = {line.key: line for line in store.lines()}
    touched: dict[tuple, OrderLine] = {}
    new_keys: set = set()
    channels: Counter[str] = Counter()
    for report in reports:
        for incoming in report.lines:
            key = (incoming.order_id, incoming.sku, incoming.seq)
            line = touched.get(key) or existing.get(key)
            if line is None:
                if not incident.in_window(incoming.fields.get("purchase_date")):
                    continue  # keep only what the incident is about: less personal data held
                line = OrderLine(order_id=incoming.order_id, sku=incoming.sku, seq=incoming.seq)
                new_keys.add(key)
            if _merge(line, incoming) or key in new_keys:
                touched[key] = line
            if incoming.fields.get("sales_channel"):
                channels[str(incoming.fields["sales_channel"])] += 1
    result.new_lines = len(new_keys)
    result.updated_lines = len(touched) - len(new_keys)
    result.unchanged_lines = len(existing) - result.updated_lines

    seen = {m.code for m in (marketplaces.from_sales_channel(c) for c in channels) if m}
    marketplace = incident.marketplace
    if marketplace is None and len(seen) == 1:
        marketplace = seen.pop()
        result.marketplace = marketplace
    elif marketplace and seen - {marketplace}:
        result.warnings.append(f"the reports include orders from {', '.join(sorted(seen))}; "
                               f"this incident is for {marketplace}")

    details = {"files": [{"name": r.path.name, "kind": r.kind, "encoding": r.encoding,
                          "rows_read": r.rows_read, "scope_lines": len(r.lines)} for r in reports],
               "new_lines": result.new_lines, "updated_lines": result.updated_lines}
    if result.marketplace:
        details["marketplace_inferred"] = result.marketplace
    with store.change(who, "pull", details) as conn:
        store.save_lines(conn, list(touched.values()))
        if result.marketplace:
            conn.execute("UPDATE incident SET marketplace = ?", (result.marketplace,))
        store.tick_step(conn, PULL_COMMAND, who)
    return result


