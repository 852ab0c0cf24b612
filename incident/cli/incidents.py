"""The incident itself: open, list, the checklist (next, guide, step), status, the log, purge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from typing import Annotated, Any

import typer

from incident.cli import (
    ByOpt,
    Group,
    IncidentOpt,
    JsonOpt,
    app,
    decisions,
    err,
    home,
    open_store,
    print_buckets,
    print_json,
    table,
    warn_skipped,
)
from incident.errors import UsageError
from incident.safetext import shown
from incident.timeutil import elapsed, local_and_utc, now_utc, parse_iso
from incident.workspace import store as store_mod

step_app = typer.Typer(cls=Group, no_args_is_help=True, help="Tick, skip or reopen checklist steps.")
app.add_typer(step_app, name="step")


@app.command("open")
def open_incident(
    sku: Annotated[list[str], typer.Option("--sku", help="A SKU hit by the stacked discount (repeat for more).")],
    start: Annotated[str, typer.Option("--start", help="When the bad price went live (ISO-8601 with offset).")],
    end: Annotated[str, typer.Option("--end", help="When it was stopped, or now (the window is [start, end)).")],
    floor: Annotated[str | None, typer.Option("--floor", help="Only orders whose net unit price is below this amount.")] = None,
    marketplace: Annotated[str | None, typer.Option("--marketplace", help="Country code (US, UK, DE, JP, ...) or marketplace id; inferred from the reports if left out.")] = None,
    title: Annotated[str | None, typer.Option("--title", help="A short name for the incident.")] = None,
    runbook: Annotated[str, typer.Option("--runbook", help="Checklist to follow.")] = "promo-stacking",
    by: ByOpt = None,
) -> None:
    """Open an incident and print its id.

    Example: incident open --sku SONIC-HP-BLK --start 2026-11-20T14:02-08:00 --end 2026-11-20T14:30-08:00 --floor 100
    """
    from incident.amazon import marketplaces
    from incident.workspace import runbook as runbook_mod

    window_start = _parse_time(start, "--start")
    window_end = _parse_time(end, "--end")
    if window_end <= window_start:
        raise UsageError("--end must be after --start")
    floor_value = None
    if floor is not None:
        try:
            floor_value = Decimal(floor)
        except ArithmeticError:
            raise UsageError(f"--floor '{floor}' is not an amount: write it like 100 or 99.50") from None
        if not floor_value.is_finite() or floor_value <= 0:
            raise UsageError("--floor must be a positive amount")
    code = marketplaces.lookup(marketplace).code if marketplace else None
    skus = [s.strip() for s in sku if s.strip()]
    if not skus:
        raise UsageError("give at least one --sku")
    steps = runbook_mod.load(runbook)
    store = store_mod.create(home(), title=title or f"Stacked discount on {', '.join(skus)}",
                             skus=skus, window_start=window_start, window_end=window_end,
                             floor=floor_value, marketplace=code, who=store_mod.actor(by),
                             steps=steps)
    with store:
        incident = store.incident()
        tz = marketplaces.BY_CODE[code].timezone if code else None
        print(incident.id)
        err.print(f"Opened {incident.id}: {shown(incident.title)}\n"
                   f"  window {local_and_utc(window_start, tz)} to {local_and_utc(window_end, tz)}\n"
                   f"  folder {store.folder}\n"
                   f"Next: incident next", markup=False)


def _parse_time(text: str, option: str):
    from incident.timeutil import parse_option

    return parse_option(text, option)


@app.command("list")
def list_incidents(as_json: JsonOpt = False) -> None:
    """List the incidents under INCIDENT_HOME.

    Example: incident list
    """
    incidents, damaged = store_mod.scan(home())
    warn_skipped(damaged)
    if as_json:
        print_json([{"id": i.id, "title": i.title, "state": i.state, **i.scope()} for i in incidents])
        return
    table(None, ["id", "state", "title"], [[i.id, i.state, i.title] for i in incidents])

@step_app.command("done")
def step_done(
    step_id: Annotated[str, typer.Argument(metavar="ID", help="Step id, as `incident status` shows it.")],
    note: Annotated[str | None, typer.Option("--note", help="What was done, for the report.")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Tick a step done.

    Example: incident step done stop-bleeding --note "promo SOCIAL20 ended 14:31"
    """
    _mark(incident, step_id, "done", by, note)


@step_app.command("skip")
def step_skip(
    step_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why the step does not apply.")],
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Skip a step, saying why.

    Example: incident step skip fba-request --reason "no FBA orders"
    """
    _mark(incident, step_id, "skipped", by, reason)


@step_app.command("reopen")
def step_reopen(
    step_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why the step must be done again.")],
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Reopen a done or skipped step.

    Example: incident step reopen cancel-upload --reason "upload rejected the reason code"
    """
    _mark(incident, step_id, "open", by, reason)


def _mark(incident: str | None, step_id: str, state: str, by: str | None, note: str | None) -> None:
    from incident.workspace import runbook

    with open_store(incident) as store:
        runbook.mark(store, step_id, state, store_mod.actor(by), note)
        print(f"{step_id}: {state}")


def _describe_step(store: store_mod.Store, step: Any) -> list[str]:
    from incident.workspace import runbook

    lines = [f"Next: {step['title']}  [{step['id']}]{'' if step['required'] else '  (optional)'}",
             f"  Why: {step['why']}", f"  Who: {step['who']}"]
    if step["manual"]:
        lines.append(f"  In Seller Central: {step['manual']}")
    args = runbook.command_args(step, store.incident())
    if args:
        lines.append(f"  Run: {runbook.show_command(args)}")
    if step["follow_up"]:
        lines.append(f"  Then: {step['follow_up']}")
    else:
        lines.append(f"  Then: incident step done {step['id']}   (or: incident step skip {step['id']} --reason ...)"
                     if not step["ticks_on"] or not args else "  The step ticks itself when the command succeeds.")
    return lines


@app.command("next")
def next_step(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """Show the next open step: what to do, why, and the exact command.

    Example: incident next
    """
    from incident.workspace import runbook

    with open_store(incident) as store:
        step = runbook.next_open(store)
        if as_json:
            print_json(None if step is None else {
                "id": step["id"], "title": step["title"], "why": step["why"], "who": step["who"],
                "manual": step["manual"], "command": runbook.command_args(step, store.incident())})
            return
        if step is None:
            print("Every step is done or skipped. Run `incident status` for the summary.")
            return
        print("\n".join(_describe_step(store, step)))


@app.command()
def guide(incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """Walk through the open steps one by one, asking before running each command.

    Example: incident guide
    """
    from incident.workspace import runbook

    who = store_mod.actor(by)
    with open_store(incident) as store:
        incident_id = store.incident().id
    asked: set[str] = set()
    while True:
        with store_mod.open_store(home(), incident_id) as store:
            steps = [s for s in store.steps() if s["state"] == "open" and s["id"] not in asked]
            if not steps:
                print("No open steps left to go through. `incident status` shows where things stand.")
                return
            step = steps[0]
            asked.add(step["id"])
            print()
            print("\n".join(_describe_step(store, step)))
            args = runbook.command_args(step, store.incident())
        if args:
            for position, question in runbook.prompts(args):
                args[position] = typer.prompt(f"  {question}")
            if typer.confirm(f"  Run `{runbook.show_command(args)}` now?", default=True):
                completed = subprocess.run([sys.executable, "-m", "incident", *args[1:]],
                                           env={**os.environ, "INCIDENT_HOME": str(home())})
                if completed.returncode != 0:
                    print(f"  The command failed (exit {completed.returncode}); fix the problem and "
                          f"run `incident guide` again.")
                    continue
        with store_mod.open_store(home(), incident_id) as store:
            if store.step(step["id"])["state"] != "open":
                print(f"  {step['id']}: done")
                continue
            answer = typer.prompt("  Is this step done? [y]es / [s]kip / [l]ater / [q]uit",
                                  default="l").strip().lower()[:1]
            if answer == "y":
                runbook.mark(store, step["id"], "done", who)
                print(f"  {step['id']}: done")
            elif answer == "s":
                reason = typer.prompt("  Why skip it?")
                runbook.mark(store, step["id"], "skipped", who, reason)
            elif answer == "q":
                return


@app.command()
def status(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """Where the incident stands: time since it started, each step, each bucket, the exports.

    Example: incident status --json
    """
    from incident import notices
    from incident.amazon import marketplaces
    from incident.scope import counts, money

    with open_store(incident) as store:
        inc = store.incident()
        sorted_lines = decisions(store)
        steps = store.steps()
        exports = store.exports()
        notices = notices.summary(store)
    now = now_utc()
    step_records = [{"id": s["id"], "title": s["title"], "state": s["state"], "at": s["at"],
                     "by": s["by"], "note": s["note"], "required": bool(s["required"])} for s in steps]
    export_records = [{"at": e["at"], "path": e["path"], "format": e["format"], "rows": e["rows"],
                       "sha256": e["sha256"], "reason": e["reason"]} for e in exports]
    if as_json:
        print_json({"id": inc.id, "title": inc.title, "state": inc.state, "scope": inc.scope(),
                     "opened_at": store_mod.iso_utc(inc.opened_at), "opened_by": inc.opened_by,
                     "elapsed_seconds": int((now - inc.window_start).total_seconds()),
                     "counts": counts(sorted_lines), "money": money(sorted_lines),
                     "steps": step_records, "exports": export_records, "notices": notices})
        return
    tz = marketplaces.BY_CODE[inc.marketplace].timezone if inc.marketplace else None
    print(f"{inc.id}: {shown(inc.title)}  [{inc.state}]")
    print(f"  {elapsed(now - inc.window_start)} since the bad price went live "
          f"({local_and_utc(inc.window_start, tz)}); opened {local_and_utc(inc.opened_at, tz)} by {shown(inc.opened_by)}")
    print(f"  SKUs {shown(', '.join(inc.skus))}; window to {local_and_utc(inc.window_end, tz)}"
          f"{f'; floor {inc.floor}' if inc.floor is not None else ''}; marketplace {inc.marketplace or 'not known yet'}")
    done = sum(1 for s in steps if s["state"] != "open")
    rows = []
    for s in steps:
        when = elapsed(parse_iso(s["at"]) - inc.window_start) if s["at"] else ""
        rows.append([s["id"], s["state"] + ("" if s["required"] else " (optional)"), when,
                     s["by"] or "", s["title"]])
    table(f"Checklist: {done} of {len(steps)} steps done or skipped",
           ["step", "state", "when", "who", "what"], rows)
    print_buckets(sorted_lines)
    if exports:
        table("Exports", ["when", "format", "rows", "path"],
               [[elapsed(parse_iso(e["at"]) - inc.window_start), e["format"], str(e["rows"]), e["path"]]
                for e in exports])
    if notices["total"]:
        def when(at: str | None) -> str:
            return f"{elapsed(parse_iso(at) - inc.window_start)} ({local_and_utc(parse_iso(at), tz)})" if at else ""

        table(f"Buyer notices: {notices['sent']} of {notices['total']} buyers told",
               ["state", "how", "count", "first", "last", "by"],
               [["sent", ", ".join(f"{via} {n}" for via, n in notices["by_via"].items()), str(notices["sent"]),
                 when(notices["first_sent_at"]), when(notices["last_sent_at"]), ", ".join(notices["sent_by"])]]
               + [[state.replace("_", " "), "", str(notices[state]), "", "", ""]
                  for state in ("failed", "not_offered", "blocked", "rendered", "sending") if notices[state]])


@app.command("log")
def show_log(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """The incident's timeline: every change, when and by whom (UTC).

    Example: incident log
    """
    with open_store(incident) as store:
        events = store.events()
    if as_json:
        print_json(events)
        return
    table("Timeline (UTC)", ["#", "at", "who", "what", "details"],
           [[str(e["seq"]), e["at"], e["actor"], e["action"],
             json.dumps(e["details"], ensure_ascii=False, sort_keys=True)] for e in events])


@app.command()
def purge(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Erase buyer names and e-mail addresses from the incident (keeps orders and the log).

    Example: incident purge --yes
    """
    with open_store(incident) as store:
        if not yes and not typer.confirm("Erase the buyers' names and e-mail addresses?"):
            raise typer.Exit(1)
        count = store.purge_personal_data(store_mod.actor(by))
    print(f"erased buyer data from {count} order lines")


