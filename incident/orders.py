"""Pulling report files into an incident: read every file first (all or nothing), merge their
lines into one picture per order line, save it with its event in one transaction.

Merging: All Orders brings status, channel, prices and promotion ids; Unshipped brings the
order-item-id and the buyer's contact; the legacy report brings prices and item ids. A value from
a report with an older `last-updated-date` never overwrites a newer one, so pulling again, in any
order, gives the same picture.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
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
    marketplace: str | None = None
    warnings: list[str] = field(default_factory=list)


# Only the Unshipped and legacy reports carry these; their latest pull is the truth.
_UNDATED_OWN = {"order_item_id", "buyer_email", "buyer_name", "quantity_shipped", "quantity_to_ship"}


def _merge(line: OrderLine, incoming: ReportLine) -> None:
    """Apply one report line. A dated line (All Orders) overwrites unless it is older than what
    we have; an undated one (Unshipped, legacy) sets its own fields and otherwise fills gaps."""
    dated = incoming.fields.get("last_updated") is not None
    stale = dated and line.last_updated is not None and incoming.fields["last_updated"] < line.last_updated
    for name, value in incoming.fields.items():
        if value is None:
            continue
        current = getattr(line, name)
        if current is not None and (stale or (not dated and name not in _UNDATED_OWN)):
            continue
        setattr(line, name, value)


def pull_reports(store: Store, paths: list[Path], who: str, encoding: str | None = None) -> PullResult:
    incident = store.incident()
    reports = [read_report(path, incident.skus, encoding) for path in paths]
    result = PullResult(reports=reports)
    existing = {line.key: line for line in store.lines()}
    touched: dict[tuple, OrderLine] = {}
    channels: Counter[str] = Counter()
    for report in reports:
        for incoming in report.lines:
            key = (incoming.order_id, incoming.sku, incoming.seq)
            line = touched.get(key)
            if line is None:
                if key in existing:
                    line = replace(existing[key])
                elif incident.in_window(incoming.fields.get("purchase_date")):
                    line = OrderLine(order_id=incoming.order_id, sku=incoming.sku, seq=incoming.seq)
                else:
                    continue  # keep only what the incident is about: less personal data held
                touched[key] = line
            _merge(line, incoming)
            if incoming.fields.get("sales_channel"):
                channels[str(incoming.fields["sales_channel"])] += 1
    changed = {key: line for key, line in touched.items() if existing.get(key) != line}
    result.new_lines = sum(1 for key in changed if key not in existing)
    result.updated_lines = len(changed) - result.new_lines

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
        store.save_lines(conn, list(changed.values()))
        if result.marketplace:
            conn.execute("UPDATE incident SET marketplace = ?", (result.marketplace,))
        store.tick_step(conn, PULL_COMMAND, who)
    return result


