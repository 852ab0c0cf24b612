"""The notice ledger: each notice's state in the incident database (rendered, blocked, sending,
sent, failed, not_offered), every change with its event, and who was told, how and when."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from incident.workspace.leases import holder_alive, started
from incident.workspace.store import Store


def set_state(store: Store, who: str, order_id: str, state: str, via: str, error: str | None) -> None:
    with store.change(who, f"notice_{state}", {"order_id": order_id, "via": via}) as conn:
        conn.execute("UPDATE notices SET state = ?, via = ?, error = ?, claimed_by = NULL, sent_at = CASE WHEN ? = 'sent' "
                     "THEN strftime('%Y-%m-%dT%H:%M:%SZ','now') ELSE sent_at END WHERE order_id = ?",
                     (state, via, error, state, order_id))


# -- claims: exactly once when two people send at the same time --------------------------------

STALE_AFTER = 900.0  # seconds: a claim this old from another machine is given back


def run_id() -> str:
    """This run, as a claim names it: the machine, the process and its start time (against a
    reused process id)."""
    return f"{socket.gethostname()}:{os.getpid()}:{started(os.getpid())}"


def _claim_is_dead(claimed_by: str | None, claimed_at: str | None) -> bool:
    """A claim is given back when its run is gone (see leases.holder_alive)."""
    if not claimed_by or claimed_by == run_id():  # this process's own, from a run that ended with an error
        return True
    host, pid, started_at = (claimed_by.split(":") + ["", ""])[:3]
    if not pid.isdigit():
        return True
    return not holder_alive(host, int(pid), started_at, claimed_at or "1970-01-01T00:00:00Z", STALE_AFTER)


def claim(store: Store, who: str, row: Any, via: str, me: str) -> bool:
    """Take the notice for this run, atomically: a second run cannot take it while this one
    lives; a killed run's claim is taken over (its notice may have gone out: the resend carries
    the same Message-ID). False when another run has it or it is settled."""
    state, holder = row["state"], row["claimed_by"]
    if state == "sending" and not _claim_is_dead(holder, row["claimed_at"]):
        return False
    try:
        with store.change(who, "notice_sending", {"order_id": row["order_id"], "via": via,
                                                  "resumed": state == "sending"}) as conn:
            taken = conn.execute(
                "UPDATE notices SET state = 'sending', via = ?, attempts = attempts + 1, claimed_by = ?, "
                "claimed_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE order_id = ? AND state = ? "
                "AND coalesce(claimed_by, '') = ?", (via, me, row["order_id"], state, holder or "")).rowcount
            if not taken:
                raise _Lost()  # rolls the event back too
    except _Lost:
        return False
    return True


class _Lost(Exception):
    """Another run took the notice between our read and our claim: nothing to record."""


def summary(store: Store, sorted_lines: list | None = None, owed: int | None = None) -> dict[str, Any]:
    """Who was told, how and when: the buyers owed a notice (`owed`: their order was cancelled
    by the seller or at the seller's request), notices per state, sent ones per channel, first
    and last sending time, and who sent them. `sorted_lines`: the incident's lines already sorted;
    `owed`: already counted (totals.summary_by_batch)."""
    from incident.notices.render import eligible

    if owed is None:
        owed = len(eligible(store, sorted_lines=sorted_lines)[0])
    states = dict(store.conn.execute("SELECT state, count(*) FROM notices GROUP BY state").fetchall())
    by_via = dict(store.conn.execute("SELECT via, count(*) FROM notices WHERE state = 'sent' GROUP BY via").fetchall())
    first, last = store.conn.execute("SELECT min(sent_at), max(sent_at) FROM notices WHERE state = 'sent'").fetchone()
    senders = [r[0] for r in store.conn.execute(
        "SELECT DISTINCT actor FROM events WHERE action = 'notice_sent' ORDER BY actor")]
    return {"owed": owed, "total": sum(states.values()), **{state: states.get(state, 0) for state in
            ("sent", "failed", "not_offered", "needs_spapi", "blocked", "rendered", "sending")},
            "by_via": by_via, "first_sent_at": first, "last_sent_at": last, "sent_by": senders}


def listing(store: Store) -> list[dict[str, Any]]:
    """One row per notice: the order, the language, where it stands, how and when it went."""
    return [{"order_id": r["order_id"], "locale": r["locale"], "buyer_locale": r["buyer_locale"],
             "state": r["state"], "via": r["via"], "sent_at": r["sent_at"], "attempts": r["attempts"],
             "error": r["error"], "forced_reason": r["forced_reason"], "problems": json.loads(r["problems"] or "[]")}
            for r in store.conn.execute("SELECT * FROM notices ORDER BY order_id")]
