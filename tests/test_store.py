"""The incident database: an incident written by an older version opens, with what the newer
schema added."""

from __future__ import annotations

import sqlite3

from incident.workspace import store


def test_an_older_incident_database_gains_the_new_columns_and_tables(cli, home):
    incident_id = cli("open", "--sku", "A", "--start", "2026-11-20T14:00Z", "--end", "2026-11-20T15:00Z").stdout.strip()
    db = home / incident_id / "incident.db"
    old = sqlite3.connect(db)
    old.executescript("ALTER TABLE notices DROP COLUMN buyer_locale; DROP TABLE stop_sales; PRAGMA user_version = 2;")
    old.close()
    with store.open_store(home, incident_id) as reopened:
        columns = {row["name"] for row in reopened.conn.execute("PRAGMA table_info(notices)")}
        assert "buyer_locale" in columns
        assert reopened.conn.execute("SELECT count(*) FROM stop_sales").fetchone()[0] == 0
        assert reopened.conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_FINGERPRINT
    assert cli.json("status")["id"] == incident_id
