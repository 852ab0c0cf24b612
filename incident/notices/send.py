"""Sending the rendered notices, each exactly once, by one of three ways behind one small
interface (`Sender`): the Messaging API (`messaging`), the seller's mail server (`smtp`) or an
outbox of .eml files (`outbox`). States: rendered -> sending -> sent | failed | not_offered."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from incident import config
from incident.errors import UsageError
from incident.notices.ledger import claim, run_id, set_state
from incident.notices.messaging import MessageRefused, MessagingSender
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
    refused: int = 0  # Amazon refused the message for the order: not sendable by messaging, owed another way
    refused_in_a_row: bool = False  # stopped because every order in a row was refused (credentials, role)
    unrendered: int = 0  # orders due a notice that `notify render` has not written yet
    blocked: int = 0  # notices the rules hold back (`notify check`)
    other_language: int = 0  # held back by this run: Amazon says the buyer reads another language
    needs_spapi: int = 0  # no e-mail address (FBA buyers): reached only through the Messaging API
    withheld: int = 0  # of those, seller-fulfilled: Amazon withheld the address (the app lacks the role)
    elsewhere: int = 0  # being sent by another run at the same time
    warnings: list[str] = field(default_factory=list)


_RETRIED = ("rendered", "failed", "sending")


def send_notices(store: Store, who: str, via: str, *, connection=None, smtp: SmtpSettings | None = None,
                 limit: int | None = None, test_to: str | None = None, progress=None) -> SendResult:
    """Send every rendered notice once. States: rendered -> sending -> sent | failed | not_offered,
    or needs_spapi when there is no address to mail. Each notice is claimed before it is sent, so
    two runs at the same time never send the same one; a notice left in `sending` by a killed run
    is sent again (with the same Message-ID by mail)."""
    if via not in VIAS:
        raise UsageError(f"--via '{via}' is not one of {', '.join(VIAS)}")
    if test_to and via == "spapi":
        raise UsageError("--test-to works with --via smtp or outbox: the Messaging API writes only to the "
                         "order's own buyer")
    lines = store.lines()
    emails = {line.order_id: line.buyer_email for line in lines if line.buyer_email}
    # what one way cannot deliver, another may: the Messaging API reaches buyers with no address,
    # and mail reaches those Amazon's messaging refused
    retried = _RETRIED + (("needs_spapi",) if via == "spapi" else ("not_offered",))
    rows = store.conn.execute(f"SELECT * FROM notices WHERE state IN ({','.join('?' * len(retried))}) "
                              "ORDER BY state = 'rendered', order_id", retried).fetchall()
    result = SendResult()
    rendered = {r[0] for r in store.conn.execute("SELECT order_id FROM notices")}
    result.unrendered = sum(1 for order_id in eligible(store, lines)[0] if order_id not in rendered)
    result.blocked = store.conn.execute("SELECT count(*) FROM notices WHERE state = 'blocked'").fetchone()[0]
    sender = _open_sender(store, via, connection, smtp, emails, result)
    if test_to:
        rows = rows[:1]
    elif sender.needs_address:
        rows = _set_aside_unreachable(store, who, via, rows, emails, result)
        merchant = {line.order_id for line in lines if line.fulfillment_channel == "Merchant"}
        result.withheld = sum(1 for (order_id,) in store.conn.execute(
            "SELECT order_id FROM notices WHERE state = 'needs_spapi'") if order_id in merchant)
    if limit is not None:
        rows = rows[:limit]
    result.total = len(rows)
    me = run_id()
    refusals: list[tuple[str, str]] = []  # the orders refused since the last one sent
    try:
        for done, row in enumerate(rows, 1):
            outcome, error = _send_one(store, who, via, sender, row, emails.get(row["order_id"]), test_to, me)
            if outcome == "refused":
                refusals.append((row["order_id"], error or ""))
            elif outcome == "sent":
                refusals.clear()
            if outcome == "stop":
                result.failed += 1
                result.stopped = error
                break
            if outcome == "failed":
                result.failed += 1
                result.errors.append(f"{row['order_id']}: {error}")
            else:
                setattr(result, outcome, getattr(result, outcome) + 1)
                result.resumed += outcome == "sent" and row["state"] == "sending"
            if len(refusals) >= REFUSED_IN_A_ROW:
                _refused_in_a_row(store, who, via, refusals, result)
                break
            if progress:
                progress(done, result.total)
    finally:
        sender.close()
    if not test_to and (result.sent or result.failed or result.not_offered or result.other_language or result.refused):
        with store.change(who, "notify_send", {"via": via, "sent": result.sent, "failed": result.failed,
                                               "not_offered": result.not_offered, "refused": result.refused}) as conn:
            remaining = conn.execute("SELECT count(*) FROM notices WHERE state NOT IN ('sent', 'not_offered')").fetchone()[0]
            if remaining == 0:
                store.tick_step(conn, "notify-send", who)
    return result


REFUSED_IN_A_ROW = 5  # refusals on this many orders in a row, none sent between: not the orders, the app


def _refused_in_a_row(store: Store, who: str, via: str, refusals: list[tuple[str, str]], result: SendResult) -> None:
    """Every order in a row refused: bad credentials or a missing role, not the orders. Their
    notices go back to `failed` (a rerun tries them again) and the run stops saying which."""
    with store.change(who, "notify_refused_in_a_row", {"via": via, "orders": len(refusals)}) as conn:
        conn.executemany("UPDATE notices SET state = 'failed', error = ? WHERE order_id = ?",
                         [(error, order_id) for order_id, error in refusals])
    reason = refusals[-1][1].split("(", 1)[-1].split(")", 1)[0]
    result.refused -= len(refusals)
    result.failed += len(refusals)
    result.refused_in_a_row = True
    result.stopped = (f"Amazon refused the message for {len(refusals)} orders in a row ({reason}): not these "
                      "orders but the app: its credentials are another seller's, or it lacks the Messaging "
                      "(Buyer Communication) role; `incident doctor` checks the credentials")


def _set_aside_unreachable(store: Store, who: str, via: str, rows: list, emails: dict[str, str],
                           result: SendResult) -> list:
    """Notices with no buyer address cannot go by mail: marked `needs_spapi` in one change (one
    event with the count, however often the command is run) and counted apart, not failed."""
    unreachable = [r["order_id"] for r in rows if not emails.get(r["order_id"]) and r["state"] != "sending"]
    if unreachable:
        with store.change(who, "notices_need_spapi", {"via": via, "count": len(unreachable)}) as conn:
            conn.executemany("UPDATE notices SET state = 'needs_spapi', error = ? WHERE order_id = ? "
                             "AND state IN ('rendered', 'failed')",
                             [(NO_ADDRESS, order_id) for order_id in unreachable])
    result.needs_spapi = store.conn.execute("SELECT count(*) FROM notices WHERE state = 'needs_spapi'").fetchone()[0]
    return [r for r in rows if r["order_id"] not in set(unreachable)]


NO_ADDRESS = ("no buyer e-mail address: the Unshipped Orders report has it for seller-fulfilled orders; "
              "FBA buyers are reached with --via spapi")


def _open_sender(store: Store, via: str, connection, smtp: SmtpSettings | None, emails: dict[str, str],
                 result: SendResult) -> Sender:
    if via == "smtp":
        return connect_smtp(smtp or smtp_settings())
    if via == "outbox":
        sender = smtp.sender if smtp else (os.environ.get("INCIDENT_SMTP_FROM") or config.section("smtp")[0].get("from"))
        if not sender:
            sender = PLACEHOLDER_SENDER
            result.warnings.append(f"the outbox e-mails say From: {PLACEHOLDER_SENDER}: set INCIDENT_SMTP_FROM (or "
                                   "from under [smtp] in incident.toml) to the sender Amazon approved before sending them")
        return OutboxSender(store, sender, emails)
    if connection is None:
        raise UsageError("--via spapi needs SP-API credentials (`incident doctor`)")
    return MessagingSender(connection)


PLACEHOLDER_SENDER = "seller@example.invalid"


def _send_one(store: Store, who: str, via: str, sender: Sender, row, email: str | None,
              test_to: str | None, me: str) -> tuple[str, str | None]:
    """('sent' | 'not_offered' | 'other_language' | 'elsewhere' | 'failed' | 'stop', error)."""
    if test_to:
        sender.send(row, test_to)
        return "sent", None
    if not claim(store, who, row, via, me):
        return "elsewhere", None
    try:
        outcome, buyer_locale = sender.send(row, email)
    except MessageRefused as exc:  # this order only: recorded with Amazon's words, the run goes on
        message = f"not sendable by messaging: Amazon refused {exc.operation} ({exc.reason}); owed by e-mail or a card"
        set_state(store, who, row["order_id"], "not_offered", via, message[:300])
        return "refused", message
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
            conn.execute("UPDATE notices SET state = 'blocked', buyer_locale = ?, problems = ?, claimed_by = NULL "
                         "WHERE order_id = ?", (buyer_locale, json.dumps([problem]), row["order_id"]))
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

