"""The offline demo: the bundled sample incidents run through open, pull and export in a
throw-away INCIDENT_HOME, with no network and no credentials."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from incident import cancellation, orders, runbook, store
from incident.resources import data_dir
from incident.timeutil import parse_iso

DEMO_ACTOR = "demo"


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
        yield root, incident_id, notes
