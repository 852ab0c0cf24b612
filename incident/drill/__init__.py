"""`incident drill`: a practice incident against the simulator, with a score.

A scenario (built in, or the team's YAML: incident.sandbox.drills) runs on a local SP-API
simulator and a local SQS queue (`environment`). The team works it with the real commands, on a
real or accelerated clock (`team`), or `--autopilot` runs the toolkit's own best response on
simulated time (`autopilot`). Either way the world is then run to its end (FBA orders picked,
seller-fulfilled ones shipped, Seller Support's answers) and scored (`scorecard`).

The queue needs moto (the `drill` extra). A drill is how a team learns the tool, so on a plain
install it still runs: its watch polls the Orders API instead (`choose_mode`), the same detection,
alerts and response behind it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from incident.amazon.ratelimits import VirtualClock
from incident.drill import environment, scorecard
from incident.errors import UsageError
from incident.sandbox import drills
from incident.workspace import reserved

DRILL_START = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # simulated: every autopilot drill is the same day

NO_QUEUE = ("moto is not installed, so the drill has no local SQS queue: its watch polls the Orders API instead "
            "(pip install 'incident[drill]' to drill push)")

__all__ = ["NO_QUEUE", "autopilot_drill", "choose_mode", "history", "team_drill"]


def choose_mode(mode: str | None) -> tuple[str, str | None]:
    """The watch's mode for a drill (push or poll; None: push where moto is installed, else poll),
    and the note to show when the drill polls for want of moto. Asked before anything is started."""
    if mode == "poll":
        return "poll", None
    if environment.local_sqs_available():
        return "push", None
    if mode == "push":
        raise UsageError(environment.NEEDS_MOTO)
    return "poll", NO_QUEUE


def _settle(env) -> None:
    """Run the world to its end: every pick, shipment and Seller Support answer still to come."""
    env.world.advance(datetime.max.replace(tzinfo=UTC))


def autopilot_drill(scenario_name: str, home: Path, mode: str = "push") -> tuple[dict[str, Any], list[str], Path,
                                                                                  dict[str, Any] | None]:
    """Run the scenario with the toolkit's best response on simulated time; (scorecard, the
    autopilot's log, where the scorecard is kept, the previous one of this scenario)."""
    from incident.drill import autopilot

    scenario = drills.load(scenario_name)
    clock = VirtualClock(DRILL_START.timestamp())
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    workspace = reserved.drills(home) / f"{run_id}-{scenario.name}"
    workspace.mkdir(parents=True, exist_ok=True, mode=0o700)
    with environment.start(scenario, DRILL_START, clock, push=mode == "push") as env:
        timeline = autopilot.run(env, workspace, clock, mode)
        _settle(env)
        card = scorecard.score(env, detected=timeline.detected, fba_request=timeline.fba_request,
                               notified=timeline.notified, notices_sent=timeline.notices_sent,
                               notices_due=timeline.notices_due, refused=timeline.refused, mode=mode)
    card["incident"] = timeline.incident_id
    card["workspace"] = str(workspace)
    path, previous = scorecard.keep(card, home, run_id)
    return card, timeline.log, path, previous


class ScaledClock:
    """Real time, `speed` times faster, starting at `start`."""

    def __init__(self, start: datetime, speed: float = 1.0):
        import time

        self._time, self.speed = time, speed
        self.origin_real, self.origin = time.time(), start.timestamp()

    def now(self) -> float:
        return self.origin + (self._time.time() - self.origin_real) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._time.sleep(seconds / self.speed)

    def simulated(self, real: datetime) -> datetime:
        return datetime.fromtimestamp(self.origin + (real.timestamp() - self.origin_real) * self.speed, UTC)


def team_drill(scenario_name: str, home: Path, *, speed: float = 1.0, port: int = 8123, minutes: float | None = None,
               push: bool = True, announce: Callable[[list[str]], None] = print,
               should_stop: Callable[[], bool] = lambda: False) -> tuple[dict[str, Any], Path, dict[str, Any] | None]:
    """Serve the scenario for the team on 127.0.0.1 until it is over (or stopped), then score what
    the team did: the simulator's record (stop-sales, feeds, messages) and the incidents and watch
    under `home`."""
    scenario = drills.load(scenario_name)
    clock = ScaledClock(datetime.now(UTC).replace(microsecond=0), speed)
    start = datetime.fromtimestamp(clock.now(), UTC)
    length = timedelta(minutes=minutes if minutes is not None else scenario.starts_in_minutes + scenario.minutes + 60)
    with environment.start(scenario, start, clock, push=push, port=port) as env:
        announce(_banner(env, home, speed, length))
        try:
            while datetime.fromtimestamp(clock.now(), UTC) < start + length and not should_stop():
                if env.publisher:
                    env.publisher.pump()
                env.world.advance(datetime.fromtimestamp(clock.now(), UTC))
                clock.sleep(min(1.0, 0.5 * speed))
        except KeyboardInterrupt:  # the team ends the drill early: score what was done
            pass
        detected, fba_request = _team_record(home, clock)
        notified = max((datetime.fromtimestamp(m["at"], UTC) for m in env.sim.messages), default=None)
        _settle(env)
        card = scorecard.score(env, detected=detected, fba_request=fba_request, notified=notified,
                               notices_sent=len(env.sim.messages), notices_due=len(env.sim.messages),
                               mode="push" if push else "poll", autopilot=False)
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path, previous = scorecard.keep(card, home, run_id)
    return card, path, previous


def _banner(env, home: Path, speed: float, length: timedelta) -> list[str]:
    variables = env.variables()
    scenario = env.scenario
    lines = [f"Drill {scenario.name}: {scenario.description}",
             f"The stacked price goes live in {scenario.starts_in_minutes:g} simulated minutes; the drill lasts "
             f"{length.total_seconds() / 60:.0f} simulated minutes (clock x{speed:g}). In another terminal:",
             "  export " + " ".join(f"{k}={v}" for k, v in variables.items()) + f" INCIDENT_HOME={home}"]
    if env.queue_arn:
        lines.append(f"  incident watch setup --sqs-arn {env.queue_arn} && incident watch --auto-open")
    else:
        lines.append("  incident watch --mode poll --auto-open")
    lines.append("then work it as on the day: incident next, stop-sales, pull --live, cancel submit, support "
                 "fba-request --sent, notify. Ctrl-C ends the drill early and scores it.")
    return lines


def _team_record(home: Path, clock: ScaledClock) -> tuple[datetime | None, datetime | None]:
    """When the team's watch detected and when its FBA request was sent, in simulated time."""
    from incident import watch
    from incident.timeutil import parse_iso
    from incident.workspace import store

    episodes = watch.status(home)["episodes"]
    detected = min((clock.simulated(parse_iso(e["detected_at"])) for e in episodes), default=None) \
        if clock.speed != 1 else min((parse_iso(e["detected_at"]) for e in episodes), default=None)
    requests = []
    for incident in store.list_incidents(home):
        with store.open_store(home, incident.id) as opened:
            requests += [parse_iso(e["at"]) for e in opened.events() if e["action"] == "support_fba_request_sent"]
    fba = clock.simulated(min(requests)) if requests else None
    return detected, fba


def history(home: Path) -> list[dict[str, Any]]:
    """Every kept scorecard, oldest first."""
    import json

    folder = reserved.drills(home, create=False)
    return [json.loads(p.read_text(encoding="utf-8")) | {"file": str(p)}
            for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def scratch_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="incident-drill-"))
