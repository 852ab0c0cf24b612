"""The offline demo: the bundled sample incidents run through open, pull, export, the Seller
Support texts and the buyer notices (into an outbox) in a throw-away INCIDENT_HOME, with no
network and no credentials."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from incident import cancellation, notices, orders
from incident.notices import support
from incident.resources import data_dir
from incident.timeutil import parse_iso
from incident.workspace import runbook, store
from incident.workspace.files import write_private

DEMO_ACTOR = "demo"
MESSAGING_OPERATIONS = ("getMessagingActionsForOrder", "createUnexpectedProblem", "getAttributes")
DEMO_SELLER = "Dana Reyes, Sonic Audio LLC"


def run(home: Path | None = None) -> Iterator[tuple[Path, str, list[str]]]:
    """For each sample marketplace: (home, incident id, what was done)."""
    root = Path(home) if home else Path(tempfile.mkdtemp(prefix="incident-demo-"))
    samples = data_dir("samples")
    for folder in sorted(p for p in samples.iterdir() if (p / "scope.json").exists()):
        scope = json.loads((folder / "scope.json").read_text())
        notes = [f"== Sample incident: {folder.name.upper()} marketplace ({scope['encoding']} reports)"]
        opened = store.create(root, title=f"Demo: stacked discount on {', '.join(scope['skus'])}",
                              skus=scope["skus"], window_start=parse_iso(scope["start"]),
                              window_end=parse_iso(scope["end"]), floor=Decimal(scope["floor"]),
                              marketplace=scope["marketplace"], who=DEMO_ACTOR,
                              steps=runbook.load(runbook.DEFAULT_RUNBOOK))
        with opened as incident_store:
            incident_id = incident_store.incident().id
            notes.append(f"$ incident open --sku {' --sku '.join(scope['skus'])} --start {scope['start']} "
                         f"--end {scope['end']} --floor {scope['floor']}  -> {incident_id}")
            reports = [folder / "all-orders.txt", folder / "unshipped.txt"]
            pulled = orders.pull_reports(incident_store, reports, DEMO_ACTOR)
            notes.append(f"$ incident pull --report {reports[0].name} --report {reports[1].name}  -> "
                         f"{pulled.new_lines} order lines in scope")
            exported = cancellation.export(incident_store, DEMO_ACTOR, "both")
            for path, _ in exported.files:
                notes.append(f"$ incident cancel export --format both  -> {path}")
            text, ids = support.write_request(incident_store, "fba-request", seller_name=DEMO_SELLER)
            support.mark_sent(incident_store, "fba-request", DEMO_ACTOR)
            notes.append(f"$ incident support fba-request --sent  -> {text} (+ {ids.name})")
            rendered = notices.render_notices(incident_store, DEMO_ACTOR, seller_name="Sonic Audio")
            notes.append(f"$ incident notify render --seller-name 'Sonic Audio'  -> {rendered.rendered} notices "
                         f"in the buyers' language, {len(notices.blocked(incident_store))} blocked by the rules")
            sent = notices.send_notices(incident_store, DEMO_ACTOR, "outbox")
            notes.append(f"$ incident notify send --via outbox  -> sent {sent.sent} of {sent.total} into "
                         f"{incident_store.folder / 'outbox'} ({sent.needs_spapi} FBA buyers have no e-mail address: "
                         "they are reached with --via spapi)")
            later = _as_after_upload(folder / "all-orders.txt", scope["encoding"], exported.rows,
                                     incident_store.folder / "downloads")
            pulled = orders.pull_reports(incident_store, [later], DEMO_ACTOR)
            notes.append(f"(the .txt uploaded in Seller Central; a newer All Orders report shows the orders cancelled)\n"
                         f"$ incident pull --report {later.name}  -> {pulled.updated_lines} order lines now cancelled")
            text, _ = support.write_request(incident_store, "annotation", seller_name=DEMO_SELLER)
            notes.append(f"$ incident support annotation  -> {text}")
        yield root, incident_id, notes


def _as_after_upload(report: Path, encoding: str, rows: list[list[str]], folder: Path) -> Path:
    """The All Orders report as Seller Central shows it once the upload file was processed: the
    uploaded items cancelled, a minute after the latest update in the file."""
    cancelled = {(order_id, item) for order_id, _, item in rows}
    orders_cancelled = {order_id for order_id, _ in cancelled}
    header, *lines = report.read_text(encoding=encoding).splitlines()
    columns = header.split("\t")
    status, item_status, updated = (columns.index(c) for c in ("order-status", "item-status", "last-updated-date"))
    latest = max(line.split("\t")[updated] for line in lines)
    later = (parse_iso(latest) + timedelta(minutes=1)).isoformat()
    out = [header]
    for line in lines:
        cells = line.split("\t")
        if cells[0] in orders_cancelled:
            cells[status] = cells[item_status] = "Cancelled"
            cells[updated] = later
        out.append("\t".join(cells))
    path = folder / "all-orders-after-upload.txt"
    write_private(path, ("\n".join(out) + "\n").encode(encoding))
    return path


def run_live(home: Path | None = None) -> Iterator[tuple[Path, str, list[str]]]:
    """The same incident, pulled and cancelled through the local SP-API simulator."""
    import os

    from incident.amazon import feeds, listings, live, spapi
    from incident.sandbox import seeded

    root = Path(home) if home else Path(tempfile.mkdtemp(prefix="incident-demo-live-"))
    # the simulator grants this seller 200 messages a second and says so in x-amzn-RateLimit-Limit,
    # as Amazon tells a seller granted more than the default: the client paces by it, and the demo
    # tells its buyers in about a second (at Amazon's default of one a second it would take minutes)
    simulator = seeded("us", processing_seconds=0.3, plans={op: (200.0, 5) for op in MESSAGING_OPERATIONS})
    url = simulator.start()
    overrides = simulator.environment()
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        scope = json.loads((data_dir("samples") / "us" / "scope.json").read_text())
        notes = [f"== Live demo against the SP-API simulator at {url}"]
        opened = store.create(root, title=f"Live demo: stacked discount on {', '.join(scope['skus'])}",
                              skus=scope["skus"], window_start=parse_iso(scope["start"]),
                              window_end=parse_iso(scope["end"]), floor=Decimal(scope["floor"]),
                              marketplace="US", who=DEMO_ACTOR, steps=runbook.load(runbook.DEFAULT_RUNBOOK))
        with opened as incident_store:
            incident_id = incident_store.incident().id
            connection = spapi.Connection(spapi.load_settings("US"))
            stopped = listings.stop_sales(incident_store, connection, DEMO_ACTOR)
            notes.append("$ incident stop-sales  -> " + ", ".join(f"{s}: {a} -> {b}" for s, a, b in stopped.changed))
            pulled = live.LivePull(incident_store, connection, DEMO_ACTOR).run()
            notes.append(f"$ incident pull --live  -> plan {pulled.plan.strategy}, {pulled.orders_seen} orders, "
                         f"{pulled.api_calls} API calls, {pulled.new_lines} order lines in scope")
            exported = cancellation.export(incident_store, DEMO_ACTOR, "txt")
            notes.append(f"$ incident cancel export  -> {exported.files[0][0]}")
            submitted = feeds.submit(incident_store, connection, DEMO_ACTOR, poll_seconds=0.5)
            notes.append(f"$ incident cancel submit --yes  -> feed {submitted.feed_id}: {submitted.accepted} of "
                         f"{submitted.rows} items cancelled, {len(submitted.rejected)} refused")
            again = live.LivePull(incident_store, connection, DEMO_ACTOR).run()
            notes.append(f"$ incident pull --live  -> {again.updated_lines} order lines updated (now cancelled)")
            rendered = notices.render_notices(incident_store, DEMO_ACTOR, seller_name="Sonic Audio", connection=connection)
            sent = notices.send_notices(incident_store, DEMO_ACTOR, "spapi", connection=connection)
            notes.append(f"$ incident notify render --live && incident notify send --via spapi  -> {rendered.rendered} "
                         f"rendered, {sent.sent} sent through the Messaging API")
            text, _ = support.write_request(incident_store, "annotation", seller_name=DEMO_SELLER)
            notes.append(f"$ incident support annotation  -> {text}")
        yield root, incident_id, notes
    finally:
        simulator.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
