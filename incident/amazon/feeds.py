"""Submitting the cancellations as one POST_FLAT_FILE_ORDER_ACKNOWLEDGEMENT_DATA feed, exactly once.

Each item is recorded as in flight before anything is sent, and each step of the feeds flow
(document created, bytes uploaded, feed created) is recorded as it completes. A run that finds
an unfinished submission continues it instead of starting another: if the process died between
createFeed and saving the feed id, the feed is found again by its input document id. An item in
flight or accepted is never put in another feed or upload file.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from incident.amazon.spapi import ApiError, Connection
from incident.cancellation import build_rows, check_reason, render_txt
from incident.errors import StateError
from incident.scope import sort_store
from incident.timeutil import iso_utc, now_utc
from incident.workspace.store import Store

FEED_TYPE = "POST_FLAT_FILE_ORDER_ACKNOWLEDGEMENT_DATA"
CONTENT_TYPE = "text/tab-separated-values; charset=UTF-8"
SUBMIT_COMMAND = "cancel-submit"


@dataclass
class SubmitResult:
    submission_id: int
    feed_id: str | None
    rows: int
    accepted: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    resumed: bool = False
    reason_rejected: bool = False


def rows_to_submit(store: Store, reason: str) -> list[list[str]]:
    return build_rows(sort_store(store), check_reason(reason))


def open_submission(store: Store) -> Any | None:
    return store.conn.execute("SELECT * FROM submissions WHERE state NOT IN ('done', 'failed') "
                              "ORDER BY id DESC LIMIT 1").fetchone()


def submit(store: Store, connection: Connection, who: str, reason: str = "PricingError",
           poll_seconds: float = 30.0, max_polls: int = 240) -> SubmitResult:
    from sp_api.api import Feeds

    feeds = connection.client(Feeds)
    pending = open_submission(store)
    resumed = pending is not None
    if pending is None:
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
        pending = store.conn.execute("SELECT * FROM submissions WHERE id = ?", (submission_id,)).fetchone()
    result = SubmitResult(pending["id"], pending["feed_id"], pending["rows"], resumed=resumed)

    if pending["feed_id"] is None:
        document_id = pending["document_id"]
        if document_id is not None:
            found = _find_feed(connection, feeds, document_id, pending["at"])
            if found:
                _record(store, who, pending["id"], "feed_created", feed_id=found)
                result.feed_id = found
        if result.feed_id is None:
            if document_id is None or pending["state"] == "prepared":
                created = connection.call("createFeedDocument", feeds.create_feed_document,
                                          io.BytesIO(pending["body"]), CONTENT_TYPE)
                document_id = created.payload["feedDocumentId"]
                _record(store, who, pending["id"], "uploaded", document_id=document_id)
            feed = connection.call("createFeed", feeds.create_feed, FEED_TYPE, document_id,
                                   marketplaceIds=[connection.settings.marketplace.marketplace_id])
            result.feed_id = feed.payload["feedId"]
            _record(store, who, pending["id"], "feed_created", feed_id=result.feed_id)

    for poll in range(max_polls):
        state = connection.call("getFeed", feeds.get_feed, result.feed_id).payload
        status = state.get("processingStatus")
        if status in ("DONE", "CANCELLED", "FATAL"):
            break
        connection.clock.sleep(min(poll_seconds, 2.0 * 2 ** poll))  # quick at first, then every poll_seconds
    else:
        raise ApiError("getFeed", None, f"feed {result.feed_id} is still processing; run "
                       "`incident cancel submit` again later to collect its result (nothing is sent twice)")
    if status != "DONE" or not state.get("resultFeedDocumentId"):
        with store.change(who, "cancel_submit_failed", {"feed_id": result.feed_id, "status": status}) as conn:
            conn.execute("UPDATE submissions SET state = 'failed' WHERE id = ?", (pending["id"],))
            conn.execute("UPDATE cancel_requests SET state = 'rejected', message = ? WHERE submission_id = ?",
                         (f"feed ended {status}", pending["id"]))
        raise ApiError("getFeed", None, f"feed {result.feed_id} ended {status}: nothing was cancelled; "
                       "`incident cancel submit` sends a new feed, or upload the file by hand")
    report = connection.call("getFeedDocument", feeds.get_feed_result_document, state["resultFeedDocumentId"])
    errors = parse_processing_report(report)
    rows = [line.split("\t") for line in pending["body"].decode().splitlines()[2:]]
    with store.change(who, "cancel_submit_done", {"feed_id": result.feed_id}) as conn:
        for number, (order_id, _, item_code) in enumerate(rows, start=1):
            error = errors.get(number)
            if error:
                result.rejected.append({"order_id": order_id, "order_item_id": item_code, **error})
                if "reason" in error["error_message"].lower():
                    result.reason_rejected = True
            conn.execute("UPDATE cancel_requests SET state = ?, message = ? WHERE submission_id = ? "
                         "AND order_id = ? AND order_item_id = ?",
                         ("rejected" if error else "accepted", error["error_message"] if error else None,
                          pending["id"], order_id, item_code))
        result.accepted = len(rows) - len(result.rejected)
        conn.execute("UPDATE submissions SET state = 'done', report = ? WHERE id = ?",
                     (json.dumps({"accepted": result.accepted, "rejected": len(result.rejected)}), pending["id"]))
        store.tick_step(conn, SUBMIT_COMMAND, who)
    return result


def _record(store: Store, who: str, submission_id: int, state: str, **values: str) -> None:
    with store.change(who, f"cancel_submit_{state}", {"submission": submission_id, **values}) as conn:
        sets = ", ".join(f"{k} = ?" for k in values)
        conn.execute(f"UPDATE submissions SET state = ?, {sets} WHERE id = ?",
                     (state, *values.values(), submission_id))


def _find_feed(connection: Connection, feeds: Any, document_id: str, since: str) -> str | None:
    """A feed created from our document before a crash kept us from saving its id."""
    from incident.timeutil import parse_iso

    created_since = iso_utc(parse_iso(since) - timedelta(minutes=5))
    listing = connection.call("getFeeds", feeds.get_feeds, feedTypes=[FEED_TYPE], createdSince=created_since)
    for feed in listing.payload.get("feeds") or []:
        if feed.get("inputFeedDocumentId") == document_id:
            return feed["feedId"]
    return None


def parse_processing_report(text: str) -> dict[int, dict[str, str]]:
    """{original record number: error} from a flat-file processing report. Only rows of
    error-type Error refuse a record; warnings do not."""
    lines = text.splitlines()
    header_at = next((i for i, l in enumerate(lines) if l.startswith("original-record-number")), None)
    if header_at is None:
        return {}
    header = lines[header_at].split("\t")
    errors: dict[int, dict[str, str]] = {}
    for line in lines[header_at + 1:]:
        if not line.strip():
            continue
        cells = dict(zip(header, line.split("\t")))
        if cells.get("error-type", "Error").lower() != "error":
            continue
        try:
            number = int(cells["original-record-number"])
        except (KeyError, ValueError):
            continue
        errors[number] = {"error_code": cells.get("error-code", ""), "error_message": cells.get("error-message", "")}
    return errors
