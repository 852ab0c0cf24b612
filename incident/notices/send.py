"""Sending the rendered notices, each exactly once, by one of three ways behind one small
interface (`Sender`): the Messaging API (`messaging`), the seller's mail server (`smtp`) or an
outbox of .eml files (`outbox`). States: rendered -> sending -> sent | failed | not_offered."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from incident import config
from incident.errors import StateError, UsageError
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
    unrendered: int = 0  # orders due a notice that `notify render` has not written yet
    blocked: int = 0  # notices the rules hold back (`notify check`)
    other_language: int = 0  # held back by this run: Amazon says the buyer reads another language
    needs_spapi: int = 0  # no e-mail address (FBA buyers): reached only through the Messaging API
    refused: int = 0  # Amazon refused the message for the order: not sendable by messaging, owed another way
    refused_in_a_row: bool = False  # stopped because every order in a row was refused (credentials, role)
    withheld: int = 0  # of those, seller-fulfilled: Amazon withheld the address (the app lacks the role)
    elsewhere: int = 0  # being sent by another run at the same time
    warnings: list[str] = field(default_factory=list)
    test_order_id: str | None = None  # --test-to: the order whose notice went to the seller's address
    test_state: str | None = None  # that notice's state (rendered, sent, ...): unchanged by the test
    interrupted: bool = False  # Ctrl-C: the run stopped after the notice in flight was recorded
    interrupted_at_once: bool = False  # Ctrl-C twice: stopped mid-notice (`in_flight`, left `sending`)
    in_flight: str | None = None  # the order whose notice was being sent when the run stopped at once
    remaining: int = 0  # notices a rerun of the same command would send


_RETRIED = ("rendered", "failed", "sending")


def send_notices(store: Store, who: str, via: str, *, connection=None, smtp: SmtpSettings | None = None,
                 limit: int | None = None, test_to: str | None = None, progress=None,
                 on_interrupt=None) -> SendResult:
    """Send every rendered notice once. States: rendered -> sending -> sent | failed | not_offered,
    or needs_spapi when there is no address to mail. Each notice is claimed before it is sent, so
    two runs at the same time never send the same one; a notice left in `sending` by a killed run
    is sent again (with the same Message-ID by mail).

    Ctrl-C (SIGINT, in the main thread) does not cut a notice off: the one in flight is finished
    and recorded, then the run stops (`interrupted`, `remaining`); `on_interrupt()` is called from
    the signal handler the moment it is pressed (it must be safe there: no buffered writes). A
    second Ctrl-C stops at once (`interrupted_at_once`, `in_flight`: that notice may have gone)."""
    if via not in VIAS:
        raise UsageError(f"--via '{via}' is not one of {', '.join(VIAS)}")
    if test_to and via == "spapi":
        raise UsageError("--test-to works with --via smtp or outbox: the Messaging API writes only to the "
                         "order's own buyer")
    if test_to:
        return _send_test(store, via, smtp, test_to)
    result = SendResult()
    with _Interruption(on_interrupt) as interruption:
        try:
            _send_all(store, who, via, connection, smtp, limit, progress, interruption, result)
        except KeyboardInterrupt:  # the second Ctrl-C: the notice in flight stays `sending`, resumed next run
            result.interrupted = result.interrupted_at_once = True
        retried = _RETRIED + (("needs_spapi",) if via == "spapi" else ("not_offered",))
        result.remaining = store.conn.execute(f"SELECT count(*) FROM notices WHERE state IN "
                                              f"({','.join('?' * len(retried))})", retried).fetchone()[0]
        if result.sent or result.failed or result.not_offered or result.other_language or result.refused:
            details = {"via": via, "sent": result.sent, "failed": result.failed, "not_offered": result.not_offered,
                       "refused": result.refused,
                       **({"interrupted": True} if result.interrupted else {})}
            with store.change(who, "notify_send", details) as conn:
                unsettled = conn.execute("SELECT count(*) FROM notices WHERE state NOT IN ('sent', 'not_offered')")
                if unsettled.fetchone()[0] == 0:
                    store.tick_step(conn, "notify-send", who)
    return result


def _send_all(store: Store, who: str, via: str, connection, smtp: SmtpSettings | None, limit: int | None,
              progress, interruption: _Interruption, result: SendResult) -> None:
    lines = store.lines()
    emails = {line.order_id: line.buyer_email for line in lines if line.buyer_email}
    # what one way cannot deliver, another may: the Messaging API reaches buyers with no address,
    # and mail reaches those Amazon's messaging refused
    retried = _RETRIED + (("needs_spapi",) if via == "spapi" else ("not_offered",))
    rows = store.conn.execute(f"SELECT * FROM notices WHERE state IN ({','.join('?' * len(retried))}) "
                              "ORDER BY state = 'rendered', order_id", retried).fetchall()
    rendered = {r[0] for r in store.conn.execute("SELECT order_id FROM notices")}
    result.unrendered = sum(1 for order_id in eligible(store, lines)[0] if order_id not in rendered)
    result.blocked = store.conn.execute("SELECT count(*) FROM notices WHERE state = 'blocked'").fetchone()[0]
    sender = _open_sender(store, via, connection, smtp, emails, result)
    try:
        if sender.needs_address:
            rows = _set_aside_unreachable(store, who, via, rows, emails, result)
            merchant = {line.order_id for line in lines if line.fulfillment_channel == "Merchant"}
            result.withheld = sum(1 for (order_id,) in store.conn.execute(
                "SELECT order_id FROM notices WHERE state = 'needs_spapi'") if order_id in merchant)
        if limit is not None:
            rows = rows[:limit]
        result.total = len(rows)
        me = run_id()
        refusals: list[tuple[str, str]] = []  # the orders refused since the last one sent
        for done, row in enumerate(rows, 1):
            if interruption.requested:
                break
            result.in_flight = row["order_id"]
            outcome, error = _send_one(store, who, via, sender, row, emails.get(row["order_id"]), me)
            result.in_flight = None
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
        result.interrupted = interruption.requested
        sender.close()


class _Interruption:
    """Ctrl-C while sending. The first press only asks the run to stop: a notice cut off between the
    server's acceptance and our record of it would be sent again by the next run. A second press
    stops at once (KeyboardInterrupt). Only the main thread can take signals; elsewhere Ctrl-C is
    left as it was."""

    def __init__(self, on_interrupt=None):
        self.on_interrupt, self.requested, self._previous = on_interrupt, False, None

    def __enter__(self) -> _Interruption:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._pressed)
        return self

    def _pressed(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.on_interrupt:
            self.on_interrupt()

    def __exit__(self, *exc) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


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
                 result: SendResult, test: bool = False) -> Sender:
    if via == "smtp":
        return connect_smtp(smtp or smtp_settings())
    if via == "outbox":
        sender = smtp.sender if smtp else (os.environ.get("INCIDENT_SMTP_FROM") or config.section("smtp")[0].get("from"))
        if not sender:
            sender = PLACEHOLDER_SENDER
            result.warnings.append(f"the outbox e-mails say From: {PLACEHOLDER_SENDER}: set INCIDENT_SMTP_FROM (or "
                                   "from under [smtp] in incident.toml) to the sender Amazon approved before sending them")
        return OutboxSender(store, sender, emails, test=test)
    if connection is None:
        raise UsageError("--via spapi needs SP-API credentials (`incident doctor`)")
    return MessagingSender(connection)


PLACEHOLDER_SENDER = "seller@example.invalid"


def _send_test(store: Store, via: str, smtp: SmtpSettings | None, test_to: str) -> SendResult:
    """One notice of the incident to the seller's own address, whatever the buyers' notices' states:
    the next one a buyer would get, else one already sent (as it went), else any. Changes no notice.
    Raises when none is rendered yet or the server refuses it, saying why."""
    import smtplib

    row = store.conn.execute(
        "SELECT * FROM notices ORDER BY state NOT IN ('rendered', 'failed', 'sending'), state != 'sent', "
        "order_id LIMIT 1").fetchone()
    if row is None:
        raise StateError("no notice to send as a test: none is rendered yet; run `incident notify render` "
                         "(after `incident cancel export` or submit), then send the test again")
    result = SendResult(total=1, test_order_id=row["order_id"], test_state=row["state"])
    sender = _open_sender(store, via, None, smtp, {}, result, test=True)
    try:
        sender.send(row, test_to)
    except (OSError, smtplib.SMTPException) as exc:
        detail = str(exc.args[-1] if isinstance(exc, smtplib.SMTPResponseException) else exc)
        detail = detail.decode(errors="replace") if isinstance(detail, bytes) else detail
        code = f" {exc.smtp_code}" if isinstance(exc, smtplib.SMTPResponseException) else ""
        raise StateError(f"the test notice was not sent: the mail server said {type(exc).__name__}{code} "
                         f"({EMAIL.sub('<address>', detail)[:200]}); nothing went to buyers") from None
    finally:
        sender.close()
    result.sent = 1
    return result


def _send_one(store: Store, who: str, via: str, sender: Sender, row, email: str | None,
              me: str) -> tuple[str, str | None]:
    """('sent' | 'not_offered' | 'other_language' | 'elsewhere' | 'failed' | 'stop', error)."""
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

