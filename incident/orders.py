"""Pulling report files into an incident: read every file first (all or nothing), merge their
lines into one picture per order line, save it with its event in one transaction.

Merging: All Orders brings status, channel, prices and promotion ids; Unshipped brings the
order-item-id and the buyer's contact; the legacy report brings prices and item ids. A value from
a report with an older `last-updated-date` never overwrites a newer one, so pulling again, in any
order, gives the same picture.
"""

from __future__ import annotations

import difflib
import os
import re
import secrets
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from incident.amazon import marketplaces, xml_orders
from incident.amazon.cells import relay_domain_ok
from incident.amazon.rawfile import check_regular
from incident.amazon.reports import Report, ReportLine, open_report
from incident.errors import IncidentError, InputFileError, UsageError
from incident.timeutil import iso_utc
from incident.workspace.store import ADDRESS_FIELDS, OrderLine, Store, copy_line, lines_of_orders

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
NEAR = timedelta(hours=1)  # lines this close to the window are read too, to point them out


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
    new, updated = _merge_batch(store, conn, incident, incoming)
    return len(new), len(updated)


def _merge_batch(store: Store, conn, incident, incoming: list[ReportLine]) -> tuple[set[str], set[str]]:
    """Merge one batch; the keys of the lines it added and of those it changed. Only the saved
    lines of the batch's orders are read: a batch costs the same however big the incident is."""
    existing = {line.key: line for line in lines_of_orders(conn, sorted({l.order_id for l in incoming}))}
    touched: dict[tuple, OrderLine] = {}
    for line_in in incoming:
        key = (line_in.order_id, line_in.sku, line_in.seq)
        line = touched.get(key)
        if line is None:
            if key in existing:
                line = copy_line(existing[key])
            elif incident.in_window(line_in.fields.get("purchase_date")):
                line = OrderLine(order_id=line_in.order_id, sku=line_in.sku, seq=line_in.seq)
            else:
                continue
            touched[key] = line
        _merge(line, line_in)
    changed = [line for key, line in touched.items() if existing.get(key) != line]
    store.save_lines(conn, changed)
    keys = {line.key: f"{line.order_id}\t{line.sku}\t{line.seq}" for line in changed}
    return ({text for key, text in keys.items() if key not in existing},
            {text for key, text in keys.items() if key in existing})


class _Pull:
    """What a pull learns while it streams the reports into the incident: the lines it added and
    changed (a line added by one report and changed by the next counts once, as new), the sales
    channels, and the buyer addresses' domains (counted, a few order ids kept for the warning)."""

    def __init__(self, store: Store, conn, incident):
        self.store, self.conn, self.incident = store, conn, incident
        self.new: set[str] = set()
        self.updated: set[str] = set()
        self.channels: Counter[str] = Counter()
        self.hosts: dict[tuple[str, str], tuple[int, list[str]]] = {}  # (file, host) -> (lines, first order ids)
        self.in_window = 0  # lines of the scope bought inside the window
        self.near = 0  # lines of the scope bought within NEAR of it (below the floor, when there is one)

    def add(self, report: Report, batch: list[ReportLine]) -> None:
        inside, outside = [], []
        for line in batch:
            (inside if self.incident.in_window(line.fields.get("purchase_date")) else outside).append(line)
        self.in_window += len(inside)
        self.near += _near_the_window(self.incident, outside)
        batch = inside
        new, updated = _merge_batch(self.store, self.conn, self.incident, batch)
        self.new |= new
        self.updated |= updated - self.new
        for line in batch:
            if line.fields.get("sales_channel"):
                self.channels[str(line.fields["sales_channel"])] += 1
            if line.fields.get("buyer_email"):
                host = str(line.fields["buyer_email"]).rpartition("@")[2].lower()
                count, ids = self.hosts.get((report.path.name, host), (0, []))
                if len(ids) < 5 and line.order_id not in ids:
                    ids = [*ids, line.order_id]
                self.hosts[(report.path.name, host)] = (count + 1, ids)

    def relay_warnings(self, marketplace: str | None) -> list[str]:
        """Buyer addresses that are not Amazon's relay for the marketplace: a notice would go to
        whoever holds them. Counted, never shown (buyer data)."""
        market = marketplaces.BY_CODE.get(marketplace or "")
        domain = market.relay_domain if market else None
        odd: dict[str, tuple[int, list[str]]] = {}
        for (name, host), (count, ids) in self.hosts.items():
            if not relay_domain_ok(f"x@{host}", domain):
                total, first = odd.get(name, (0, []))
                odd[name] = (total + count, sorted(set(first + ids))[:5])
        return [f"{count} buyer e-mail address(es) in {name} are not at Amazon's relay "
                f"({domain or 'marketplace.amazon.*'}): check the report before sending notices "
                f"(orders {', '.join(ids)}{' ...' if count > len(ids) else ''})"
                for name, (count, ids) in odd.items()]


def pull_reports(store: Store, paths: list[Path], who: str, encoding: str | None = None) -> PullResult:
    """Read the reports into the incident, all or nothing: every report is checked and merged
    inside one transaction, a batch at a time, and any error leaves the incident as it was."""
    incident = store.incident()
    with stdin_spooled(store, paths) as readable:
        opened = [_open(path, shown_as, incident, encoding) for path, shown_as in readable]
        result = PullResult(reports=[report for report, _, _ in opened])
        details: dict = {}
        with store.change(who, "pull", details) as conn:
            pull = _Pull(store, conn, incident)
            for report, batches, named in opened:
                with named:
                    for batch in batches:
                        pull.add(report, batch)
            _finish(store, conn, incident, pull, result, details, who)
        if not any(report.scope_rows for report in result.reports):
            result.warnings.append(_no_match(incident.skus, [path for path, _ in readable], encoding))
        elif not pull.in_window:
            result.warnings.append(f"none of the lines of {', '.join(incident.skus)} in these reports was bought in "
                                   "the window: check the window (`incident scope --start ... --end ...`) and the "
                                   "reports' dates")
        if pull.near:
            result.warnings.append(f"outside the window: {pull.near} lines of {', '.join(incident.skus)} "
                                   f"{'below the floor ' if incident.floor is not None else ''}were bought in the "
                                   "hour before or after it; widen it? (`incident scope --start ... --end ...`, "
                                   "then pull again)")
    return result


def _finish(store: Store, conn, incident, pull: _Pull, result: PullResult, details: dict, who: str) -> None:
    reports = result.reports
    if all(report.rows_read == 0 for report in reports):
        raise InputFileError(reports[0].path, "holds no orders, only its header line (as does every report "
                             "given), so there is nothing to pull", "Download the report again for a date range "
                             "that covers the incident's window", line=2)
    for report in reports:
        if report.rows_read == 0:
            result.warnings.append(f"{report.path.name} holds no orders, only its header line: was its date "
                                   "range right? (the other reports were pulled)")
    seen = {m.code for m in (marketplaces.from_sales_channel(c) for c in pull.channels) if m}
    marketplace = incident.marketplace
    if marketplace is None and len(seen) == 1:
        result.marketplace = seen.pop()
    elif marketplace and seen - {marketplace}:
        result.warnings.append(f"the reports include orders from {', '.join(sorted(seen))}; "
                               f"this incident is for {marketplace}")
    result.warnings += pull.relay_warnings(marketplace or result.marketplace)
    result.new_lines, result.updated_lines = len(pull.new), len(pull.updated)
    details.update(files=[{"name": r.path.name, "kind": r.kind, "encoding": r.encoding, "rows_read": r.rows_read,
                           "scope_lines": r.scope_rows} for r in reports],
                   new_lines=result.new_lines, updated_lines=result.updated_lines)
    if result.marketplace:
        details["marketplace_inferred"] = result.marketplace
        conn.execute("UPDATE incident SET marketplace = ?", (result.marketplace,))
    details["scope_matched"] = pull.in_window > 0
    if pull.in_window or _has_lines(conn):
        store.tick_step(conn, PULL_COMMAND, who)  # a pull that found nothing of the scope scopes nothing


def _has_lines(conn) -> bool:
    return conn.execute("SELECT 1 FROM order_lines LIMIT 1").fetchone() is not None


def _open(path: Path, shown_as: Path, incident, encoding: str | None):
    """(report, its batches of lines bought inside the window, a context that makes its errors
    name the file as the user gave it). The header is checked now, before anything is written."""
    named = _NamedAs(path, shown_as)
    with named:
        check_regular(path)  # before anything opens it: a FIFO would block
        if xml_orders.is_xml(path):  # sniffed by content, not by name
            report = xml_orders.read_xml_report(path, incident.skus)
            report.scope_rows = len(report.lines)
            batches = iter([report.lines])
        else:
            report, batches = open_report(path, incident.skus, encoding,
                                          window=(incident.window_start - NEAR, incident.window_end + NEAR))
    report.path = shown_as
    return report, batches, named


class _NamedAs:
    """Re-raises an InputFileError about the private copy of standard input as one about `-`."""

    def __init__(self, path: Path, shown_as: Path):
        self.path, self.shown_as = path, shown_as

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if isinstance(exc, InputFileError) and self.path != self.shown_as:
            raise InputFileError(self.shown_as, exc.problem, exc.fix, exc.line, exc.column, exc.column_name) from None
        return False


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


def _no_match(skus: list[str], paths: list[Path], encoding: str | None) -> str:
    """The loud warning for a pull that found no line of the scope's SKUs, with the SKUs in the
    reports that come closest (a typo, a case difference, two SKUs in one --sku)."""
    seen: Counter[str] = Counter()
    for path in paths:
        try:
            seen.update(line.sku for batch in open_report(path, None, encoding)[1] for line in batch)
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
