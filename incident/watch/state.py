"""The watch database, beside the incidents ($INCIDENT_HOME/.account/watch.db): every notification
received (by its id, so a message delivered twice counts once), the orders seen per SKU, the
baselines, the poll cursor, the episodes and the alerts. It is a `Database`: the schema migrates
itself and every change writes its event, so a restarted watch resumes where it stopped and the
log says what it did. Holds no buyer data (postal codes are dropped from the notifications)."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from incident.timeutil import iso_utc
from incident.workspace import reserved
from incident.workspace.database import EVENT_LOG, Database

DB_NAME = "watch.db"

SCHEMA = """
CREATE TABLE notifications (
    notification_id TEXT PRIMARY KEY, order_id TEXT, change_type TEXT, event_time TEXT,
    received_at TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE orders (
    order_id TEXT NOT NULL, sku TEXT NOT NULL, order_item_id TEXT, purchase_date TEXT NOT NULL,
    channel TEXT, status TEXT, quantity INTEGER, weight REAL NOT NULL DEFAULT 1, currency TEXT,
    list_unit TEXT, net_unit TEXT, price_checked_at TEXT, source TEXT NOT NULL, first_seen TEXT NOT NULL,
    PRIMARY KEY (order_id, sku)
);
CREATE INDEX orders_by_sku_time ON orders (sku, purchase_date);
CREATE TABLE baselines (
    sku TEXT PRIMARY KEY, per_minute REAL NOT NULL, orders INTEGER NOT NULL, minutes REAL NOT NULL,
    source TEXT NOT NULL, learned_at TEXT NOT NULL
);
CREATE TABLE cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE episodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sku TEXT NOT NULL, detected_at TEXT NOT NULL,
    first_bad_at TEXT NOT NULL, last_signal_at TEXT NOT NULL, confirmed_at TEXT, closed_at TEXT,
    incident_id TEXT, stopped_at TEXT, detect_seconds REAL NOT NULL
);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, sku TEXT NOT NULL, kind TEXT NOT NULL,
    episode_id INTEGER NOT NULL, text TEXT NOT NULL, delivered TEXT NOT NULL
);
""" + EVENT_LOG


@dataclass
class SeenOrder:
    """One SKU of one order as the watch saw it (a notification, a poll, a price check)."""

    order_id: str
    sku: str
    purchase_date: str  # iso_utc
    source: str
    order_item_id: str | None = None
    channel: str | None = None  # Merchant or Amazon
    status: str | None = None
    quantity: int | None = None
    weight: float = 1.0  # a polled order sampled for many: how many orders it stands for


class WatchDB(Database):
    schema = SCHEMA

    def __init__(self, path: Path):
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        super().__init__(path)
        # one commit per received batch and price check, all day long: a write-ahead log makes each
        # commit one sync instead of several, and a crash still loses no committed notification
        self.conn.execute("PRAGMA journal_mode = WAL")

    # -- orders --------------------------------------------------------------------------------
    def save_orders(self, conn: sqlite3.Connection, orders: list[SeenOrder], now: datetime) -> int:
        """Insert new order lines, update the status of known ones; the number of new ones."""
        before = conn.total_changes
        conn.executemany(
            "INSERT INTO orders (order_id, sku, order_item_id, purchase_date, channel, status, quantity, weight, "
            "source, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id, sku) DO NOTHING",
            [(o.order_id, o.sku, o.order_item_id, o.purchase_date, o.channel, o.status, o.quantity, o.weight,
              o.source, iso_utc(now)) for o in orders])
        new = conn.total_changes - before
        conn.executemany("UPDATE orders SET status = coalesce(?, status), order_item_id = coalesce(order_item_id, ?) "
                         "WHERE order_id = ? AND sku = ?",
                         [(o.status, o.order_item_id, o.order_id, o.sku) for o in orders])
        return new

    def save_price(self, conn: sqlite3.Connection, order_id: str, sku: str, list_unit: Decimal | None,
                   net_unit: Decimal | None, currency: str | None, status: str | None, now: datetime) -> None:
        conn.execute("UPDATE orders SET list_unit = ?, net_unit = ?, currency = ?, status = coalesce(?, status), "
                     "price_checked_at = ? WHERE order_id = ? AND sku = ?",
                     (None if list_unit is None else str(list_unit), None if net_unit is None else str(net_unit),
                      currency, status, iso_utc(now), order_id, sku))

    def rate(self, sku: str, since: datetime, excluding: list[str] = (), until: datetime | None = None
             ) -> tuple[float, str | None]:
        """Orders (weighted) of `sku` bought since then, and the first one's purchase time; orders
        that also hold one of `excluding` (a SKU already signalling) are not counted."""
        marks = ",".join("?" * len(excluding))
        other = f"AND order_id NOT IN (SELECT order_id FROM orders WHERE sku IN ({marks}) AND purchase_date >= ?)" \
            if excluding else ""
        row = self.conn.execute(f"SELECT coalesce(sum(weight), 0), min(purchase_date) FROM orders "
                                f"WHERE sku = ? AND purchase_date >= ? AND purchase_date <= ? {other}",
                                (sku, iso_utc(since), _until(until), *excluding,
                                 *([iso_utc(since)] if excluding else []))).fetchone()
        return float(row[0]), row[1]

    def active_skus(self, since: datetime, until: datetime | None = None) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT sku FROM orders WHERE purchase_date >= ? "
                                                "AND purchase_date <= ?", (iso_utc(since), _until(until)))]

    def unpriced(self, limit: int, recheck_before: datetime, first_skus: list[str]) -> list[sqlite3.Row]:
        """Order lines to check the price of: those of `first_skus` (under a velocity signal) newest
        first, then the others oldest first; a Pending one again after a while."""
        marks = ",".join("?" * len(first_skus)) or "''"
        return self.conn.execute(
            f"SELECT * FROM orders WHERE net_unit IS NULL AND sku != '?' "
            f"AND coalesce(status, '') NOT IN ('Cancelled', 'Canceled') "
            f"AND (price_checked_at IS NULL OR price_checked_at < ?) "
            f"ORDER BY sku IN ({marks}) DESC, CASE WHEN sku IN ({marks}) THEN purchase_date END DESC, purchase_date "
            f"LIMIT ?", (iso_utc(recheck_before), *first_skus, *first_skus, limit)).fetchall()

    def priced_since(self, sku: str, since: datetime, until: datetime | None = None) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM orders WHERE sku = ? AND purchase_date >= ? AND purchase_date <= ? "
                                 "AND net_unit IS NOT NULL ORDER BY purchase_date",
                                 (sku, iso_utc(since), _until(until))).fetchall()

    def orders_of(self, sku: str, since: str) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM orders WHERE sku = ? AND purchase_date >= ? ORDER BY purchase_date",
                                 (sku, since)).fetchall()

    # -- baselines, cursors ----------------------------------------------------------------------
    def baselines(self) -> dict[str, float]:
        return {r["sku"]: r["per_minute"] for r in self.conn.execute("SELECT sku, per_minute FROM baselines")}

    def cursor(self, name: str) -> str | None:
        row = self.conn.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def set_cursor(conn: sqlite3.Connection, name: str, value: str) -> None:
        conn.execute("INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                     (name, value))

    # -- episodes and alerts ---------------------------------------------------------------------
    def open_episode(self, sku: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM episodes WHERE sku = ? AND closed_at IS NULL ORDER BY id DESC LIMIT 1",
                                 (sku,)).fetchone()

    def episodes(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM episodes ORDER BY id").fetchall()

    def alerts(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM alerts ORDER BY id").fetchall()


def _until(until: datetime | None) -> str:
    return iso_utc(until) if until is not None else "9999"


def path(home: Path, *, create: bool = True) -> Path:
    """Where the home's watch database is (workspace.reserved); `create=False` to read only."""
    return reserved.database(home, DB_NAME, create=create)


def open_db(home: Path) -> WatchDB:
    return WatchDB(path(home))


def payload_without_buyer_data(message: dict) -> str:
    """The notification as kept: the destination postal code is the buyer's, so it goes."""
    summary = (((message.get("Payload") or {}).get("OrderChangeNotification") or {}).get("Summary")) or {}
    if isinstance(summary, dict):
        summary.pop("DestinationPostalCode", None)
    return json.dumps(message, sort_keys=True)
