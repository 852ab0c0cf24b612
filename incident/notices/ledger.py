"""The notice ledger: each notice's state in the incident database (rendered, blocked, sending,
sent, failed, not_offered), every change with its event, and who was told, how and when."""

from __future__ import annotations

import json
from typing import Any

from incident.workspace.store import Store


def set_state(store: Store, who: str, order_id: str, state: str, via: str, error: str | None) -> None:
    with store.change(who, f"notice_{state}", {"order_id": order_id, "via": via}) as conn:
        conn.execute("UPDATE notices SET state = ?, via = ?, error = ?, sent_at = CASE WHEN ? = 'sent' "
                     "THEN strftime('%Y-%m-%dT%H:%M:%SZ','now') ELSE sent_at END WHERE order_id = ?",
                     (state, via, error, state, order_id))



def summary(store: Store) -> dict[str, Any]:
    """Who was told, how and when: notices per state, sent ones per channel, first and last
    sending time, and who sent them."""
    states = dict(store.conn.execute("SELECT state, count(*) FROM notices GROUP BY state").fetchall())
    by_via = dict(store.conn.execute("SELECT via, count(*) FROM notices WHERE state = 'sent' GROUP BY via").fetchall())
    first, last = store.conn.execute("SELECT min(sent_at), max(sent_at) FROM notices WHERE state = 'sent'").fetchone()
    senders = [r[0] for r in store.conn.execute(
        "SELECT DISTINCT actor FROM events WHERE action = 'notice_sent' ORDER BY actor")]
    return {"total": sum(states.values()), **{state: states.get(state, 0) for state in
            ("sent", "failed", "not_offered", "blocked", "rendered", "sending")},
            "by_via": by_via, "first_sent_at": first, "last_sent_at": last, "sent_by": senders}


def listing(store: Store) -> list[dict[str, Any]]:
    """One row per notice: the order, the language, where it stands, how and when it went."""
    return [{"order_id": r["order_id"], "locale": r["locale"], "buyer_locale": r["buyer_locale"],
             "state": r["state"], "via": r["via"], "sent_at": r["sent_at"], "attempts": r["attempts"],
             "error": r["error"], "forced_reason": r["forced_reason"], "problems": json.loads(r["problems"] or "[]")}
            for r in store.conn.execute("SELECT * FROM notices ORDER BY order_id")]
