"""The apology notices to the buyers: render, check, send, list."""

import contextlib
import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from incident.cli import (
    ByOpt,
    Group,
    IncidentOpt,
    JsonOpt,
    app,
    connection,
    err,
    open_store,
    print_json,
    progress,
    table,
)
from incident.errors import EXIT_INTERRUPTED, EXIT_PARTIAL
from incident.workspace import store as store_mod

notify_app = typer.Typer(cls=Group, no_args_is_help=True, help="Apology notices to the affected buyers.")
app.add_typer(notify_app, name="notify", rich_help_panel="During the incident")


@notify_app.command("render")
def notify_render(
    templates: Annotated[Path | None, typer.Option("--templates", help="A folder of your own templates (notice/<locale>.txt.j2) over the bundled ones.")] = None,
    seller_name: Annotated[str, typer.Option("--seller-name", help="How the notice is signed.")] = "Customer Service",
    live: Annotated[bool, typer.Option("--live", help="Ask Amazon each buyer's language (Messaging GetAttributes, 1 order/s); else the marketplace's.")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Render one apology notice per affected order, in the buyer's language, and check it.

    Example: incident notify render --live --seller-name "Sonic Audio"
    """
    from incident import notices

    with open_store(incident) as store:
        api = connection(store) if live else None
        with progress("asking buyer languages", "order", "done") if live else contextlib.nullcontext() as update:
            result = notices.render_notices(store, store_mod.actor(by), notices.Templates(templates), seller_name,
                                             connection=api,
                                             progress=(lambda done, total: update(done, total, done)) if live else None)
        problems = _blocked(store)
    print(f"{result.rendered} notices rendered, {result.unchanged} unchanged, {result.already_sent} already sent")
    for bucket, count in result.waiting.items():
        step = "export or submit the cancellations" if bucket == "cancellable_mfn" else "make the FBA request (step fba-request)"
        print(f"waiting: {count} lines in {bucket} get a notice once you {step}")
    if result.unreachable:
        print(f"no buyer e-mail for {result.unreachable_total} orders (send through the API, or pull the "
              f"Unshipped Orders report): {', '.join(result.unreachable[:10])}{' ...' if result.unreachable_total > 10 else ''}")
    _print_blocked(problems)


BLOCKED_SHOWN = 20  # blocked notices whose reasons are printed; all are counted


def _blocked(store) -> tuple[list, int]:
    from incident.notices.render import blocked, blocked_count

    return blocked(store, BLOCKED_SHOWN), blocked_count(store)


def _print_blocked(problems) -> None:
    problems, count = problems
    for order_id, lines in problems:
        for line in lines:
            err.print(f"blocked: {order_id}: {line}", markup=False, soft_wrap=True)
    if count > len(problems):
        err.print(f"blocked: and {count - len(problems)} more notices (`incident notify list --json` shows each)",
                  markup=False, soft_wrap=True)
    if problems:
        err.print(f"{count} notices are blocked: fix the template, or `incident notify check --force "
                   "--reason TEXT`", markup=False, soft_wrap=True)


@notify_app.command("check")
def notify_check(
    force: Annotated[bool, typer.Option("--force", help="Let blocked notices be sent anyway (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the rules do not apply; logged.")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Check the rendered notices against Amazon's messaging rules; exit 6 when any is blocked.

    Example: incident notify check
    """
    from incident import notices

    with open_store(incident) as store:
        if force:
            count = notices.force(store, store_mod.actor(by), reason or "")
            print(f"{count} blocked notices released: {reason}")
            return
        problems = _blocked(store)
        total = store.conn.execute("SELECT count(*) FROM notices").fetchone()[0]
    print(f"{total - problems[1]} of {total} notices pass Amazon's messaging rules")
    _print_blocked(problems)
    if problems[1]:
        raise typer.Exit(EXIT_PARTIAL)


@notify_app.command("send")
def notify_send(
    via: Annotated[str, typer.Option("--via", help="spapi (Buyer-Seller Messaging), smtp, or outbox (.eml files + CSV).")],
    limit: Annotated[int | None, typer.Option("--limit", help="Send at most N notices this run.")] = None,
    test_to: Annotated[str | None, typer.Option("--test-to", help="Send one notice, as a buyer would get it, to this address only; nothing goes to buyers.")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Send every rendered notice exactly once; a rerun sends nothing new.

    Example: incident notify send --via smtp
    """
    from incident import notices

    with open_store(incident) as store:
        api = connection(store) if via == "spapi" else None
        resume = shlex.join(["incident", "notify", "send", "--via", via, "--incident", store.incident().id,
                             *(["--by", by] if by else [])])
        with progress("sending", "notice", "done") as update:
            result = notices.send_notices(store, store_mod.actor(by), via, connection=api, limit=limit,
                                           test_to=test_to, progress=lambda done, total: update(done, total, done),
                                           on_interrupt=_heard_ctrl_c)
    if result.unrendered:
        err.print(f"warning: {result.unrendered} orders are due a notice not rendered yet: run `incident notify "
                   "render`, then send again", markup=False, soft_wrap=True)
    if result.blocked:
        err.print(f"warning: {result.blocked} notices are blocked by Amazon's messaging rules and were not sent: "
                   "`incident notify check` says why", markup=False, soft_wrap=True)
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)
    if test_to:
        state = {"sent": "already sent to its buyer", "rendered": "not yet sent to its buyer",
                 "failed": "not yet sent to its buyer", "sending": "not yet sent to its buyer"}.get(
                     result.test_state, f"{result.test_state}, not sent to its buyer")
        print(f"test notice (order {result.test_order_id}, {state}) sent to {test_to}; nothing went to buyers")
        return
    print(f"sent {result.sent} of {result.total}, {result.failed} failed"
          + (f", {result.not_offered} not offered by Amazon" if result.not_offered else "")
          + (f", {result.refused} refused by Amazon (owed by e-mail or a card)" if result.refused else "")
          + (f", {result.other_language} held back for the buyer's language" if result.other_language else "")
          + (f", {result.elsewhere} being sent by another run" if result.elsewhere else "")
          + (f" ({result.resumed} resumed after an interruption)" if result.resumed else ""))
    if result.needs_spapi - result.withheld:
        print(f"{result.needs_spapi - result.withheld} buyers have no e-mail address (FBA orders): reach them with "
              "`incident notify send --via spapi`")
    if result.withheld:
        print(f"{result.withheld} seller-fulfilled buyers' e-mail addresses were withheld by Amazon (this app "
              "lacks the Direct-to-Consumer Delivery role): reach them with `incident notify send --via spapi`, "
              "or pull the Unshipped Orders report (`incident pull --report`)")
    for error in result.errors[:20]:
        err.print(f"failed: {error}", markup=False, soft_wrap=True)
    if len(result.errors) > 20:
        err.print(f"failed: and {len(result.errors) - 20} more (`incident notify list` shows each)", markup=False)
    if result.other_language:
        err.print(f"{result.other_language} buyers read another language (Amazon says so): their notices are held "
                  "back; `incident notify render` rewrites them in the buyer's language, then send again",
                  markup=False, soft_wrap=True)
    if result.refused_in_a_row:
        err.print(f"stopped: {result.stopped}; nothing was sent twice", markup=False, soft_wrap=True)
    elif result.stopped:
        err.print(f"stopped early, the server went away ({result.stopped}); nothing was sent twice: run the same "
                  "command again to go on", markup=False, soft_wrap=True)
    if result.interrupted_at_once:
        again = ("with the same Message-ID, so mail programs show it once" if via == "smtp" else
                 "(its buyer may get it twice)" if via == "spapi" else "(its file is written again)")
        err.print(f"stopped at once (Ctrl-C twice): the notice for order {result.in_flight or 'in flight'} may "
                  f"have gone out; the next run sends it again {again}", markup=False, soft_wrap=True)
    if result.interrupted:
        finished = "" if result.interrupted_at_once else " (the notice in flight was finished and recorded)"
        err.print(f"interrupted: {result.sent} notices sent, {result.remaining} remain{finished}; to go on: "
                  f"{resume}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _heard_ctrl_c() -> None:
    """Said the moment Ctrl-C is pressed, from the signal handler: straight to the file descriptor,
    as a buffered write there could land inside another one."""
    try:
        os.write(2, ("\n" if err.is_terminal else "").encode() + b"Ctrl-C: stopping once the notice being "
                 b"sent is recorded (Ctrl-C again stops at once)\n")
    except OSError:  # stderr closed: stopping matters, saying so does not
        pass


@notify_app.command("list")
def notify_list(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """Each notice: order, language, state, how and when it was sent.

    Example: incident notify list --json
    """
    from incident import notices

    with open_store(incident) as store:
        rows = notices.listing(store)
    if as_json:
        print_json(rows)
        return
    table(f"{len(rows)} notices", ["order", "language", "state", "via", "sent (UTC)", "tries", "note"],
           [[r["order_id"], r["locale"], r["state"], r["via"] or "", r["sent_at"] or "", str(r["attempts"]),
             r["error"] or (f"forced: {r['forced_reason']}" if r["forced_reason"] else "")
             or "; ".join(r["problems"])] for r in rows])

