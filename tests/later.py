"""The suite on another day: with INCIDENT_TESTS_DAYS_AHEAD=N (`make test-later` sets a year), the
clock of every test worker and of every `incident` run forked for a test (tests/processes.py) is N
days ahead of today and keeps ticking, so that a test which holds only on the day it was written
(a sample's fixed dates read against the real clock) fails here rather than on a user's machine
next month. The monotonic clock is left alone: timeouts and waits are unchanged."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

DAYS_AHEAD = "INCIDENT_TESTS_DAYS_AHEAD"


def travel() -> None:
    """Move this process's wall clock ahead when asked to (once per process)."""
    days = os.environ.get(DAYS_AHEAD)
    if days and not getattr(travel, "started", False):
        import time_machine

        time_machine.travel(datetime.now(UTC) + timedelta(days=float(days)), tick=True).start()
        travel.started = True
