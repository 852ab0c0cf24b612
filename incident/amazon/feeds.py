"""Submitting the cancellations as one POST_FLAT_FILE_ORDER_ACKNOWLEDGEMENT_DATA feed, exactly once.

One run at a time holds the incident's `cancel-submit` claim (a second run is refused; a killed
run's claim is taken over). Each item is recorded as in flight before anything is sent, and each
step (document created and uploaded, createFeed asked, feed id answered) is recorded as it
happens. createFeed is never repeated blindly: the time it was asked is recorded first, and when
its answer never came (a crash, a timeout, a 5xx) the feed is looked for in what Amazon lists,
getFeeds over every page, cancellation feeds of this marketplace created since then. Amazon's
Feed object does not name its input document, so a feed is ours when it is the only new one; with
several, the run stops and asks the manager (`--feed ID`); with none after a grace period, the
request never reached Amazon and the feed is sent.

The processing report is read in any language (incident.amazon.processing); when it does not add
up, or the feed ends FATAL, each order is checked with getOrder (CANCELLATION) instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from incident.amazon import documents
from incident.amazon.processing import parse_processing_report, reason_refused
from incident.amazon.spapi import ApiError, Connection
from incident.cancellation import build_rows, check_reason, render_txt
from incident.errors import StateError
from incident.scope import sort_store
from incident.timeutil import iso_utc, now_utc, parse_iso
from incident.workspace.leases import claim
from incident.workspace.store import Store

FEED_TYPE = "POST_FLAT_FILE_ORDER_ACKNOWLEDGEMENT_DATA"
CONTENT_TYPE = "text/tab-separated-values; charset=UTF-8"
SUBMIT_COMMAND = "cancel-submit"
GRACE = timedelta(minutes=2)  # how long a createFeed that gave no answer may take to show in getFeeds
SKEW = timedelta(minutes=5)  # our clock against Amazon's createdTime
RECHECK_SECONDS = 5.0  # between two looks at getFeeds during the grace period


@dataclass
class SubmitResult:
    submission_id: int
    feed_id: str | None
    rows: int
    accepted: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    resumed: bool = False
    reason_rejected: bool = False
    notes: list[str] = field(default_factory=list)  # what the manager should know (adopted feed, checks)


def rows_to_submit(store: Store, reason: str) -> list[list[str]]:
    return build_rows(sort_store(store), check_reason(reason))


def open_submission(store: Store) -> Any | None:
    return store.conn.execute("SELECT * FROM submissions WHERE state NOT IN ('done', 'failed') "
                              "ORDER BY id DESC LIMIT 1").fetchone()


def submit(store: Store, connection: Connection, who: str, reason: str = "PricingError",
           poll_seconds: float = 30.0, max_polls: int = 240, feed_id: str | None = None) -> SubmitResult:
    """Send (or finish sending) the cancellation feed and record Amazon's answer per item.
    `feed_id`: the manager's word that this listed feed is the open submission's."""
    with claim(store, "cancel-submit", who, "incident cancel submit"):
        return _submit(store, connection, who, reason, poll_seconds, max_polls, feed_id)


def _submit(store: Store, connection: Connection, who: str, reason: str, poll_seconds: float, max_polls: int,
            adopt: str | None) -> SubmitResult:
    from sp_api.api import Feeds

    feeds = connection.client(Feeds)
    pending = open_submission(store)
    resumed = pending is not None
    if pending is None:
        if adopt:
            raise StateError("--feed names the feed of an unfinished submission, and there is none")
        pending = _prepare(store, who, reason)
    result = SubmitResult(pending["id"], pending["feed_id"], pending["rows"], resumed=resumed)
    if adopt and result.feed_id is None:
        _record(store, who, pending["id"], "feed_created", feed_id=adopt, adopted="manager")
        result.feed_id = adopt
    if result.feed_id is None:
        result.feed_id = _send(store, connection, feeds, who, result)
    state = _poll(connection, feeds, result.feed_id, poll_seconds, max_polls)
    _settle(store, connection, who, result, pending, state)
    return result


def _prepare(store: Store, who: str, reason: str) -> Any:
    rows = rows_to_submit(store, reason)
    if not rows:
        raise StateError("nothing to submit: no cancellable item that is not already in a feed "
                         "(`incident orders --bucket cancellable_mfn`)")
    body = render_txt(rows)
    details = {"rows": len(rows), "orders": len({r[0] for r in rows}), "reason": rows[0][1],
               "sha256": hashlib.sha256(body).hexdigest()}
    with store.change(who, "cancel_submit_prepared", details) as conn:
        submission_id = conn.execute(
            "INSERT INTO submissions (at, state, body, sha256, reason, rows) VALUES (?, 'prepared', ?, ?, ?, ?)",
            (iso_utc(now_utc()), body, details["sha256"], rows[0][1], len(rows))).lastrowid
        conn.executemany("INSERT INTO cancel_requests (order_id, order_item_id, submission_id, state) "
                         "VALUES (?, ?, ?, 'in_flight')", [(r[0], r[2], submission_id) for r in rows])
    return store.conn.execute("SELECT * FROM submissions WHERE id = ?", (submission_id,)).fetchone()


def _now(connection: Connection) -> datetime:
    return datetime.fromtimestamp(connection.clock.now(), UTC)


def _send(store: Store, connection: Connection, feeds: Any, who: str, result: SubmitResult) -> str:
    """The feed id of the open submission: found again, or created now (once)."""
    pending = store.conn.execute("SELECT * FROM submissions WHERE id = ?", (result.submission_id,)).fetchone()
    if pending["feed_requested_at"]:  # asked before, the answer never recorded
        found = _recover(store, connection, feeds, pending["feed_requested_at"])
        if found:
            result.notes.append(f"found feed {found} that an earlier run sent before it stopped")
            _record(store, who, pending["id"], "feed_created", feed_id=found, adopted="listed")
            return found
        result.notes.append("an earlier run asked for a feed and Amazon lists none: sending it now")
    document_id = pending["document_id"]
    if document_id is None or pending["state"] == "prepared":
        created = connection.call("createFeedDocument", feeds.create_feed_document, None, CONTENT_TYPE).payload
        documents.upload(connection, created["url"], pending["body"], CONTENT_TYPE)
        document_id = created["feedDocumentId"]
        _record(store, who, pending["id"], "uploaded", document_id=document_id)
    for _ in range(3):
        asked = iso_utc(_now(connection))
        _record(store, who, pending["id"], "feed_requested", feed_requested_at=asked)
        try:
            feed_id = connection.call("createFeed", feeds.create_feed, FEED_TYPE, document_id, once=True,
                                      marketplaceIds=[connection.settings.marketplace.marketplace_id]).payload["feedId"]
        except ApiError as exc:
            if not exc.unsure:
                raise
            feed_id = _recover(store, connection, feeds, asked)
            if feed_id is None:
                result.notes.append(f"createFeed gave no answer ({exc}) and Amazon lists no new feed: sent again")
                continue
            result.notes.append(f"createFeed gave no answer; found the feed it created: {feed_id}")
        _record(store, who, pending["id"], "feed_created", feed_id=feed_id)
        return feed_id
    raise ApiError("createFeed", None, "Amazon did not answer three times and lists no new feed; run "
                   "`incident cancel submit` again later (it looks for the feed first, nothing is sent twice)")


def _recover(store: Store, connection: Connection, feeds: Any, asked: str) -> str | None:
    """The feed a createFeed asked at `asked` created, if Amazon lists one; waits out the grace
    period for a request that may still be on its way. Raises when it cannot tell which is ours."""
    deadline = parse_iso(asked) + GRACE
    while True:
        candidates = _new_feeds(store, connection, feeds, parse_iso(asked) - SKEW)
        if len(candidates) == 1:
            return candidates[0]["feedId"]
        if candidates:
            listed = ", ".join(f"{f['feedId']} ({f.get('createdTime')}, {f.get('processingStatus')})" for f in candidates)
            raise StateError(f"Amazon lists {len(candidates)} cancellation feeds created since this submission "
                             f"was sent: {listed}. Nothing was sent again. Check which one is ours in Seller "
                             "Central (Orders > Upload order related files > Review uploads: same item count), "
                             "then run `incident cancel submit --feed FEED_ID`")
        left = (deadline - _now(connection)).total_seconds()
        if left <= 0:
            return None
        connection.clock.sleep(min(RECHECK_SECONDS, left))


def _new_feeds(store: Store, connection: Connection, feeds: Any, since: datetime) -> list[dict]:
    """Cancellation feeds of this marketplace created since `since` that no submission of ours
    holds, over every page of getFeeds."""
    market = connection.settings.marketplace.marketplace_id
    known = {row["feed_id"] for row in store.conn.execute("SELECT feed_id FROM submissions WHERE feed_id IS NOT NULL")}
    response = connection.call("getFeeds", feeds.get_feeds, feedTypes=[FEED_TYPE], marketplaceIds=[market],
                               createdSince=iso_utc(since), pageSize=100)
    found = []
    while True:
        for feed in response.payload.get("feeds") or []:
            if (feed.get("feedType") == FEED_TYPE and market in (feed.get("marketplaceIds") or [market])
                    and parse_iso(feed["createdTime"]) >= since and feed["feedId"] not in known):
                found.append(feed)
        if not response.next_token:
            return found
        response = connection.call("getFeeds", feeds.get_feeds, nextToken=response.next_token)


def _poll(connection: Connection, feeds: Any, feed_id: str, poll_seconds: float, max_polls: int) -> dict:
    for poll in range(max_polls):
        state = connection.call("getFeed", feeds.get_feed, feed_id).payload
        if state.get("processingStatus") in ("DONE", "CANCELLED", "FATAL"):
            return state
        connection.clock.sleep(min(poll_seconds, 2.0 * 2 ** poll))  # quick at first, then every poll_seconds
    raise ApiError("getFeed", None, f"feed {feed_id} is still processing; run "
                   "`incident cancel submit` again later to collect its result (nothing is sent twice)")


def _settle(store: Store, connection: Connection, who: str, result: SubmitResult, pending: Any, state: dict) -> None:
    """Record each item as cancelled or refused, from the report when it adds up, else from the orders."""
    status = state.get("processingStatus")
    rows = [line.split("\t") for line in pending["body"].decode().splitlines()[2:]]
    if status == "CANCELLED":  # cancelled before processing: nothing was applied
        with store.change(who, "cancel_submit_failed", {"feed_id": result.feed_id, "status": status}) as conn:
            conn.execute("UPDATE submissions SET state = 'failed' WHERE id = ?", (pending["id"],))
            conn.execute("UPDATE cancel_requests SET state = 'rejected', message = ? WHERE submission_id = ?",
                         ("Amazon cancelled the feed before processing it", pending["id"]))
        raise ApiError("getFeed", None, f"feed {result.feed_id} was cancelled before processing: nothing was "
                       "cancelled; `incident cancel submit` after the next pull sends a new feed")
    errors: dict[int, dict[str, str]] = {}
    doubts: list[str] = []
    if status == "FATAL":
        doubts.append(f"feed {result.feed_id} ended FATAL: some, none or all rows may have been applied")
    elif not state.get("resultFeedDocumentId"):
        doubts.append(f"feed {result.feed_id} has no processing report")
    else:
        meta = documents.feed_document_meta(connection, state["resultFeedDocumentId"])
        data, content_type = documents.download(connection, "getFeedDocument", meta)
        report = parse_processing_report(documents.decode(data, content_type, connection.settings.marketplace.code))
        errors, doubts = report.refusals, report.problems(len(rows))
    outcome = _from_orders(connection, rows, errors, doubts) if doubts else {
        n: (errors.get(n) or None) for n in range(1, len(rows) + 1)}
    if outcome is None:
        with store.change(who, "cancel_submit_needs_review", {"feed_id": result.feed_id, "doubts": doubts}) as conn:
            conn.execute("UPDATE submissions SET state = 'needs_review' WHERE id = ?", (pending["id"],))
        raise StateError("; ".join(doubts) + ". The items stay in flight (never sent again): check them in "
                         "Seller Central (Orders > Manage Orders), then run `incident cancel submit` again")
    result.notes += doubts
    with store.change(who, "cancel_submit_done", {"feed_id": result.feed_id, "checked_orders": bool(doubts)}) as conn:
        for number, (order_id, _, item_code) in enumerate(rows, start=1):
            error = outcome.get(number)
            if error:
                result.rejected.append({"order_id": order_id, "order_item_id": item_code, **error})
                result.reason_rejected |= reason_refused(error, pending["reason"])
            conn.execute("UPDATE cancel_requests SET state = ?, message = ? WHERE submission_id = ? "
                         "AND order_id = ? AND order_item_id = ?",
                         ("rejected" if error else "accepted", error["error_message"] if error else None,
                          pending["id"], order_id, item_code))
        result.accepted = len(rows) - len(result.rejected)
        conn.execute("UPDATE submissions SET state = 'done', report = ? WHERE id = ?",
                     (json.dumps({"accepted": result.accepted, "rejected": len(result.rejected),
                                  "checked_orders": bool(doubts)}), pending["id"]))
        store.tick_step(conn, SUBMIT_COMMAND, who)


def _from_orders(connection: Connection, rows: list[list[str]], errors: dict[int, dict[str, str]],
                 doubts: list[str]) -> dict[int, dict[str, str] | None] | None:
    """Each row's outcome from the order itself (getOrder, CANCELLATION): the ground truth when
    the feed's report cannot be trusted. None when Orders 2026-01-01 cannot be asked."""
    from sp_api.api import Orders

    orders = connection.client(Orders, version="2026-01-01")
    cancelled: dict[str, set[str]] = {}
    for order_id in dict.fromkeys(r[0] for r in rows):
        try:
            order = connection.call("getOrder", orders.get_order, order_id, includedData=["CANCELLATION"]).payload
        except ApiError as exc:
            if exc.status in (401, 403):
                return None
            raise
        order = order.get("order") or order
        cancelled[order_id] = {i.get("orderItemId") for i in order.get("orderItems") or []
                               if (i.get("cancellation") or {}).get("cancellationExecution")}
    outcome: dict[int, dict[str, str] | None] = {}
    for number, (order_id, _, item_code) in enumerate(rows, start=1):
        done = item_code in cancelled[order_id] if item_code else bool(cancelled[order_id])
        outcome[number] = None if done else errors.get(number) or {
            "error_code": "", "error_type": "", "error_message": "not cancelled on Amazon (" + doubts[0] + ")"}
    return outcome


def _record(store: Store, who: str, submission_id: int, state: str, **values: str) -> None:
    columns = {k: v for k, v in values.items() if k != "adopted"}
    with store.change(who, f"cancel_submit_{state}", {"submission": submission_id, **values}) as conn:
        sets = ", ".join(f"{k} = ?" for k in columns)
        conn.execute(f"UPDATE submissions SET state = ?, {sets} WHERE id = ?",
                     (state, *columns.values(), submission_id))
