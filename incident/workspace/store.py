"""The incident workspace: one folder per incident under $INCIDENT_HOME, holding an SQLite
database (scope, order lines, checklist, exports, an append-only event log) and `exports/`.

Every change goes through `Store.change()`, which writes its timeline event in the same
transaction, so the event log is the audit trail of everything that happened; each event carries
the hash of the one before (`chain`).

Long because the schema, the order line it stores and the one way to change them are read together.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import Any

from incident.errors import UsageError
from incident.timeutil import iso_utc, now_utc, parse_iso
from incident.workspace.database import EVENT_LOG, Database, fingerprint
from incident.workspace.files import refuse_link, remove_files

DB_NAME = "incident.db"

LINE_FIELDS = [
    "order_item_id", "asin", "product_name", "purchase_date", "last_updated", "order_status",
    "item_status", "fulfillment_channel", "sales_channel", "quantity", "quantity_shipped",
    "quantity_to_ship", "currency", "item_price", "item_promotion_discount", "promotion_ids",
    "ship_country", "buyer_email", "buyer_name",
    # what the buyer was charged besides the item (All Orders report; Orders API proceeds)
    "item_tax", "shipping_price", "shipping_tax", "gift_wrap_price", "gift_wrap_tax", "ship_promotion_discount",
    # who cancelled (Orders 2026-01-01 cancellationExecution.cancelledBy: BUYER, MERCHANT, AMAZON)
    # and whether the buyer asked to cancel (cancellationRequest; v0 IsBuyerRequestedCancel)
    "cancelled_by", "cancel_requested",
    # where a seller-fulfilled order ships (Unshipped report, XML order report): for apology cards
    "recipient_name", "ship_address_1", "ship_address_2", "ship_address_3", "ship_city", "ship_state", "ship_postal_code",
]
ADDRESS_FIELDS = ("recipient_name", "ship_address_1", "ship_address_2", "ship_address_3", "ship_city", "ship_state",
                  "ship_postal_code")
PERSONAL_FIELDS = ("buyer_email", "buyer_name", *ADDRESS_FIELDS)
_MONEY_FIELDS = ("item_price", "item_promotion_discount", "item_tax", "shipping_price", "shipping_tax",
                 "gift_wrap_price", "gift_wrap_tax", "ship_promotion_discount")

_SCHEMA = f"""
CREATE TABLE incident (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, skus TEXT NOT NULL,
    window_start TEXT NOT NULL, window_end TEXT NOT NULL, floor TEXT, marketplace TEXT,
    opened_at TEXT NOT NULL, opened_by TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'open'
);
CREATE TABLE order_lines (
    order_id TEXT NOT NULL, sku TEXT NOT NULL, seq INTEGER NOT NULL,
    {", ".join(f"{name} {'INTEGER' if name.startswith('quantity') else 'TEXT'}"
               for name in LINE_FIELDS)},
    first_seen TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (order_id, sku, seq)
);
CREATE TABLE steps (
    position INTEGER NOT NULL, id TEXT PRIMARY KEY, title TEXT NOT NULL, why TEXT NOT NULL,
    who TEXT NOT NULL, command TEXT, manual TEXT, ticks_on TEXT, required INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'open', at TEXT, by TEXT, note TEXT, follow_up TEXT, more TEXT
);
CREATE TABLE exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, path TEXT NOT NULL,
    format TEXT NOT NULL, rows INTEGER NOT NULL, sha256 TEXT NOT NULL, reason TEXT, stale TEXT
);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, state TEXT NOT NULL, body BLOB NOT NULL,
    sha256 TEXT NOT NULL, reason TEXT NOT NULL, rows INTEGER NOT NULL, document_id TEXT, feed_id TEXT,
    report TEXT, feed_requested_at TEXT
);
CREATE TABLE export_rows (
    export_id INTEGER NOT NULL, order_id TEXT NOT NULL, order_item_id TEXT NOT NULL
);
CREATE INDEX export_rows_by_order ON export_rows (order_id);
CREATE TABLE support_orders (
    kind TEXT NOT NULL, order_id TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (kind, order_id)
);
CREATE TABLE cancel_requests (
    order_id TEXT NOT NULL, order_item_id TEXT NOT NULL, submission_id INTEGER NOT NULL,
    state TEXT NOT NULL, message TEXT, PRIMARY KEY (order_id, order_item_id, submission_id)
);
CREATE TABLE live_pulls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, strategy TEXT NOT NULL, created_after TEXT NOT NULL,
    created_before TEXT NOT NULL, cursor TEXT, pages INTEGER NOT NULL DEFAULT 0,
    orders INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, started_at TEXT NOT NULL
);
CREATE TABLE stop_sales (
    sku TEXT PRIMARY KEY, previous_quantity INTEGER NOT NULL, at TEXT NOT NULL, restored_at TEXT
);
CREATE TABLE notices (
    order_id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, locale TEXT NOT NULL,
    subject TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, problems TEXT,
    forced_reason TEXT, via TEXT, attempts INTEGER NOT NULL DEFAULT 0, sent_at TEXT, error TEXT,
    rendered_at TEXT NOT NULL, buyer_locale TEXT, claimed_by TEXT, claimed_at TEXT
);
CREATE TABLE leases (job TEXT PRIMARY KEY, holder TEXT NOT NULL, who TEXT NOT NULL, host TEXT NOT NULL,
    pid INTEGER NOT NULL, started TEXT NOT NULL, since TEXT NOT NULL);
{EVENT_LOG}"""


SCHEMA_FINGERPRINT = fingerprint(_SCHEMA)
_UPSERT_LINES = (f"INSERT INTO order_lines ({', '.join(['order_id', 'sku', 'seq', *LINE_FIELDS])}, first_seen, updated_at) "
                 f"VALUES ({', '.join('?' * (len(LINE_FIELDS) + 5))}) ON CONFLICT (order_id, sku, seq) DO UPDATE SET "
                 + ", ".join(f"{name} = excluded.{name}" for name in LINE_FIELDS) + ", updated_at = excluded.updated_at")

def actor(by: str | None = None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    skus: list[str]
    window_start: datetime
    window_end: datetime
    floor: Decimal | None
    marketplace: str | None
    opened_at: datetime
    opened_by: str
    state: str

    @cached_property
    def _window_iso(self) -> tuple[str, str]:
        return iso_utc(self.window_start), iso_utc(self.window_end)

    def in_window(self, purchase_date: str | None) -> bool:
        """`purchase_date` as stored: UTC in iso_utc's fixed format, so text order is time order."""
        if purchase_date is None:
            return False
        start, end = self._window_iso
        return start <= purchase_date < end

    def scope(self) -> dict[str, Any]:
        return {"skus": self.skus, "window_start": iso_utc(self.window_start),
                "window_end": iso_utc(self.window_end),
                "floor": None if self.floor is None else str(self.floor),
                "marketplace": self.marketplace}


@dataclass
class OrderLine:
    order_id: str
    sku: str
    seq: int
    order_item_id: str | None = None
    asin: str | None = None
    product_name: str | None = None
    purchase_date: str | None = None
    last_updated: str | None = None
    order_status: str | None = None
    item_status: str | None = None
    fulfillment_channel: str | None = None
    sales_channel: str | None = None
    quantity: int | None = None
    quantity_shipped: int | None = None
    quantity_to_ship: int | None = None
    currency: str | None = None
    item_price: Decimal | None = None
    item_promotion_discount: Decimal | None = None
    promotion_ids: str | None = None
    ship_country: str | None = None
    buyer_email: str | None = None
    buyer_name: str | None = None
    item_tax: Decimal | None = None
    shipping_price: Decimal | None = None
    shipping_tax: Decimal | None = None
    gift_wrap_price: Decimal | None = None
    gift_wrap_tax: Decimal | None = None
    ship_promotion_discount: Decimal | None = None
    cancelled_by: str | None = None
    cancel_requested: str | None = None
    recipient_name: str | None = None
    ship_address_1: str | None = None
    ship_address_2: str | None = None
    ship_address_3: str | None = None
    ship_city: str | None = None
    ship_state: str | None = None
    ship_postal_code: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.order_id, self.sku, self.seq)


@dataclass(frozen=True)
class SellerActions:
    """What the seller did, kept apart from what Amazon says of the orders: the feed state per
    (order id, item code), the items in an upload file, the FBA orders Seller Support was asked
    to cancel."""

    requests: dict[tuple[str, str], tuple[str, str | None]]
    exported: set[tuple[str, str]]
    fba_requested: set[str]

    def acted_on(self, order_id: str, order_item_id: str | None) -> bool:
        """The seller cancelled this item, or asked Amazon to."""
        key = (order_id, order_item_id or "")
        return (key in self.exported or self.requests.get(key, ("",))[0] in ("accepted", "in_flight")
                or order_id in self.fba_requested)


_LINE_COLUMNS = ["order_id", "sku", "seq", *LINE_FIELDS]  # OrderLine's fields, in its order
_SELECT_LINES = f"SELECT {', '.join(_LINE_COLUMNS)} FROM order_lines"
_MONEY_AT = [_LINE_COLUMNS.index(name) for name in _MONEY_FIELDS]
_line_values = attrgetter(*_LINE_COLUMNS)


def _line(row: tuple) -> OrderLine:
    """An OrderLine from a row of _SELECT_LINES (a plain tuple: sqlite3.Row's lookups by name cost
    more than the rest of the line together)."""
    if any(row[i] is not None for i in _MONEY_AT):
        row = list(row)
        for i in _MONEY_AT:
            if row[i] is not None:
                row[i] = Decimal(row[i])
    return OrderLine(*row)


def _select_lines(conn: sqlite3.Connection, where: str = "", parameters=()) -> sqlite3.Cursor:
    """The order lines as plain tuples (see _line)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(f"{_SELECT_LINES} {where}", parameters)


def copy_line(line: OrderLine) -> OrderLine:
    """A copy of the line (dataclasses.replace() costs ten times as much)."""
    copied = OrderLine.__new__(OrderLine)
    copied.__dict__.update(line.__dict__)
    return copied


class Store(Database):
    """An open incident database."""

    schema = _SCHEMA

    def __init__(self, folder: Path):
        self.folder = folder
        super().__init__(folder / DB_NAME)
        self.skipped: list[str] = []  # folders open_store passed over (damaged, not ours): for a warning

    @property
    def exports_dir(self) -> Path:
        return self.folder / "exports"

    def __enter__(self) -> Store:
        return self

    # -- reading -------------------------------------------------------------------------------

    def incident(self) -> Incident:
        row = self.conn.execute("SELECT * FROM incident").fetchone()
        return Incident(id=row["id"], title=row["title"], skus=json.loads(row["skus"]),
                        window_start=parse_iso(row["window_start"]),
                        window_end=parse_iso(row["window_end"]),
                        floor=Decimal(row["floor"]) if row["floor"] is not None else None,
                        marketplace=row["marketplace"], opened_at=parse_iso(row["opened_at"]),
                        opened_by=row["opened_by"], state=row["state"])

    def lines(self, conn: sqlite3.Connection | None = None) -> list[OrderLine]:
        return [_line(row) for row in _select_lines(conn or self.conn, "ORDER BY purchase_date, order_id, sku, seq")]


    def steps(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM steps ORDER BY position").fetchall()

    def step(self, step_id: str) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM steps WHERE id = ?", (step_id,)).fetchone()
        if row is None:
            known = ", ".join(r["id"] for r in self.steps())
            raise UsageError(f"no step '{step_id}' in this incident's checklist: use one of {known}")
        return row

    def cancel_requests(self, order_ids: list[str] | None = None) -> dict[tuple[str, str], tuple[str, str | None]]:
        """The latest feed state per (order id, item code): in_flight, accepted or rejected (of
        these orders only, when given)."""
        rows = _of_orders(self.conn, "SELECT order_id, order_item_id, state, message FROM cancel_requests",
                          "ORDER BY submission_id", order_ids)
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def seller_actions(self, order_ids: list[str] | None = None) -> SellerActions:
        """What the seller did about the orders, apart from what Amazon says of them: of every
        order, or of these only (a batch: what is read stays the size of the batch)."""
        exported = {(r[0], r[1]) for r in _of_orders(self.conn, "SELECT order_id, order_item_id FROM export_rows",
                                                     "", order_ids)}
        asked = {r[0] for r in _of_orders(self.conn, "SELECT order_id FROM support_orders WHERE kind = 'fba-request'",
                                          "", order_ids)}
        return SellerActions(self.cancel_requests(order_ids), exported, asked)

    def exports(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM exports ORDER BY id").fetchall()

    # -- writing (inside change()) -----------------------------------------------------------

    def save_lines(self, conn: sqlite3.Connection, lines: list[OrderLine]) -> None:
        stamp = iso_utc(now_utc())
        rows = []
        for line in lines:
            values = [*_line_values(line), stamp, stamp]
            for i in _MONEY_AT:
                if values[i] is not None:
                    values[i] = str(values[i])
            rows.append(values)
        conn.executemany(_UPSERT_LINES, rows)

    def tick_step(self, conn: sqlite3.Connection, command: str, who: str, note: str | None = None) -> list[str]:
        """Mark done the open steps that this command completes."""
        ticked = [row["id"] for row in conn.execute(
            "SELECT id FROM steps WHERE ticks_on = ? AND state = 'open'", (command,))]
        conn.execute("UPDATE steps SET state = 'done', at = ?, by = ?, note = coalesce(?, note) "
                     "WHERE ticks_on = ? AND state = 'open'",
                     (iso_utc(now_utc()), who, note, command))
        return ticked

    def purge_personal_data(self, who: str) -> int:
        """Erase buyer names, e-mail and postal addresses: in the database (rebuilt, so no old page keeps
        them), in the outbox's e-mails and in the apology cards. Orders, notices' texts and the log stay."""
        refuse_link(self.folder / "outbox")
        with self.change(who, "purge_personal_data", {}) as conn:
            count = conn.execute(
                "UPDATE order_lines SET " + ", ".join(f"{name} = NULL" for name in PERSONAL_FIELDS)
                + " WHERE " + " OR ".join(f"{name} IS NOT NULL" for name in PERSONAL_FIELDS)
            ).rowcount
        self.conn.execute("VACUUM")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # in WAL mode the old pages linger in the -wal file
        # only what the incident recorded writing there: each notice sent by outbox, and its list
        ours = [f"{row[0]}.eml" for row in self.conn.execute("SELECT order_id FROM notices WHERE via = 'outbox'")]
        remove_files(self.folder / "outbox", [*ours, "outbox.csv", OUTBOX_TEST_FILE] if ours else [OUTBOX_TEST_FILE])
        refuse_link(self.exports_dir)
        remove_files(self.exports_dir, [p.name for p in self.exports_dir.glob("apology-cards*.pdf")])  # names, addresses
        return count


OUTBOX_TEST_FILE = "test-notice.eml"  # `notify send --via outbox --test-to`: a buyer's notice, so purged too


def _of_orders(conn: sqlite3.Connection, select: str, order_by: str, order_ids: list[str] | None) -> list[tuple]:
    """The rows of `select` (its WHERE, if any, taken as is), of these orders only when given."""
    cursor = conn.cursor()
    cursor.row_factory = None
    if order_ids is None:
        return cursor.execute(f"{select} {order_by}").fetchall()
    joiner = "AND" if " WHERE " in select else "WHERE"
    rows: list[tuple] = []
    for start in range(0, len(order_ids), 500):  # SQLite's limit on bound values is 999 on old builds
        chunk = order_ids[start:start + 500]
        rows += cursor.execute(f"{select} {joiner} order_id IN ({', '.join('?' * len(chunk))}) {order_by}", chunk)
    return rows


def lines_of_orders(conn: sqlite3.Connection, order_ids: list[str]) -> list[OrderLine]:
    """The saved lines of these orders only (a batch being merged)."""
    return [_line(row) for row in _of_orders(conn, _SELECT_LINES, "", order_ids)]


def line_batches(store: Store, size: int = 20000) -> Iterator[list[OrderLine]]:
    """Every line of the incident, in batches of about `size` lines holding whole orders: memory
    stays flat whatever the incident's size."""
    cursor = _select_lines(store.conn, "ORDER BY order_id, sku, seq")
    batch: list[OrderLine] = []
    while rows := cursor.fetchmany(size):
        for row in rows:
            if len(batch) >= size and row[0] != batch[-1].order_id:
                yield batch
                batch = []
            batch.append(_line(row))
    if batch:
        yield batch


def lines_in_order(store: Store, size: int = 5000) -> Iterator[list[OrderLine]]:
    """Every line of the incident in Store.lines()' order (purchase date, order), `size` at a
    time: SQLite sorts them (on disk when they are many), memory holds one batch."""
    cursor = _select_lines(store.conn, "ORDER BY purchase_date, order_id, sku, seq")
    while rows := cursor.fetchmany(size):
        yield [_line(row) for row in rows]


# -- creating and finding incidents: incident.workspace.folders (imported last: it uses Store) --

from incident.workspace.folders import create, home, list_incidents, open_store, scan  # noqa: E402, F401
