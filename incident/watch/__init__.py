"""`incident watch`: catch a stacking incident within seconds of the first bad order.

Push (Amazon's ORDER_CHANGE notifications through an SQS queue) or poll (orders updated since
the last poll, paced by the token buckets); velocity against a learnt baseline first, then the
price of a sample of new lines; alerts to the terminal, a webhook and e-mail; on a confirmed bad
price, optionally an incident opened and the seller-fulfilled sales stopped, once per SKU per
episode. State lives in the watch database beside the incidents, so a restart resumes.

Modules by job: `settings` ([watch] in incident.toml), `state` (the watch database), `push` (the
queue), `poll`, `prices` (getOrder samples), `baseline`, `detect` (signals), `alerts` (delivery),
`respond` (auto-open, auto-stop-sales), `watcher` (the loop) and `setup` (the subscription).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from incident.watch.settings import WatchSettings
from incident.watch.watcher import Options, Round, Watcher

__all__ = ["Options", "Round", "WatchSettings", "Watcher", "build", "status"]


def build(home: Path, options: Options, *, settings: WatchSettings | None = None, connection: Any = None,
          queue_url: str | None = None, baseline_report: Path | None = None, relearn: bool = False,
          wait_seconds: int = 20, terminal: Callable[[str], None] = print) -> Watcher:
    """A watcher ready to run: settings, the SP-API connection, the queue (push), and a baseline
    (learnt now when there is none yet, or when asked)."""
    from incident.amazon import spapi
    from incident.errors import UsageError
    from incident.watch import baseline, push, state
    from incident.watch import settings as settings_mod

    settings = settings or settings_mod.load()
    if options.mode not in ("push", "poll"):
        raise UsageError(f"--mode '{options.mode}' is not push or poll")
    if connection is None:
        connection = spapi.Connection(spapi.load_settings(options.marketplace))
    options.marketplace = options.marketplace or connection.settings.marketplace.code
    queue = None
    if options.mode == "push":
        url = queue_url or settings.queue_url
        if not url:
            raise UsageError("push needs the SQS queue: --queue-url URL or queue_url under [watch] in incident.toml "
                             "(`incident watch setup --sqs-arn ARN` subscribes it), or use --mode poll")
        queue = push.Queue(url, settings.sqs_endpoint, settings.region, wait_seconds)
    db = state.open_db(home)
    watcher = Watcher(db, settings, connection, options, home, queue, terminal)
    if baseline_report is not None:
        baseline.from_report(db, baseline_report, watcher.now(), options.who)
    elif relearn or not db.baselines():
        learnt = baseline.from_api(db, connection, watcher.now(), options.who, settings.history_days)
        terminal(f"baseline learnt for {len(learnt)} SKUs from the last {settings.history_days:g} days of orders")
    return watcher


def status(home: Path) -> dict[str, Any]:
    """Episodes, alerts and how long detection took, from the watch database."""
    from incident.watch import state

    path = state.path(home, create=False)
    if not path.exists():
        return {"episodes": [], "alerts": [], "notifications": 0, "orders": 0}
    with state.WatchDB(path) as db:
        return {"episodes": [dict(r) for r in db.episodes()], "alerts": [dict(r) for r in db.alerts()],
                "notifications": db.conn.execute("SELECT count(*) FROM notifications").fetchone()[0],
                "orders": db.conn.execute("SELECT count(DISTINCT order_id) FROM orders").fetchone()[0],
                "baselines": db.baselines()}
