"""The way for busy windows: the All Orders report for the window, then getOrder only for the
seller-fulfilled, unshipped orders (their item codes and buyers come only from the order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from incident.amazon import documents
from incident.amazon.live.convert import lines_from_2026, needs_item_codes
from incident.amazon.live.session import INCLUDED, Session
from incident.amazon.reports import read_report
from incident.amazon.spapi import ApiError
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
        if status == "CANCELLED":  # Amazon cancels a report with no data: the window has no orders
            session.save_page(result, pull_id, [], None, 0)
            return
        if status == "FATAL":
            with store.change(session.who, "live_report_failed", {"report_id": report_id, "status": status}) as conn:
                conn.execute("UPDATE live_pulls SET done = 1 WHERE id = ?", (pull_id,))
            raise ApiError("getReport", None, "the All Orders report ended FATAL; pull again "
                           "(`incident pull --live --strategy search`) or download it by hand")
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
