"""The way for busy windows: the All Orders report for the window, then getOrder only for the
seller-fulfilled, unshipped orders (their item codes and buyers come only from the order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from incident.amazon import documents
from incident.amazon.live.convert import lines_from_2026, needs_item_codes
from incident.amazon.live.session import INCLUDED, Session
from incident.amazon.reports import read_report
from incident.amazon.spapi import ApiError
from incident.safetext import shown
from incident.timeutil import iso_utc
from incident.workspace.files import write_private

if TYPE_CHECKING:
    from incident.amazon.live.plan import LiveResult

REPORT_TYPE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"


def run(session: Session, result: LiveResult, pull_id: int, cursor: str | None, since: str | None = None) -> None:
    """`cursor`: the report id of a resumed pull. `since`: only orders from then on (a search
    that switched to the report)."""
    from sp_api.api import Reports

    api, store, incident = session.connection, session.store, session.incident
    reports = api.client(Reports)
    report_id = cursor
    if report_id is None:
        created = api.call("createReport", reports.create_report, reportType=REPORT_TYPE,
                           dataStartTime=since or iso_utc(incident.window_start),
                           dataEndTime=result.plan.created_before)
        report_id = created.payload["reportId"]
        with store.change(session.who, "live_report_requested", {"pull": pull_id, "report_id": report_id}) as conn:
            conn.execute("UPDATE live_pulls SET strategy = 'report', cursor = ? WHERE id = ?", (report_id, pull_id))
    while True:
        state = api.call("getReport", reports.get_report, report_id).payload
        status = state.get("processingStatus")
        if status == "DONE":
            break
        if status == "CANCELLED":
            return _cancelled(session, result, pull_id, report_id, since)
        if status == "FATAL":
            reason = _fatal_reason(session, state)
            with store.change(session.who, "live_report_failed", {"report_id": report_id, "status": status}) as conn:
                conn.execute("UPDATE live_pulls SET done = 1 WHERE id = ?", (pull_id,))
            raise ApiError("getReport", None, f"the All Orders report ended FATAL ({reason}); pull again "
                           "(`incident pull --live --strategy search`) or download it by hand",
                           where="Amazon answered")
        api.clock.sleep(15.0)
    # the bytes are fetched and decoded here: the library decodes a Shift_JIS label strictly and
    # hands back bytes when Amazon.co.jp's cp932 characters (①, ㈱) do not fit it
    meta = api.call("getReportDocument", reports.get_report_document, state["reportDocumentId"]).payload
    data, content_type = documents.download(api, "getReportDocument", meta)
    document = documents.decode(data, content_type, api.settings.marketplace.code)
    path = store.folder / "downloads" / f"all-orders-{report_id}.txt"
    write_private(path, document.encode("utf-8"))
    downloaded = read_report(path, session.skus, "utf-8")
    window = [l for l in downloaded.lines if incident.in_window(l.fields.get("purchase_date"))
              and (since is None or l.fields.get("purchase_date") >= since)]
    wanted = sorted({l.order_id for l in window if needs_item_codes(l.fields)})
    lines = list(window)
    for order_id in wanted:  # item codes and buyers come only from the order itself
        order = api.call("getOrder", session.orders_2026.get_order, order_id, includedData=INCLUDED)
        lines += lines_from_2026(order.payload.get("order") or order.payload, session.skus)
    session.save_page(result, pull_id, lines, None, downloaded.rows_read)


CANCELLED_WHY = ("Amazon cancels an order report that has no eligible data, and orders become eligible about "
                 "30 minutes after purchase: in an incident's first half hour the report is empty")


def _cancelled(session: Session, result: LiveResult, pull_id: int, report_id: str, since: str | None) -> None:
    """The report ended CANCELLED: no eligible data (or cancelled by hand), which is not "no
    orders". Ask searchOrders instead; where the app may not, fail saying why."""
    from incident.amazon.live import search

    with session.store.change(session.who, "live_report_cancelled", {"pull": pull_id, "report_id": report_id}) as conn:
        conn.execute("UPDATE live_pulls SET strategy = 'search', cursor = NULL WHERE id = ?", (pull_id,))
    session.since = since
    try:
        probe = session.search(None, result.plan.created_before)
    except ApiError as exc:
        if exc.status not in (401, 403, 404):
            raise
        with session.store.change(session.who, "live_report_failed", {"report_id": report_id,
                                                                      "status": "CANCELLED"}) as conn:
            conn.execute("UPDATE live_pulls SET done = 1 WHERE id = ?", (pull_id,))
        raise ApiError("getReport", None, f"the All Orders report was cancelled: {CANCELLED_WHY}; and "
                       f"searchOrders is not open to this app ({exc.status}). Pull again in half an hour, "
                       "or with `--strategy v0`", where="Amazon answered") from None
    result.plan.notes.append(f"the All Orders report was cancelled ({CANCELLED_WHY}): "
                             "pulled with searchOrders instead")
    result.plan.strategy = "search"
    search.run(session, result, pull_id, None, probe)


def _fatal_reason(session: Session, state: dict) -> str:
    """Amazon's words from the document a FATAL report may carry, or that it gave none."""
    import json

    if not state.get("reportDocumentId"):
        return "Amazon gave no reason"
    try:
        api = session.connection
        from sp_api.api import Reports

        meta = api.call("getReportDocument", api.client(Reports).get_report_document,
                        state["reportDocumentId"]).payload
        data, content_type = documents.download(api, "getReportDocument", meta)
    except ApiError as exc:
        return f"its reason could not be downloaded: {exc}"
    text = documents.decode(data, content_type, api.settings.marketplace.code).strip()
    try:
        parsed = json.loads(text)
        text = str(parsed.get("errorDetails") or text) if isinstance(parsed, dict) else text
    except ValueError:
        pass
    return "Amazon says: " + shown(" ".join(text.split())[:500])
