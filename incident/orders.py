"""Pulling report files into an incident: read every file first (all or nothing), merge their
lines into one picture per order line, save it with its event in one transaction.

Merging: All Orders brings status, channel, prices and promotion ids; Unshipped brings the
order-item-id, the buyer's contact and the shipping address; the legacy report brings prices and
item ids; the XML order report (recognised by its content) brings item ids, prices, promotions,
the buyer's contact and the address, but no status. A value from
a report with an older `last-updated-date` never overwrites a newer one, so pulling again, in any
order, gives the same picture.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from incident.amazon import marketplaces, xml_orders
from incident.amazon.reports import Report, ReportLine, read_report
from incident.errors import IncidentError
from incident.timeutil import iso_utc
from incident.workspace.store import ADDRESS_FIELDS, OrderLine, Store

PULL_COMMAND = "pull"


@dataclass
class PullResult:
    reports: list[Report]
    new_lines: int = 0
    updated_lines: int = 0
    marketplace: str | None = None
    warnings: list[str] = field(default_factory=list)


# Only the Unshipped and legacy reports carry these; their latest pull is the truth.
_UNDATED_OWN = {"order_item_id", "buyer_email", "buyer_name", "quantity_shipped", "quantity_to_ship", *ADDRESS_FIELDS}


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


def merge_into(store: Store, conn, incident, incoming: list[ReportLine]) -> tuple[int, int]:
    """Merge report-shaped lines into the saved ones inside an open change(); (new, updated).
    Lines of orders outside the window are not kept: less personal data held."""
    existing = {line.key: line for line in store.lines(conn)}
    touched: dict[tuple, OrderLine] = {}
    for line_in in incoming:
        key = (line_in.order_id, line_in.sku, line_in.seq)
        line = touched.get(key)
        if line is None:
            if key in existing:
                line = replace(existing[key])
            elif incident.in_window(line_in.fields.get("purchase_date")):
                line = OrderLine(order_id=line_in.order_id, sku=line_in.sku, seq=line_in.seq)
            else:
                continue
            touched[key] = line
        _merge(line, line_in)
    changed = [line for key, line in touched.items() if existing.get(key) != line]
    store.save_lines(conn, changed)
    new = sum(1 for line in changed if line.key not in existing)
    return new, len(changed) - new


def pull_reports(store: Store, paths: list[Path], who: str, encoding: str | None = None) -> PullResult:
    incident = store.incident()
    reports = [xml_orders.read_xml_report(path, incident.skus) if xml_orders.is_xml(path)  # sniffed, not by name
               else read_report(path, incident.skus, encoding) for path in paths]
    result = PullResult(reports=reports)
    incoming = [line for report in reports for line in report.lines]
    channels: Counter[str] = Counter(str(l.fields["sales_channel"]) for l in incoming
                                     if l.fields.get("sales_channel"))
    seen = {m.code for m in (marketplaces.from_sales_channel(c) for c in channels) if m}
    marketplace = incident.marketplace
    if marketplace is None and len(seen) == 1:
        result.marketplace = seen.pop()
    elif marketplace and seen - {marketplace}:
        result.warnings.append(f"the reports include orders from {', '.join(sorted(seen))}; "
                               f"this incident is for {marketplace}")
    details = {"files": [{"name": r.path.name, "kind": r.kind, "encoding": r.encoding,
                          "rows_read": r.rows_read, "scope_lines": len(r.lines)} for r in reports]}
    if result.marketplace:
        details["marketplace_inferred"] = result.marketplace
    matched = any(incident.in_window(line.fields.get("purchase_date")) for line in incoming)
    if not any(report.lines for report in reports):
        result.warnings.append(_no_match(incident.skus, paths, encoding))
    elif not matched:
        result.warnings.append(f"none of the lines of {', '.join(incident.skus)} in these reports was bought in the "
                               "window: check the window (`incident scope --start ... --end ...`) and the reports' dates")
    near = _near_the_window(incident, incoming)
    if near:
        result.warnings.append(f"outside the window: {near} lines of {', '.join(incident.skus)} "
                               f"{'below the floor ' if incident.floor is not None else ''}were bought in the hour "
                               "before or after it; widen it? (`incident scope --start ... --end ...`, then pull again)")
    details["scope_matched"] = matched
    with store.change(who, "pull", details) as conn:
        result.new_lines, result.updated_lines = merge_into(store, conn, incident, incoming)
        details.update(new_lines=result.new_lines, updated_lines=result.updated_lines)
        if result.marketplace:
            conn.execute("UPDATE incident SET marketplace = ?", (result.marketplace,))
        if matched or store.lines(conn):  # a pull that found nothing of the scope does not scope the orders
            store.tick_step(conn, PULL_COMMAND, who)
    return result


def _no_match(skus: list[str], paths: list[Path], encoding: str | None) -> str:
    """The loud warning for a pull that found no line of the scope's SKUs, with the SKUs in the
    reports that come closest (a typo, a case difference, two SKUs in one --sku)."""
    seen: Counter[str] = Counter()
    for path in paths:
        try:
            seen.update(line.sku for line in read_report(path, None, encoding).lines)
        except IncidentError:
            continue
    hints = []
    for sku in skus:
        parts = [p for p in re.split(r"[,;\s]+", sku) if p]
        close = ([p for p in parts if p in seen] if len(parts) > 1 else []) \
            + [s for s in seen if s.lower() == sku.lower() and s != sku] \
            + difflib.get_close_matches(sku, list(seen), n=3, cutoff=0.6)
        if close:
            hints.append(f"for {sku}: {', '.join(dict.fromkeys(close))}")
    closest = f" Closest SKUs in the reports: {'; '.join(hints)}." if hints else ""
    return (f"NO LINE of {', '.join(skus)} is in these reports, so no order was scoped.{closest} "
            "Fix the SKUs with `incident scope --sku ...` (one --sku per SKU), then pull again")


def _near_the_window(incident, incoming: list[ReportLine]) -> int:
    """Lines of the scope's SKUs bought within an hour before or after the window (below the
    floor, when there is one): the window may be too narrow."""
    before = iso_utc(incident.window_start - timedelta(hours=1))
    after = iso_utc(incident.window_end + timedelta(hours=1))
    count = 0
    for line in incoming:
        bought = line.fields.get("purchase_date")
        if not bought or incident.in_window(bought) or not (before <= bought < after):
            continue
        price, quantity = line.fields.get("item_price"), line.fields.get("quantity")
        discount = abs(line.fields.get("item_promotion_discount") or 0)
        if incident.floor is not None and (price is None or not quantity or (price - discount) / quantity >= incident.floor):
            continue
        count += 1
    return count
