"""LivePull: resume an interrupted pull, or make a plan and record the pull's start, then run
the chosen way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from incident.amazon.live import report, search, v0
from incident.amazon.live.plan import LiveResult, Plan, make_plan
from incident.amazon.live.session import Session
from incident.amazon.spapi import Connection
from incident.timeutil import iso_utc
from incident.workspace.store import Store


class LivePull:
    def __init__(self, store: Store, connection: Connection, who: str,
                 progress: Callable[[int, int, int], None] | None = None):
        self.session = Session(store, connection, who, **({"progress": progress} if progress else {}))

    def run(self, force: str | None = None, plan_only: bool = False) -> LiveResult:
        calls_before = self.session.connection.calls
        result = self._start(force, plan_only)
        result.api_calls = self.session.connection.calls - calls_before
        return result

    def _start(self, force: str | None, plan_only: bool) -> LiveResult:
        session = self.session
        window_start = iso_utc(session.incident.window_start)
        resumable = session.store.conn.execute(
            "SELECT * FROM live_pulls WHERE done = 0 AND created_after = ? ORDER BY id DESC LIMIT 1",
            (window_start,)).fetchone()
        if resumable and not plan_only and (force is None or force == resumable["strategy"]):
            plan = Plan(resumable["strategy"], 0, 0, {resumable["strategy"]: 0.0}, resumable["created_before"],
                        [f"resuming the pull started {resumable['started_at']} after {resumable['pages']} pages"])
            result = LiveResult(plan, resumed=True, pages=resumable["pages"], orders_seen=resumable["orders"])
            self._run(result, resumable["id"], resumable["cursor"], None)
            return result
        plan, probe = make_plan(session, force)
        session.adaptive = force is None
        result = LiveResult(plan)
        if plan_only:
            return result
        with session.store.change(session.who, "live_pull_start", {
                "strategy": plan.strategy, "estimated_orders": plan.estimated_orders,
                "estimated_seconds": round(plan.estimate, 1)}) as conn:
            pull_id = conn.execute("INSERT INTO live_pulls (strategy, created_after, created_before, started_at) "
                                   "VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                                   (plan.strategy, window_start, plan.created_before)).lastrowid
        self._run(result, pull_id, None, probe if plan.strategy == "search" else None)
        return result

    def _run(self, result: LiveResult, pull_id: int, cursor: str | None, probe: Any) -> None:
        strategy = result.plan.strategy
        if strategy == "search":
            search.run(self.session, result, pull_id, cursor, probe)
        elif strategy == "v0":
            v0.run(self.session, result, pull_id, cursor)
        else:
            report.run(self.session, result, pull_id, cursor)
