"""Sending the rendered notices, each exactly once, by one of three ways behind one small
interface (`Sender`): the Messaging API (`messaging`), the seller's mail server (`smtp`) or an
outbox of .eml files (`outbox`). States: rendered -> sending -> sent | failed | not_offered."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from incident.errors import UsageError
from incident.notices.ledger import set_state
from incident.notices.messaging import MessagingSender
from incident.notices.outbox import OutboxSender
from incident.notices.render import eligible
from incident.notices.rules import EMAIL
from incident.notices.smtp import SmtpSettings, connect_smtp, smtp_settings
from incident.workspace.store import Store

VIAS = ("spapi", "smtp", "outbox")


class Sender(Protocol):
    """One way of delivering a notice."""

    needs_address: bool  # the buyer's e-mail address is needed (not by the Messaging API)

    def send(self, notice: Any, recipient: str | None) -> tuple[str, str | None]:
        """('sent' | 'not_offered' | 'other_language', the buyer's locale when learnt)."""

    def close(self) -> None: ...


@dataclass
class SendResult:
    total: int = 0
    sent: int = 0
    failed: int = 0
    not_offered: int = 0
    resumed: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (the server went away); a rerun goes on
    unrendered: int = 0  # orders due a notice that `notify render` has not written yet
    blocked: int = 0  # notices the rules hold back (`notify check`)
    other_language: int = 0  # held back by this run: Amazon says the buyer reads another language


def send_notices(store: Store, who: str, via: str, *, connection=None, smtp: SmtpSettings | None = None,
                 limit: int | None = None, test_to: str | None = None, progress=None) -> SendResult:
    """Send every rendered notice once. States: rendered -> sending -> sent | failed | not_offered.
    A notice left in `sending` by a crash is sent again with the same Message-ID."""
    if via not in VIAS:
        raise UsageError(f"--via '{via}' is not one of {', '.join(VIAS)}")
    if test_to and via == "spapi":
        raise UsageError("--test-to works with --via smtp or outbox: the Messaging API writes only to the "
                         "order's own buyer")
    lines = store.lines()
    emails = {line.order_id: line.buyer_email for line in lines if line.buyer_email}
    rows = store.conn.execute("SELECT * FROM notices WHERE state IN ('sending', 'rendered', 'failed') "
                              "ORDER BY state = 'rendered', order_id").fetchall()
    if limit is not None:
        rows = rows[:limit]
    result = SendResult(total=len(rows))
    rendered = {r[0] for r in store.conn.execute("SELECT order_id FROM notices")}
    result.unrendered = sum(1 for order_id in eligible(store, lines)[0] if order_id not in rendered)
    result.blocked = store.conn.execute("SELECT count(*) FROM notices WHERE state = 'blocked'").fetchone()[0]
    if test_to:
        rows = rows[:1] if rows else []
    sender = _open_sender(store, via, connection, smtp, emails)
    try:
        for row in rows:
            if row["state"] == "sending":
                result.resumed += 1
            outcome, error = _send_one(store, who, via, sender, row, emails.get(row["order_id"]), test_to)
            if outcome == "stop":
                result.failed += 1
                result.stopped = error
                break
            if outcome == "sent":
                result.sent += 1
            elif outcome == "not_offered":
                result.not_offered += 1
            elif outcome == "other_language":
                result.other_language += 1
            else:
                result.failed += 1
                result.errors.append(f"{row['order_id']}: {error}")
            if progress:
                progress(result.sent + result.failed + result.not_offered + result.other_language, result.total)
    finally:
        sender.close()
    if not test_to:
        with store.change(who, "notify_send", {"via": via, "sent": result.sent, "failed": result.failed,
                                               "not_offered": result.not_offered}) as conn:
            remaining = conn.execute("SELECT count(*) FROM notices WHERE state NOT IN ('sent', 'not_offered')").fetchone()[0]
            if remaining == 0:
                store.tick_step(conn, "notify-send", who)
    return result


def _open_sender(store: Store, via: str, connection, smtp: SmtpSettings | None, emails: dict[str, str]) -> Sender:
    if via == "smtp":
        return connect_smtp(smtp or smtp_settings())
    if via == "outbox":
        return OutboxSender(store, smtp.sender if smtp else os.environ.get("INCIDENT_SMTP_FROM", "seller@example.invalid"),
                            emails)
    if connection is None:
        raise UsageError("--via spapi needs SP-API credentials (`incident doctor`)")
    return MessagingSender(connection)


def _send_one(store: Store, who: str, via: str, sender: Sender, row, email: str | None,
              test_to: str | None) -> tuple[str, str | None]:
    if test_to:
        sender.send(row, test_to)
        return "sent", None
    if sender.needs_address and not email:
        why = ("no buyer e-mail address: the Unshipped Orders report has it for seller-fulfilled orders; "
               "FBA buyers are reached with --via spapi")
        set_state(store, who, row["order_id"], "failed", via, why)
        return "failed", why
    with store.change(who, "notice_sending", {"order_id": row["order_id"], "via": via}) as conn:
        conn.execute("UPDATE notices SET state = 'sending', via = ?, attempts = attempts + 1 WHERE order_id = ?",
                     (via, row["order_id"]))
    try:
        outcome, buyer_locale = sender.send(row, email)
    except Exception as exc:  # noqa: BLE001 -- one buyer's failure must not stop the others
        detail = str(exc.args[0]) if getattr(exc, "args", None) else ""
        message = f"{type(exc).__name__}: {EMAIL.sub('<address>', detail)}"  # never a buyer's address in a log
        set_state(store, who, row["order_id"], "failed", via, message[:300])
        return ("stop" if _server_gone(exc) else "failed"), message
    if outcome == "not_offered":
        set_state(store, who, row["order_id"], "not_offered", via, "Amazon does not offer unexpectedProblem for this order")
        return "not_offered", None
    if outcome == "other_language":
        problem = f"1:1: language: written in {row['locale']} but the buyer reads {buyer_locale}"
        with store.change(who, "notice_blocked", {"order_id": row["order_id"], "via": via,
                                                  "buyer_locale": buyer_locale}) as conn:
            conn.execute("UPDATE notices SET state = 'blocked', buyer_locale = ?, problems = ? WHERE order_id = ?",
                         (buyer_locale, json.dumps([problem]), row["order_id"]))
        return "other_language", None
    set_state(store, who, row["order_id"], "sent", via, None)
    return "sent", None


def _server_gone(exc: Exception) -> bool:
    """A failure of the server or the connection, not of this one notice: stop the run (each
    further try would fail the same way, slowly) and let a rerun go on. No 250 / 2xx was seen,
    so the notice was not delivered."""
    import smtplib

    from incident.amazon.spapi import ApiError

    if isinstance(exc, ApiError):
        return exc.status is None or exc.status >= 500 or exc.status in (401, 403) or exc.operation == "login"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code < 500  # 4xx: the server is busy or closing; 5xx: this message is refused
    return isinstance(exc, (OSError, smtplib.SMTPException))

