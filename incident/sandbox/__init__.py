"""The local SP-API simulator."""

from __future__ import annotations

import json

from incident.resources import data_dir
from incident.sandbox.server import Fault, Simulator


def seeded(sample: str = "us", **options) -> Simulator:
    """A simulator holding the same orders as samples/<sample>/."""
    from incident.scenario import from_spec

    path = data_dir("samples") / sample / "scope.json"
    if not path.exists():
        from incident.errors import UsageError

        raise UsageError(f"no sample '{sample}': use us or jp")
    return Simulator(from_spec(json.loads(path.read_text())), **options)


__all__ = ["Fault", "Simulator", "seeded"]
