"""The incident's key moments and its timeline, read from the event log.

Key moments: the bad price went live (the window's start), the incident was opened (detected),
sales stopped, the cancellation went to Amazon, the FBA request was sent, the buyers were told,
the annotation was asked for, and the closing. Each is found in the log (the command's own event,
or the checklist step ticked by hand); a moment never recorded is shown as such, not guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from incident.timeutil import elapsed, parse_iso
from incident.workspace.store import Incident

# Events that come one per order or page: the timeline shows each run of them as one row.
_REPEATED = {"notice_sending", "notice_sent", "notice_failed", "notice_not_offered", "notice_blocked", "live_page",
             "notice_other_language"}


@dataclass
class Moment:
    key: str
    label: str
    at: datetime | None
    source: str  # where in the record it comes from
    since_start: str = ""  # T+ offset
    since_previous: str = ""  # from the moment before that was recorded
    note: str = ""


def _first(events: list[dict], actions: tuple[str, ...], step: str | None = None, last: bool = False) -> dict | None:
    found = [e for e in events if e["action"] in actions
             or (step and e["action"] == "step_done" and e["details"].get("step") == step)]
    return (found[-1] if last else found[0]) if found else None


def key_moments(incident: Incident, events: list[dict], buyers: dict | None = None) -> list[Moment]:
    buyers = buyers or {}

    def from_event(key: str, label: str, event: dict | None, note: str = "") -> Moment:
        if event is None:
            return Moment(key, label, None, "not recorded")
        how = (f"step {event['details']['step']} ticked by {event['actor']}" if event["action"] == "step_done"
               else f"event #{event['seq']} {event['action']} by {event['actor']}")
        return Moment(key, label, parse_iso(event["at"]), how, note=note)

    submitted = _first(events, ("cancel_submit_done", "cancel_submit_feed_created"), "cancel-upload")
    moments = [Moment("started", "Bad price went live", incident.window_start, "the window given at open"),
               from_event("detected", "Detected: incident opened", _first(events, ("open",))),
               from_event("stopped", "Sales stopped", _first(events, ("stop_sales",), "stop-bleeding"))]
    if submitted is None and (written := _first(events, ("cancel_export",))) is not None:
        moments.append(from_event("cancelled", "Cancellation file written (upload not recorded)", written))
    else:
        moments.append(from_event("cancelled", "Cancellation submitted", submitted))
    moments.append(from_event("fba", "FBA request sent", _first(events, ("support_fba_request_sent",), "fba-request")))
    told = _first(events, (), "notify-buyers") or _first(events, ("notice_sent",), last=True)
    note = f"{buyers.get('sent', 0)} of {buyers.get('total', 0)} buyers told" if buyers.get("total") else ""
    moments.append(from_event("told", "Buyers told", told, note))
    moments.append(from_event("annotation", "Annotation asked", _first(events, ("support_annotation_sent",),
                                                                        "annotation-request")))
    moments.append(from_event("closed", "Incident closed", _first(events, ("close",))))
    previous: Moment | None = None
    for moment in moments:
        if moment.at is None:
            continue
        moment.since_start = elapsed(moment.at - incident.window_start)
        if previous is not None:
            seconds = (moment.at - previous.at).total_seconds()
            moment.since_previous = _span(max(0.0, seconds))  # never negative: a step ticked late is not time travel
            if seconds < 0:
                moment.note = (moment.note + "; " if moment.note else "") + f"recorded before \u201c{previous.label}\u201d"
        previous = moment
    return moments


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def describe(event: dict) -> str:
    """One event in words, from its details (which never hold buyer data)."""
    d, action = event["details"], event["action"]
    texts = {
        "open": lambda: f"opened the incident for {', '.join(d.get('skus') or [])}",
        "pull": lambda: f"pulled {len(d.get('files') or [])} report file(s): {d.get('new_lines', 0)} new order lines, "
                        f"{d.get('updated_lines', 0)} updated",
        "step_done": lambda: f"ticked step {d.get('step')}" + (f": {d['note']}" if d.get("note") else ""),
        "step_skipped": lambda: f"skipped step {d.get('step')}: {d.get('note')}",
        "step_reopened": lambda: f"reopened step {d.get('step')}: {d.get('note')}",
        "cancel_export": lambda: f"wrote the cancellation file: {d.get('rows')} items of {d.get('orders')} orders, "
                                 f"reason {d.get('reason')}",
        "stop_sales": lambda: f"set {d.get('sku')} to quantity 0 (was {d.get('previous_quantity')})",
        "support_fba_request_sent": lambda: "sent Seller Support the FBA cancellation request",
        "support_annotation_sent": lambda: "asked Seller Support to annotate the account",
        "support_account_manager_sent": lambda: "wrote to the account manager",
        "notify_render": lambda: f"wrote {d.get('rendered', 0)} buyer notices",
        "notices_need_spapi": lambda: f"set aside {d.get('count')} notices of buyers with no e-mail address "
                                      "(reached through the Messaging API only)",
        "scope_changed": lambda: "changed the scope",
        "notify_send": lambda: f"sent buyer notices via {d.get('via')}: {d.get('sent', 0)} sent, {d.get('failed', 0)} failed",
        "cost_added": lambda: f"entered a cost: {d.get('amount')} {d.get('currency')} ({d.get('what')})",
        "promotion_fee_added": lambda: f"entered a promotion fee ({d.get('what') or d.get('promotion_id')})",
        "unit_cost_set": lambda: f"set the unit cost of {d.get('sku')} to {d.get('amount')} {d.get('currency')}",
        "close": lambda: "closed the incident",
        "purge_personal_data": lambda: "erased the buyers' personal data",
    }
    if action in texts:
        return texts[action]()
    return action.replace("_", " ") + (f" {json.dumps(d, ensure_ascii=False, sort_keys=True)}" if d else "")


@dataclass
class Row:
    at: datetime
    last: datetime
    actors: list[str]
    family: str
    what: str
    count: int
    tally: dict[str, int]


def _family(action: str) -> str | None:
    return action.split("_")[0] if action in _REPEATED else None


def timeline(events: list[dict]) -> list[Row]:
    """Events in order; a run of per-order events (notices being sent, pages pulled) is one row
    that counts them by outcome."""
    rows: list[Row] = []
    for event in events:
        at, family = parse_iso(event["at"]), _family(event["action"])
        if family and rows and rows[-1].family == family:
            row = rows[-1]
            row.count += 1
            row.last = at
            row.tally[event["action"]] = row.tally.get(event["action"], 0) + 1
            if event["actor"] not in row.actors:
                row.actors.append(event["actor"])
            continue
        rows.append(Row(at, at, [event["actor"]], family or event["action"], describe(event), 1, {event["action"]: 1}))
    for row in rows:
        if row.family == "notice":
            done = {k: v for k, v in row.tally.items() if k != "notice_sending"}
            row.what = "buyer notices: " + ", ".join(f"{v} {k.removeprefix('notice_').replace('_', ' ')}"
                                                      for k, v in sorted(done.items()))
        elif row.family == "live":
            row.what = f"pulled {row.count} pages of orders"
    return rows
