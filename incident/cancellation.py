"""Seller Central's Order Cancellation upload file (Orders > Upload order related files > Order
Cancellation), as tab-delimited text to upload and as .xlsx with every cell stored as text.

Row 1 is Amazon's template marker, row 2 the column names, then one row per cancellable item,
always with its amazon-order-item-code (an upload without it was seen to fail).
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from incident.amazon.cells import ITEM_CODE, ORDER_ID
from incident.errors import StateError, UsageError
from incident.safetext import formula_safe
from incident.scope import BUCKETS, CANCELLABLE, Decision, sort_lines
from incident.timeutil import now_utc
from incident.workspace.files import remove_files, write_new
from incident.workspace.store import Store, line_batches

EXPORT_COMMAND = "cancel-export"
TEMPLATE_ROW = ["TemplateType=OrderCancellation", "Version=1.0/1.0.3",
                "This row for Amazon.com use only.  Do not modify or delete."]
HEADER_ROW = ["order-id", "cancellation-reason-code", "amazon-order-item-code"]
# Seller Central's own list plus what old flat-file clients accept. BuyerCanceled is left out on
# purpose: using it for a pricing error misstates who cancelled.
REASONS = ["PricingError", "GeneralAdjustment", "NoInventory", "ShippingAddressUndeliverable",
           "CustomerExchange", "CustomerReturn", "MerchandiseNotReceived"]
DEFAULT_REASON = "PricingError"
FORMATS = ("txt", "xlsx", "both")


@dataclass
class ExportResult:
    rows: list[list[str]]
    files: list[tuple[Path, str]] = field(default_factory=list)  # (path, sha256)
    left_out: dict[str, int] = field(default_factory=dict)  # bucket -> lines


def check_reason(reason: str) -> str:
    for known in REASONS:
        if reason.lower() == known.lower():
            return known
    if reason.lower() == "buyercanceled":
        raise UsageError("--reason BuyerCanceled is not allowed for a pricing error: the buyer "
                         "did not cancel. Use PricingError (default) or GeneralAdjustment")
    raise UsageError(f"--reason '{reason}' is not an Amazon cancellation reason: use one of "
                     f"{', '.join(REASONS)}")


neutralise = formula_safe  # spreadsheets run cells starting with = + - @ as formulas; a leading ' keeps them text


def build_rows(decisions: list[Decision], reason: str) -> list[list[str]]:
    """Validated data rows, one per cancellable item, sorted by order id."""
    rows: list[list[str]] = []
    seen: set[tuple[str, str]] = set()
    for decision in decisions:
        if decision.bucket != CANCELLABLE or decision.in_flight:
            continue
        line = decision.line
        order_id, item_code = line.order_id, line.order_item_id or ""
        if not ORDER_ID.fullmatch(order_id):
            raise StateError(f"order id '{order_id}' is not NNN-NNNNNNN-NNNNNNN; nothing was written")
        if not ITEM_CODE.fullmatch(item_code):
            raise StateError(f"order {order_id} has item code '{item_code}', not 14 digits; "
                             "nothing was written")
        if (order_id, item_code) in seen:
            raise StateError(f"order {order_id} item {item_code} would be listed twice; "
                             "nothing was written")
        seen.add((order_id, item_code))
        rows.append([neutralise(order_id), reason, neutralise(item_code)])
    rows.sort()
    return rows


def render_txt(rows: list[list[str]]) -> bytes:
    lines = ["\t".join(TEMPLATE_ROW), "\t".join(HEADER_ROW)] + ["\t".join(r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def render_xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "OrderCancellation"
    for row in [TEMPLATE_ROW, HEADER_ROW, *rows]:
        sheet.append(row)
    for column in sheet.iter_cols():
        for cell in column:
            cell.data_type = "s"
            cell.number_format = "@"  # Text: Excel keeps 14-digit codes as typed
    for letter, width in zip("ABC", (24, 26, 26)):
        sheet.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(store: Store, who: str, fmt: str = "txt", reason: str = DEFAULT_REASON) -> ExportResult:
    if fmt not in FORMATS:
        raise UsageError(f"--format '{fmt}' is not one of {', '.join(FORMATS)}")
    reason = check_reason(reason)
    incident, actions = store.incident(), store.seller_actions()
    rows: list[list[str]] = []
    left_out = Counter()
    for batch in line_batches(store):  # whole orders a batch at a time: memory stays flat
        decisions = sort_lines(batch, incident, actions)
        rows += build_rows(decisions, reason)
        left_out.update(d.bucket for d in decisions if d.bucket != CANCELLABLE)
    rows.sort()
    result = ExportResult(rows=rows, left_out={name: left_out[name] for name in BUCKETS if name != CANCELLABLE})
    if not rows:
        raise StateError("no order is cancellable now, so no file was written: "
                         "see `incident orders` for where the affected orders are")
    stamp = f"{now_utc():%Y%m%d-%H%M%S}"
    rendered = []
    if fmt in ("txt", "both"):
        rendered.append(("txt", render_txt(rows)))
    if fmt in ("xlsx", "both"):
        rendered.append(("xlsx", render_xlsx(rows)))
    # files first, then the record: a crash in between leaves a file with no record, never a
    # record of a file that does not exist
    written = _write_unique(store.exports_dir / f"OrderCancellation-{incident.id}-{stamp}", rendered)
    details = {"reason": reason, "rows": len(rows),
               "orders": len({r[0] for r in rows}),
               "files": [{"path": str(p), "sha256": h} for _, p, h in written],
               "left_out": result.left_out}
    try:
        with store.change(who, "cancel_export", details) as conn:
            for kind, path, digest in written:
                export_id = conn.execute("INSERT INTO exports (at, path, format, rows, sha256, reason) "
                                         "VALUES (strftime('%Y-%m-%dT%H:%M:%SZ','now'), ?, ?, ?, ?, ?)",
                                         (str(path), kind, len(rows), digest, reason)).lastrowid
            # which items the seller cancelled, whatever Amazon says of them later: their buyers are owed a notice
            conn.executemany("INSERT INTO export_rows (export_id, order_id, order_item_id) VALUES (?, ?, ?)",
                             [(export_id, order_id, item_code) for order_id, _, item_code in rows])
            store.tick_step(conn, EXPORT_COMMAND, who)
    except Exception:  # not recorded (a full disk): no file may stay that the record does not name
        remove_files(store.exports_dir, [path.name for _, path, _ in written])
        raise
    result.files = [(p, h) for _, p, h in written]
    return result


def _write_unique(stem: Path, rendered: list[tuple[str, bytes]]) -> list[tuple[str, Path, str]]:
    """Each file under a name nobody has used: an export never replaces another (two in the same
    second, or two people at once, get -2, -3, ...), so every record keeps matching its file. The
    files of one export share their name; a failure removes what this export wrote."""
    for attempt in range(1, 1000):
        base = stem if attempt == 1 else stem.with_name(f"{stem.name}-{attempt}")
        written: list[tuple[str, Path, str]] = []
        try:
            for kind, data in rendered:
                path = base.with_name(f"{base.name}.{kind}")
                written.append((kind, path, write_new(path, data)))
            return written
        except FileExistsError:
            remove_files(stem.parent, [path.name for _, path, _ in written])
        except BaseException:
            remove_files(stem.parent, [path.name for _, path, _ in written])
            raise
    raise StateError(f"{stem.parent} holds 999 exports of the same second; move old ones away")
