"""The incident itself: open, list, the checklist (next, guide, step), status, the log, purge."""

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
    err,
    home,
    open_store,
    print_json,
    print_money,
    table,
    warn_skipped,
)
from incident.errors import StateError, UsageError
from incident.safetext import shown
from incident.timeutil import elapsed, local_and_utc, now_utc, parse_iso
from incident.workspace import store as store_mod


@app.command("open", rich_help_panel="During the incident")
def open_incident(
    sku: Annotated[list[str], typer.Option("--sku", metavar="SKU", help="A SKU hit by the stacked discount (repeat for more).")],
    start: Annotated[str, typer.Option("--start", metavar="TIME", help="When the bad price went live (ISO-8601 with offset).")],
    end: Annotated[str, typer.Option("--end", metavar="TIME", help="When it was stopped, or now (the window is [start, end)).")],
    floor: Annotated[str | None, typer.Option("--floor", metavar="AMOUNT", help="Only orders whose net unit price is below this amount.")] = None,
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
    floor_value = _parse_floor(floor)
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


def _parse_floor(floor: str | None) -> Decimal | None:
    if floor is None:
        return None
    try:
        value = Decimal(floor)
    except ArithmeticError:
        raise UsageError(f"--floor '{floor}' is not an amount: write it like 100 or 99.50") from None
    if not value.is_finite() or value <= 0:
        raise UsageError("--floor must be a positive amount")
    return value


@app.command("scope", rich_help_panel="During the incident")
def change_scope(
    sku: Annotated[list[str] | None, typer.Option("--sku", metavar="SKU", help="The SKUs from now on (repeat for more; replaces the old list).")] = None,
    start: Annotated[str | None, typer.Option("--start", metavar="TIME", help="The window's new start (ISO-8601 with offset).")] = None,
    end: Annotated[str | None, typer.Option("--end", metavar="TIME", help="The window's new end, or now.")] = None,
    floor: Annotated[str | None, typer.Option("--floor", metavar="AMOUNT", help="The new price floor.")] = None,
    no_floor: Annotated[bool, typer.Option("--no-floor", help="Drop the price floor: every order in the window counts.")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Change an open incident's SKUs, window or floor; the buckets follow.

    Example: incident scope --sku SONIC-HP-BLK --sku SONIC-HP-WHT --end now
    """
    from incident.rescope import change_scope as change

    with open_store(incident) as store:
        changed = change(store, store_mod.actor(by), skus=sku, start=_parse_time(start, "--start") if start else None,
                         end=_parse_time(end, "--end") if end else None, floor=_parse_floor(floor), no_floor=no_floor)
        stale = sum(1 for e in store.exports() if e["stale"])
    scope = changed.scope()
    print(f"scope: {', '.join(scope['skus'])}, {scope['window_start']} to {scope['window_end']}"
          f"{', floor ' + scope['floor'] if scope['floor'] else ', no floor'}")
    print("Pull the reports again to pick up orders the old scope left out.")
    if stale:
        err.print(f"warning: {stale} upload files were written under the old scope: `incident cancel export` writes "
                  "a new one", markup=False, soft_wrap=True)


@app.command("list", rich_help_panel="During the incident")
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


def _describe_step(store: store_mod.Store, step: Any) -> list[str]:
    from incident.checklist import blocker
    from incident.workspace import runbook

    lines = [f"Next: {step['title']}  [{step['id']}]{'' if step['required'] else '  (optional)'}",
             f"  Why: {step['why']}", f"  Who: {step['who']}"]
    if step["manual"]:
        lines.append(f"  In Seller Central: {step['manual']}")
    waiting = blocker(store, step["id"])
    commands = runbook.all_commands(step, store.incident())
    if waiting:
        lines.append(f"  Not yet: {waiting}")
    else:
        lines += [f"  Run: {runbook.show_command(args)}" for args in commands]
    if step["follow_up"]:
        lines.append(f"  Then: {step['follow_up']}")
    else:
        lines.append(f"  Then: incident step done {step['id']}   (or: incident step skip {step['id']} --reason ...)"
                     if not step["ticks_on"] or not commands else "  The step ticks itself when the command succeeds.")
    return lines


@app.command("next", rich_help_panel="During the incident")
def next_step(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """Show the next open step: what to do, why, and the exact command.

    Example: incident next
    """
    from incident.checklist import blocker
    from incident.workspace import runbook

    with open_store(incident) as store:
        step = runbook.next_open(store)
        if as_json:
            print_json(None if step is None else {
                "id": step["id"], "title": step["title"], "why": step["why"], "who": step["who"],
                "manual": step["manual"], "command": runbook.command_args(step, store.incident()),
                "commands": runbook.all_commands(step, store.incident()), "not_yet": blocker(store, step["id"])})
            return
        if step is None:
            print("Every step is done or skipped. Run `incident status` for the summary.")
            return
        print("\n".join(_describe_step(store, step)))


@app.command(rich_help_panel="During the incident")
def guide(incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """Walk through the open steps one by one, asking before running each command; stops at a failure.

    Example: incident guide
    """
    from incident.checklist import blocker
    from incident.workspace import runbook

    who = store_mod.actor(by)
    with open_store(incident) as store:
        incident_id = store.incident().id
    asked: set[str] = set()
    deferred: list[str] = []
    while True:
        with store_mod.open_store(home(), incident_id) as store:
            steps = [s for s in store.steps() if s["state"] == "open" and s["id"] not in asked]
            if not steps:
                break
            step = steps[0]
            asked.add(step["id"])
            print()
            print("\n".join(_describe_step(store, step)))
            commands = [] if blocker(store, step["id"]) else runbook.all_commands(step, store.incident())
        for args in commands:
            for position, question in runbook.prompts(args):
                args[position] = typer.prompt(f"  {question}")
            if not typer.confirm(f"  Run `{runbook.show_command(args)}` now?", default=True):
                break
            completed = subprocess.run([sys.executable, "-m", "incident", *args[1:]],
                                       env={**os.environ, "INCIDENT_HOME": str(home())})
            if completed.returncode != 0:
                print(f"  The command failed (exit {completed.returncode}): the guide stops here. Fix what it "
                      f"says, then run `incident guide` again.")
                raise typer.Exit(completed.returncode)
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
                break
            else:
                deferred.append(step["id"])
    with store_mod.open_store(home(), incident_id) as store:
        still_open = [s["id"] for s in store.steps() if s["state"] == "open"]
    print()
    if still_open:
        print(f"{len(still_open)} step{'s are' if len(still_open) != 1 else ' is'} still open: {', '.join(still_open)}")
        if deferred:
            print(f"Left for later: {', '.join(deferred)}. `incident guide` again goes through them.")
    else:
        print("Every step is done or skipped. `incident status` shows where things stand.")


@app.command(rich_help_panel="During the incident")
def status(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """Where the incident stands: time since it started, each step, each bucket, the exports.

    Example: incident status --json
    """
    from incident import notices
    from incident.after import closing
    from incident.after.record import open_any
    from incident.amazon import marketplaces
    from incident.totals import summary_by_batch

    with open_any(home(), incident) as store:  # a closed incident is read too
        warn_skipped(store.skipped)
        inc = store.incident()
        line_counts, line_money, owed = summary_by_batch(store)  # a batch of orders at a time: any size
        steps = store.steps()
        exports = store.exports()
        told = notices.summary(store, owed=owed)
        personal = closing.personal_data(store)
    now = now_utc()
    step_records = [{"id": s["id"], "title": s["title"], "state": s["state"], "at": s["at"],
                     "by": s["by"], "note": s["note"], "required": bool(s["required"])} for s in steps]
    export_records = [{"at": e["at"], "path": e["path"], "format": e["format"], "rows": e["rows"],
                       "sha256": e["sha256"], "reason": e["reason"], "stale": e["stale"]} for e in exports]
    if as_json:
        print_json({"id": inc.id, "title": inc.title, "state": inc.state, "scope": inc.scope(),
                     "opened_at": store_mod.iso_utc(inc.opened_at), "opened_by": inc.opened_by,
                     "elapsed_seconds": int((now - inc.window_start).total_seconds()),
                     "counts": line_counts, "money": line_money,
                     "steps": step_records, "exports": export_records, "notices": told,
                     "personal_data": personal.as_dict()})
        return
    tz = marketplaces.BY_CODE[inc.marketplace].timezone if inc.marketplace else None
    print(f"{inc.id}: {shown(inc.title)}  [{inc.state}]")
    print(f"  {elapsed(now - inc.window_start)} since the bad price went live "
          f"({local_and_utc(inc.window_start, tz)}); opened {local_and_utc(inc.opened_at, tz)} by {shown(inc.opened_by)}")
    print(f"  SKUs {shown(', '.join(inc.skus))}; window to {local_and_utc(inc.window_end, tz)}"
          f"{f'; floor {inc.floor}' if inc.floor is not None else ''}; marketplace {inc.marketplace or 'not known yet'}")
    print(f"  {closing.due_text(personal, now)}")
    done = sum(1 for s in steps if s["state"] != "open")
    rows = []
    for s in steps:
        when = elapsed(parse_iso(s["at"]) - inc.window_start) if s["at"] else ""
        rows.append([s["id"], s["state"] + ("" if s["required"] else " (optional)"), when,
                     s["by"] or "", s["title"]])
    table(f"Checklist: {done} of {len(steps)} steps done or skipped",
           ["step", "state", "when", "who", "what"], rows)
    print_money(line_money)
    if exports:
        table("Exports", ["when", "format", "rows", "note", "path"],
               [[elapsed(parse_iso(e["at"]) - inc.window_start), e["format"], str(e["rows"]), e["stale"] or "", e["path"]]
                for e in exports])
    if told["owed"] or told["total"]:
        def when(at: str | None) -> str:
            return f"{elapsed(parse_iso(at) - inc.window_start)} ({local_and_utc(parse_iso(at), tz)})" if at else ""

        table(f"Buyer notices: {told['sent']} of {told['owed']} buyers owed a notice told",
               ["state", "how", "count", "first", "last", "by"],
               [["sent", ", ".join(f"{via} {n}" for via, n in told["by_via"].items()), str(told["sent"]),
                 when(told["first_sent_at"]), when(told["last_sent_at"]), ", ".join(told["sent_by"])]]
               + [[_NOTICE_STATES.get(state, state.replace("_", " ")), "", str(told[state]), "", "", ""]
                  for state in ("failed", "not_offered", "needs_spapi", "blocked", "rendered", "sending") if told[state]])


_NOTICE_STATES = {"not_offered": "not sendable by messaging: owed by e-mail or a card"}


log_app = typer.Typer(cls=Group, help="The incident's timeline: every change, when and by whom (UTC).")
app.add_typer(log_app, name="log", rich_help_panel="After it")


@log_app.callback(invoke_without_command=True)
def show_log(ctx: typer.Context, incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """The incident's timeline: every change, when and by whom (UTC).

    Example: incident log
    """
    if ctx.invoked_subcommand is not None:
        return
    from incident.after.record import open_any

    with open_any(home(), incident) as store:  # a closed incident is read too
        warn_skipped(store.skipped)
        events = store.events()
    if as_json:
        print_json(events)
        return
    table("Timeline (UTC)", ["#", "at", "who", "what", "details"],
           [[str(e["seq"]), e["at"], e["actor"], e["action"],
             json.dumps(e["details"], ensure_ascii=False, sort_keys=True)] for e in events])


@app.command(rich_help_panel="After it")
def purge(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Purge even though some buyers owed a notice are not told yet.")] = False,
    older_than: Annotated[int | None, typer.Option("--older-than", metavar="DAYS", help="Every incident whose data clock (last delivery) started more than DAYS ago.")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Erase buyer names, e-mail and postal addresses from the incident (keeps orders and the log).

    Example: incident purge --yes
    Example: incident purge --older-than 30 --yes
    """
    if older_than is not None:
        return _purge_older_than(older_than, yes, incident, by)
    from incident import notices
    from incident.after.record import open_any

    with open_any(home(), incident) as store:  # a closed incident is purged too
        warn_skipped(store.skipped)
        told = notices.summary(store)
        untold = max(told["owed"] - told["sent"] - told["not_offered"], 0)
        if untold and not force:
            raise StateError(f"{untold} of {told['owed']} buyers owed a notice are not told yet, and purging erases "
                             "their addresses: send the notices first (`incident notify send`), or purge with --force")
        if not yes and not typer.confirm("Erase the buyers' names and e-mail addresses?"):
            raise typer.Exit(1)
        count = store.purge_personal_data(store_mod.actor(by))
    print(f"erased buyer data from {count} order lines")


def _purge_older_than(days: int, yes: bool, incident: str | None, by: str | None) -> None:
    from incident.after import closing

    if incident or days < 0:
        raise UsageError("--older-than DAYS (0 or more) purges across all incidents: leave out --incident")
    if not yes and not typer.confirm(f"Erase the buyers' data of every incident older than {days} days?"):
        raise typer.Exit(1)
    for outcome in closing.purge_older_than(home(), days, store_mod.actor(by)):
        state = (f"erased buyer data from {outcome.erased} order lines" if outcome.erased is not None
                 else "no buyer data held" if not outcome.held else f"kept: not due until {outcome.due}")
        print(f"{outcome.incident_id}: {state}")
