"""The watch loop: one round (`tick`) takes in what is new (the queue drained, or one poll when
one is due), prices a sample of new lines, looks for signals, and acts on them once per SKU per
episode; `run` repeats rounds, resumes from the watch database after a restart, backs off on
errors and prints a heartbeat. Time comes from a clock, so drills and tests run on simulated time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from incident.amazon.spapi import ApiError, Connection
from incident.errors import IncidentError
from incident.timeutil import iso_utc, parse_iso
from incident.watch import alerts, detect, metrics, poll, prices, push, respond
from incident.watch.settings import WatchSettings, as_dict
from incident.watch.state import WatchDB

MAX_BACKOFF = 300.0


@dataclass
class Options:
    mode: str = "push"  # push (SQS) or poll
    auto_open: bool = False
    auto_stop_sales: bool = False
    who: str = "incident-watch"
    marketplace: str | None = None


@dataclass
class Round:
    at: datetime
    received: int = 0
    new_orders: int = 0
    priced: int = 0
    alerts: list[alerts.Alert] = field(default_factory=list)
    polled: str | None = None


class Watcher:
    def __init__(self, db: WatchDB, settings: WatchSettings, connection: Connection, options: Options, home: Path,
                 queue: push.Queue | None = None, terminal: Callable[[str], None] = print):
        self.db, self.settings, self.connection, self.options = db, settings, connection, options
        self.home, self.queue, self.terminal = home, queue, terminal
        self.clock = connection.clock
        self._last_heartbeat = self.clock.now()
        self._failures = 0
        with db.change(options.who, "watch_start", {"mode": options.mode, "auto_open": options.auto_open,
                                                    "auto_stop_sales": options.auto_stop_sales,
                                                    "settings": as_dict(settings)}):
            pass

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # -- one round ---------------------------------------------------------------------------------
    def tick(self) -> Round:
        now = self.now()
        result = Round(now)
        who = self.options.who
        if self.options.mode == "push":
            drained = push.drain(self.db, self.queue, now, who)
            result.received, result.new_orders = drained.received, drained.new_orders
        elif self._poll_due(now):
            polled = poll.poll_once(self.db, self.connection, now, who)
            result.new_orders, result.polled = polled.new_lines, polled.operation
        now = result.at = self.now()  # the long poll may have waited: judge at the moment it returned
        found = detect.signals(self.db, self.settings, now)
        if self.settings.metrics_skus:
            found += metrics.signals(self.connection, self.settings, self.db.baselines(), now)
        suspects = sorted({s.sku for s in found if s.kind == detect.VELOCITY and not self._confirmed(s.sku)})
        result.priced = prices.check(self.db, self.connection, now, who, suspects, self.settings.price_checks_per_tick)
        if result.priced:
            found = detect.signals(self.db, self.settings, now) + [s for s in found if s.source == "metrics"]
        for sku in sorted({s.sku for s in found}):
            alert = self._episode(sku, [s for s in found if s.sku == sku], now)
            if alert is not None:
                result.alerts.append(alert)
        self._close_quiet_episodes(now, {s.sku for s in found})
        return result

    def _poll_due(self, now: datetime) -> bool:
        last = self.db.cursor(poll.CURSOR)
        return last is None or now - parse_iso(last) >= timedelta(minutes=self.settings.poll_minutes)

    def _confirmed(self, sku: str) -> bool:
        episode = self.db.open_episode(sku)
        return bool(episode and episode["confirmed_at"])

    def _episode(self, sku: str, found: list[detect.Signal], now: datetime) -> alerts.Alert | None:
        """One episode per SKU: the first signal alerts, a first price confirmation alerts and acts;
        anything else only keeps the episode alive."""
        episode = self.db.open_episode(sku)
        priced = any(s.kind == detect.PRICE for s in found)
        # detection is timed from the first order known to be bad (the first in the rate's window
        # when no price is known yet)
        known = alerts.first_at([s for s in found if s.kind == detect.PRICE] or found)
        first = detect.first_bad(self.db, self.settings, sku, known, now)  # the window may start earlier
        if episode is not None:
            first = min(first, parse_iso(episode["first_bad_at"]))
        newly_confirmed = priced and (episode is None or not episode["confirmed_at"])
        kind = detect.PRICE if priced else detect.VELOCITY
        details: dict[str, Any] = {"sku": sku, "kind": kind, "signals": [s.kind for s in found]}
        with self.db.change(self.options.who, "signal" if episode else "episode_opened", details) as conn:
            if episode is None:
                episode_id = conn.execute(
                    "INSERT INTO episodes (sku, detected_at, first_bad_at, last_signal_at, confirmed_at, detect_seconds) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (sku, iso_utc(now), iso_utc(first), iso_utc(now),
                                                  iso_utc(now) if priced else None,
                                                  (now - known).total_seconds())).lastrowid
            else:
                episode_id = episode["id"]
                conn.execute("UPDATE episodes SET last_signal_at = ?, first_bad_at = ?, confirmed_at = coalesce(confirmed_at, ?) "
                             "WHERE id = ?", (iso_utc(now), iso_utc(first), iso_utc(now) if priced else None, episode_id))
            details["episode"] = episode_id
        if episode is not None and not newly_confirmed:
            return None
        alert = alerts.Alert(sku, kind, now, known, found, window_start=first)
        if newly_confirmed and (self.options.auto_open or self.options.auto_stop_sales):
            self._respond(alert, episode_id, found)
        delivered = alerts.deliver(alert, self.settings, self.terminal)
        with self.db.change(self.options.who, "alert", {"sku": sku, "kind": kind, "episode": episode_id,
                                                        "detect_seconds": round(alert.detect_seconds, 1),
                                                        "delivered": delivered}) as conn:
            conn.execute("INSERT INTO alerts (at, sku, kind, episode_id, text, delivered) VALUES (?, ?, ?, ?, ?, ?)",
                         (iso_utc(now), sku, kind, episode_id, alert.text(), str(delivered)))
        return alert

    def _respond(self, alert: alerts.Alert, episode_id: int, found: list[detect.Signal]) -> None:
        price = next(s for s in found if s.kind == detect.PRICE)
        floor = self.settings.floor(alert.sku) or price.limit
        try:
            opened = respond.open_incident(self.db, self.home, alert.sku, alert.window_start, floor,
                                           self.options.marketplace, self.options.who)
        except IncidentError as exc:
            alert.notes.append(f"could not open the incident: {exc}")
            return
        with opened:
            alert.incident_id = opened.incident().id
            if self.options.auto_stop_sales:
                try:
                    alert.stopped = respond.stop_sales(opened, self.connection, self.options.who)
                except IncidentError as exc:
                    alert.notes.append(f"could not stop the sales: {exc}")
        with self.db.change(self.options.who, "responded", {"episode": episode_id, "incident": alert.incident_id,
                                                            "stopped": alert.stopped}) as conn:
            conn.execute("UPDATE episodes SET incident_id = ?, stopped_at = ? WHERE id = ?",
                         (alert.incident_id, iso_utc(self.now()) if alert.stopped else None, episode_id))

    def _close_quiet_episodes(self, now: datetime, signalling: set[str]) -> None:
        quiet = iso_utc(now - timedelta(minutes=self.settings.quiet_minutes))
        for episode in self.db.conn.execute("SELECT id, sku FROM episodes WHERE closed_at IS NULL AND last_signal_at < ?",
                                            (quiet,)).fetchall():
            if episode["sku"] in signalling:
                continue
            with self.db.change(self.options.who, "episode_closed", {"episode": episode["id"], "sku": episode["sku"]}) as conn:
                conn.execute("UPDATE episodes SET closed_at = ? WHERE id = ?", (iso_utc(now), episode["id"]))

    # -- running -----------------------------------------------------------------------------------
    def run(self, once: bool = False, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Rounds until stopped (or one, for cron); the number of alerts raised."""
        raised = 0
        while not should_stop():
            try:
                result = self.tick()
                self._failures = 0
            except (ApiError, OSError) + _aws_errors() as exc:
                if once:
                    raise IncidentError(f"the watch round failed: {_describe(exc)}") from None
                self._failures += 1
                wait = min(MAX_BACKOFF, 2.0 ** self._failures)
                self.terminal(f"warning: {_describe(exc)}; trying again in {wait:.0f} s")
                self.clock.sleep(wait)
                continue
            raised += len(result.alerts)
            self._heartbeat(result)
            if once:
                break
            if self.options.mode == "poll" or (self.queue is not None and self.queue.wait_seconds == 0):
                self.clock.sleep(self.settings.poll_minutes * 60 if self.options.mode == "poll" else 1.0)
        return raised

    def _heartbeat(self, result: Round) -> None:
        if self.clock.now() - self._last_heartbeat < self.settings.heartbeat_minutes * 60:
            return
        self._last_heartbeat = self.clock.now()
        hour_ago = iso_utc(result.at - timedelta(hours=1))
        orders = self.db.conn.execute("SELECT count(DISTINCT order_id) FROM orders WHERE purchase_date >= ?",
                                      (hour_ago,)).fetchone()[0]
        open_episodes = self.db.conn.execute("SELECT count(*) FROM episodes WHERE closed_at IS NULL").fetchone()[0]
        self.terminal(f"{iso_utc(result.at)} watching ({self.options.mode}): {orders} orders in the last hour, "
                      f"{open_episodes} open episode(s)")


def _aws_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, IncidentError) else f"{type(exc).__name__}: the queue or the API did not answer"
