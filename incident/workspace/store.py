"""The incident workspace: one folder per incident under $INCIDENT_HOME, holding an SQLite
database (scope, order lines, checklist, exports, an append-only event log) and `exports/`.

Every change goes through `Store.change()`, which writes its timeline event in the same
transaction, so the event log is the audit trail of everything that happened.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import sqlite3
import zlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from incident.errors import NoIncidentError, UsageError
from incident.timeutil import iso_utc, now_utc, parse_iso
from incident.workspace.journal import Journal

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
]
PERSONAL_FIELDS = ("buyer_email", "buyer_name")
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
    state TEXT NOT NULL DEFAULT 'open', at TEXT, by TEXT, note TEXT, follow_up TEXT
);
CREATE TABLE exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, path TEXT NOT NULL,
    format TEXT NOT NULL, rows INTEGER NOT NULL, sha256 TEXT NOT NULL, reason TEXT
);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, state TEXT NOT NULL, body BLOB NOT NULL,
    sha256 TEXT NOT NULL, reason TEXT NOT NULL, rows INTEGER NOT NULL, document_id TEXT, feed_id TEXT,
    report TEXT
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
    rendered_at TEXT NOT NULL, buyer_locale TEXT
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, details TEXT NOT NULL
);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""


SCHEMA_FINGERPRINT = zlib.crc32(_SCHEMA.encode()) & 0x7FFFFFFF

def home() -> Path:
    return Path(os.environ.get("INCIDENT_HOME") or "incidents")


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

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.order_id, self.sku, self.seq)


class Store(Journal):
    """An open incident database."""

    SCHEMA = _SCHEMA

    def __init__(self, folder: Path):
        self.folder = folder
        super().__init__(folder / DB_NAME)

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
        result = []
        for row in (conn or self.conn).execute("SELECT * FROM order_lines ORDER BY purchase_date, order_id, sku, seq"):
            values = {name: row[name] for name in ("order_id", "sku", "seq", *LINE_FIELDS)}
            for name in _MONEY_FIELDS:
                if values[name] is not None:
                    values[name] = Decimal(values[name])
            result.append(OrderLine(**values))
        return result

    def steps(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM steps ORDER BY position").fetchall()

    def step(self, step_id: str) -> sqlite3.Row:
        row = self.conn.execute("SELECT * FROM steps WHERE id = ?", (step_id,)).fetchone()
        if row is None:
            known = ", ".join(r["id"] for r in self.steps())
            raise UsageError(f"no step '{step_id}' in this incident's checklist: use one of {known}")
        return row

    def cancel_requests(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        """The latest feed state per (order id, item code): in_flight, accepted or rejected."""
        rows = self.conn.execute("SELECT order_id, order_item_id, state, message FROM cancel_requests "
                                 "ORDER BY submission_id")
        return {(r["order_id"], r["order_item_id"]): (r["state"], r["message"]) for r in rows}

    def exports(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM exports ORDER BY id").fetchall()

    # -- writing (inside change()) -----------------------------------------------------------

    def save_lines(self, conn: sqlite3.Connection, lines: list[OrderLine]) -> None:
        stamp = iso_utc(now_utc())
        columns = ["order_id", "sku", "seq", *LINE_FIELDS]
        sql = (f"INSERT INTO order_lines ({', '.join(columns)}, first_seen, updated_at) "
               f"VALUES ({', '.join('?' * (len(columns) + 2))}) "
               f"ON CONFLICT (order_id, sku, seq) DO UPDATE SET "
               + ", ".join(f"{name} = excluded.{name}" for name in LINE_FIELDS)
               + ", updated_at = excluded.updated_at")
        rows = []
        for line in lines:
            values = [getattr(line, name) for name in columns]
            values = [str(v) if isinstance(v, Decimal) else v for v in values]
            rows.append((*values, stamp, stamp))
        conn.executemany(sql, rows)

    def tick_step(self, conn: sqlite3.Connection, command: str, who: str, note: str | None = None) -> list[str]:
        """Mark done the open steps that this command completes."""
        ticked = [row["id"] for row in conn.execute(
            "SELECT id FROM steps WHERE ticks_on = ? AND state = 'open'", (command,))]
        conn.execute("UPDATE steps SET state = 'done', at = ?, by = ?, note = coalesce(?, note) "
                     "WHERE ticks_on = ? AND state = 'open'",
                     (iso_utc(now_utc()), who, note, command))
        return ticked

    def purge_personal_data(self, who: str) -> int:
        """Erase buyer names and addresses: in the database (rebuilt, so no old page keeps them)
        and in the outbox's e-mails. Orders, notices' texts and the log stay."""
        with self.change(who, "purge_personal_data", {}) as conn:
            count = conn.execute(
                "UPDATE order_lines SET " + ", ".join(f"{name} = NULL" for name in PERSONAL_FIELDS)
                + " WHERE " + " OR ".join(f"{name} IS NOT NULL" for name in PERSONAL_FIELDS)
            ).rowcount
        self.conn.execute("VACUUM")
        outbox = self.folder / "outbox"
        if outbox.is_dir():
            for path in outbox.iterdir():
                if path.suffix in (".eml", ".csv"):
                    path.unlink()
        return count


# -- creating and finding incidents ----------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24] or "incident"


def create(root: Path, *, title: str, skus: list[str], window_start: datetime,
           window_end: datetime, floor: Decimal | None, marketplace: str | None,
           who: str, steps: list[dict[str, Any]]) -> Store:
    opened = now_utc()
    incident_id = f"{opened:%Y%m%d-%H%M%S}-{_slug(skus[0])}"
    folder = root / incident_id
    if folder.exists():
        incident_id += f"-{secrets.token_hex(2)}"
        folder = root / incident_id
    folder.mkdir(parents=True, mode=0o700)
    # SQLite gives its journal files the database file's mode: create it 0600 first
    os.close(os.open(folder / DB_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    store = Store(folder)
    details = {"id": incident_id, "title": title, "skus": skus,
               "window_start": iso_utc(window_start), "window_end": iso_utc(window_end),
               "floor": None if floor is None else str(floor), "marketplace": marketplace}
    with store.change(who, "open", details) as conn:
        conn.execute("INSERT INTO incident (id, title, skus, window_start, window_end, floor, "
                     "marketplace, opened_at, opened_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (incident_id, title, json.dumps(skus), iso_utc(window_start),
                      iso_utc(window_end), details["floor"], marketplace, iso_utc(opened), who))
        for position, step in enumerate(steps):
            conn.execute("INSERT INTO steps (position, id, title, why, who, command, manual, "
                         "ticks_on, required, follow_up) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (position, step["id"], step["title"], step["why"], step["who"],
                          step.get("command"), step.get("manual"), step.get("ticks_on"),
                          1 if step.get("required", True) else 0, step.get("then")))
    return store


def open_store(root: Path, incident_id: str | None = None) -> Store:
    """The named incident, or the most recent open one."""
    if incident_id:
        folder = root / incident_id
        if not (folder / DB_NAME).exists():
            raise NoIncidentError(f"no incident '{incident_id}' under {root}: "
                                  "run `incident list` to see the incidents there")
        return Store(folder)
    candidates = sorted((p for p in root.glob(f"*/{DB_NAME}")), reverse=True) if root.exists() else []
    for db in candidates:
        store = Store(db.parent)
        if store.incident().state == "open":
            return store
        store.close()
    raise NoIncidentError(f"no open incident under {root}: start one with "
                          "`incident open --sku SKU --start TIME --end TIME` "
                          "(or set INCIDENT_HOME to where your incidents are)")


def list_incidents(root: Path) -> list[Incident]:
    result = []
    for db in sorted(root.glob(f"*/{DB_NAME}")) if root.exists() else []:
        with Store(db.parent) as store:
            result.append(store.incident())
    return result
