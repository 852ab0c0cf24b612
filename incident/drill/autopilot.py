"""--autopilot: the toolkit's own best response, end to end, on simulated time. The watch (push or
poll) detects, opens the incident and stops the seller-fulfilled sales; the FBA request goes out
at once from the watch's own order lines (and again when the list grows); as soon as Amazon lets
the window be searched (two minutes) the orders are pulled live and the cancellation feed is
submitted, then again every few minutes until no seller-fulfilled order is left open; the buyers
are told through the Messaging API."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from incident import notices, watch
from incident.amazon import feeds, live, spapi
from incident.errors import IncidentError
from incident.notices import support
from incident.scope import ATTENTION, CANCELLABLE, FBA, sort_store
from incident.timeutil import parse_iso
from incident.watch import respond
from incident.watch import setup as setup_mod
from incident.watch.settings import WatchSettings
from incident.workspace import store as store_mod

WHO = "autopilot"
SIGNATURE = "Drill autopilot, the seller's team"  # how the drill's Seller Support texts are signed
SEARCHABLE_AFTER = timedelta(minutes=2, seconds=5)  # Amazon's createdBefore must be two minutes old
REPULL = timedelta(minutes=3)
RETRY = timedelta(seconds=15)
FBA_FOLLOW_UP = timedelta(minutes=5)  # a growing FBA list goes to Seller Support at most this often


@dataclass
class Timeline:
    """When each step was done, in simulated time (None: not done)."""

    detected: datetime | None = None
    fba_request: datetime | None = None
    notified: datetime | None = None
    incident_id: str | None = None
    notices_sent: int = 0
    notices_due: int = 0
    refused: int = 0
    log: list[str] = field(default_factory=list)


def run(env, home: Path, clock, mode: str = "push", settings: WatchSettings | None = None) -> Timeline:
    timeline = Timeline()
    now = lambda: datetime.fromtimestamp(clock.now(), UTC)  # noqa: E731
    say = lambda line: timeline.log.append(f"{now():%H:%M:%S} {line}")  # noqa: E731
    connection = spapi.Connection(spapi.load_settings(env.scenario.marketplace), clock=clock)
    settings = settings or WatchSettings()
    if mode == "push":
        setup_mod.setup(connection, env.queue_arn)
        settings.queue_url, settings.sqs_endpoint = env.queue_url, env.sqs.endpoint
    watcher = watch.build(home, watch.Options(mode=mode, auto_open=True, auto_stop_sales=True, who=WHO),
                          settings=settings, connection=connection, wait_seconds=0, terminal=say)
    truth = env.truth
    finish = truth.start + timedelta(minutes=env.scenario.minutes) + timedelta(minutes=env.scenario.pending_minutes + 6)
    next_pull: datetime | None = None
    fba_due: datetime | None = None
    fba_sent: set[str] = set()
    while now() < finish + timedelta(minutes=30):
        if env.publisher:
            env.publisher.pump()
        result = watcher.tick()
        for alert in result.alerts:
            timeline.detected = timeline.detected or alert.at
            timeline.incident_id = timeline.incident_id or alert.incident_id
            priced = [s for s in alert.signals if s.kind == "price"]
            if priced and next_pull is None:  # the first bad order seen can be searched two minutes on
                next_pull = parse_iso(priced[0].first_at) + SEARCHABLE_AFTER + timedelta(seconds=1)
        if timeline.incident_id:
            with store_mod.open_store(home, timeline.incident_id) as incident_store:
                if fba_due is None or now() >= fba_due:  # what the watch saw since: the FBA list grows
                    respond.seed(watcher.db, incident_store, truth.sku, WHO)
                    if _fba_request(env, incident_store, timeline, fba_sent, now(), say):
                        fba_due = now() + FBA_FOLLOW_UP
                if next_pull is None:
                    next_pull = incident_store.incident().window_start + SEARCHABLE_AFTER + timedelta(seconds=1)
                if now() >= next_pull:
                    settled = _pull_and_cancel(incident_store, connection, timeline, say)
                    _notify(incident_store, connection, timeline, now, say)
                    next_pull = now() + (REPULL if settled is not None else RETRY)
                    if settled and now() >= finish:
                        break
        clock.sleep(_step(env, timeline, now(), next_pull, mode, settings))
    return timeline


def _step(env, timeline: Timeline, now: datetime, next_pull: datetime | None, mode: str, settings) -> float:
    """A second while things happen; otherwise straight to the next thing due."""
    if timeline.detected is None:
        due = env.publisher.next_due() if env.publisher else None
        if mode == "poll":
            return settings.poll_minutes * 60
        if due is None or due <= now + timedelta(seconds=1):
            return 1.0
        return min(60.0, (due - now).total_seconds())
    if next_pull is not None and next_pull > now:
        return max(1.0, min(5.0, (next_pull - now).total_seconds()))
    return 1.0


def _fba_request(env, incident_store, timeline: Timeline, sent: set[str], now: datetime, say) -> bool:
    """The request to Seller Support for every FBA order known now that it has not been asked
    about; whether one went out."""
    fba = {d.line.order_id for d in sort_store(incident_store) if d.bucket == FBA}
    if not fba - sent:
        return False
    text, ids = support.write_request(incident_store, "fba-request", seller_name=SIGNATURE)
    support.mark_sent(incident_store, "fba-request", WHO)
    with open(ids, encoding="utf-8") as handle:
        listed = [row["order-id"] for row in csv.DictReader(handle)]
    env.world.fba_request([o for o in listed if o not in sent], now)
    say(f"FBA request sent to Seller Support: {len(set(listed) - sent)} orders")
    sent.update(listed)
    timeline.fba_request = timeline.fba_request or now
    return True


def _pull_and_cancel(incident_store, connection, timeline: Timeline, say) -> bool | None:
    """One live pull and, when there is something to cancel, one feed; True once no
    seller-fulfilled order is left to cancel or waiting for its price; None when Amazon could not
    be asked (too soon, or an error): try again shortly."""
    try:
        pulled = live.LivePull(incident_store, connection, WHO).run()
        say(f"pulled {pulled.orders_seen} orders ({pulled.new_lines} new lines)")
        if feeds.rows_to_submit(incident_store, "PricingError"):
            result = feeds.submit(incident_store, connection, WHO, poll_seconds=15.0)
            timeline.refused += len(result.rejected)
            say(f"feed {result.feed_id}: {result.accepted} of {result.rows} cancelled")
    except IncidentError as exc:
        say(f"warning: {exc}")
        return None
    left = [d for d in sort_store(incident_store) if (d.line.fulfillment_channel or "") == "Merchant"
            and (d.bucket == CANCELLABLE or d.bucket == ATTENTION and "pending" in d.reason)]
    return not left


def _notify(incident_store, connection, timeline: Timeline, now, say) -> None:
    rendered = notices.render_notices(incident_store, WHO, seller_name="Sonic Audio")
    if not rendered.rendered:
        return
    try:
        sent = notices.send_notices(incident_store, WHO, "spapi", connection=connection)
    except IncidentError as exc:
        say(f"warning: {exc}")
        return
    timeline.notices_sent += sent.sent
    timeline.notices_due = notices.summary(incident_store)["total"]
    if sent.sent:
        timeline.notified = now()
        say(f"told {sent.sent} buyers ({timeline.notices_sent} of {timeline.notices_due} so far)")
