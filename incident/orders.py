"""Pulling report files into an incident: read every file first (all or nothing), merge their
lines into one picture per order line, save it with its event in one transaction.

Merging: All Orders brings status, channel, prices and promotion ids; Unshipped brings the
order-item-id and the buyer's contact; the legacy report brings prices and item ids. A value from
a report with an older `last-updated-date` never overwrites a newer one, so pulling again, in any
order, gives the same picture.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from incident.amazon import marketplaces
from incident.amazon.cells import relay_domain_ok
from incident.amazon.reports import Report, ReportLine, read_report
from incident.errors import InputFileError, UsageError
from incident.workspace.store import OrderLine, Store

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
    with stdin_spooled(store, paths) as readable:
        reports = [_read(path, shown_as, incident, encoding) for path, shown_as in readable]
    result = PullResult(reports=reports)
    incoming = [line for report in reports for line in report.lines]
    if all(report.rows_read == 0 for report in reports):
        raise InputFileError(reports[0].path, "holds no orders, only its header line (as does every report "
                             "given), so there is nothing to pull", "Download the report again for a date range "
                             "that covers the incident's window", line=2)
    for report in reports:
        if report.rows_read == 0:
            result.warnings.append(f"{report.path.name} holds no orders, only its header line: was its date "
                                   "range right? (the other reports were pulled)")
    channels: Counter[str] = Counter(str(l.fields["sales_channel"]) for l in incoming
                                     if l.fields.get("sales_channel"))
    seen = {m.code for m in (marketplaces.from_sales_channel(c) for c in channels) if m}
    marketplace = incident.marketplace
    if marketplace is None and len(seen) == 1:
        result.marketplace = seen.pop()
    elif marketplace and seen - {marketplace}:
        result.warnings.append(f"the reports include orders from {', '.join(sorted(seen))}; "
                               f"this incident is for {marketplace}")
    result.warnings += _relay_warnings(reports, marketplace or result.marketplace)
    details = {"files": [{"name": r.path.name, "kind": r.kind, "encoding": r.encoding,
                          "rows_read": r.rows_read, "scope_lines": r.scope_rows} for r in reports]}
    if result.marketplace:
        details["marketplace_inferred"] = result.marketplace
    with store.change(who, "pull", details) as conn:
        result.new_lines, result.updated_lines = merge_into(store, conn, incident, incoming)
        details.update(new_lines=result.new_lines, updated_lines=result.updated_lines)
        if result.marketplace:
            conn.execute("UPDATE incident SET marketplace = ?", (result.marketplace,))
        store.tick_step(conn, PULL_COMMAND, who)
    return result


def _read(path: Path, shown_as: Path, incident, encoding: str | None) -> Report:
    """One report, keeping only the lines bought inside the window: memory stays with the
    incident's size, not the file's. Errors name the file as the user gave it."""
    try:
        report = read_report(path, incident.skus, encoding, window=(incident.window_start, incident.window_end))
    except InputFileError as exc:
        if path == shown_as:
            raise
        raise InputFileError(shown_as, exc.problem, exc.fix, exc.line, exc.column, exc.column_name) from None
    report.path = shown_as
    return report


@contextmanager
def stdin_spooled(store: Store, paths: list[Path]) -> Iterator[list[tuple[Path, Path]]]:
    """(file to read, name to show) per report; `-` is standard input, copied whole into a
    private file in the incident's folder first: a pipe can be read only once, and the reader
    reads a file twice (its first bytes to recognise it, then all of it)."""
    if sum(1 for path in paths if str(path) == "-") > 1:
        raise UsageError("--report - (standard input) can be given once")
    spooled: Path | None = None
    readable = []
    try:
        for path in paths:
            if str(path) != "-":
                readable.append((Path(path), Path(path)))
                continue
            spooled = store.folder / f".stdin-{secrets.token_hex(4)}.txt"
            fd = os.open(spooled, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                shutil.copyfileobj(sys.stdin.buffer, handle, 1 << 20)
            readable.append((spooled, Path("-")))
        yield readable
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)


def _relay_warnings(reports: list[Report], marketplace: str | None) -> list[str]:
    """Buyer addresses that are not Amazon's relay for the marketplace: a notice would go to
    whoever holds them. Counted, never shown (buyer data)."""
    market = marketplaces.BY_CODE.get(marketplace or "")
    domain = market.relay_domain if market else None
    warnings = []
    for report in reports:
        odd = {l.order_id for l in report.lines
               if l.fields.get("buyer_email") and not relay_domain_ok(str(l.fields["buyer_email"]), domain)}
        if odd:
            warnings.append(f"{len(odd)} buyer e-mail address(es) in {report.path.name} are not at Amazon's relay "
                            f"({domain or 'marketplace.amazon.*'}): check the report before sending notices "
                            f"(orders {', '.join(sorted(odd)[:5])}{' ...' if len(odd) > 5 else ''})")
    return warnings
