"""Rehearsing: a practice incident against the simulator, and its scorecard."""

from typing import Annotated

import typer

from incident.cli import Group, JsonOpt, app, err, home, print_json, table

drill_app = typer.Typer(cls=Group)
app.add_typer(drill_app, name="drill", rich_help_panel="Before it")


@drill_app.callback(invoke_without_command=True)
def drill(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option("--scenario", help="wrong-product, coupon-after-cancelled-promo, deal-plus-coupon, or a YAML file.")] = "coupon-after-cancelled-promo",
    autopilot: Annotated[bool, typer.Option("--autopilot", help="Run the toolkit's own best response end to end on simulated time.")] = False,
    mode: Annotated[str | None, typer.Option("--mode", help="How the watch hears of orders: push (a local SQS queue; needs incident[drill]) or poll. Default: push where installed, else poll.")] = None,
    speed: Annotated[float, typer.Option("--speed", help="Team drill: run the clock this many times faster.")] = 1.0,
    port: Annotated[int, typer.Option("--port", help="Team drill: the simulator's port on 127.0.0.1.")] = 8123,
    minutes: Annotated[float | None, typer.Option("--minutes", help="Team drill: end after this many simulated minutes.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a practice incident against the simulator and print its scorecard.

    Example: incident drill --scenario coupon-after-cancelled-promo --autopilot --json
    Example: incident drill --scenario deal-plus-coupon --speed 10
    """
    if ctx.invoked_subcommand is not None:
        return
    from incident import drill as drill_mod
    from incident.drill import scorecard
    from incident.errors import UsageError

    if mode not in (None, "push", "poll"):
        raise UsageError(f"--mode '{mode}' is not push or poll")
    if speed <= 0:
        raise UsageError("--speed must be above 0")
    mode, note = drill_mod.choose_mode(mode)
    if note:
        err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if autopilot:
        card, log, path, previous = drill_mod.autopilot_drill(scenario, home(), mode)
        if not as_json:
            for line in log:
                err.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        announce = lambda lines: [err.print(line, markup=False, highlight=False, soft_wrap=True) for line in lines]  # noqa: E731
        card, path, previous = drill_mod.team_drill(scenario, home(), speed=speed, port=port, minutes=minutes,
                                                    push=mode == "push", announce=announce)
    if as_json:
        print_json(card)
        return
    print("\n".join(scorecard.lines(card, previous)))
    err.print(f"scorecard kept in {path}", markup=False)


@drill_app.command("history")
def drill_history(as_json: JsonOpt = False) -> None:
    """The scorecards of past drills, to compare them.

    Example: incident drill history
    """
    from incident import drill as drill_mod

    cards = drill_mod.history(home())
    if as_json:
        print_json(cards)
        return

    def secs(value):
        return "-" if value is None else f"{value:.0f} s"

    table("Drills", ["file", "scenario", "mode", "detect", "stop sales", "submit", "FBA request", "saved"],
          [[c["file"].rsplit("/", 1)[-1], c["scenario"], c["mode"] + (" autopilot" if c.get("autopilot") else ""),
            secs(c.get("time_to_detect_s")), secs(c.get("time_to_stop_sales_s")), secs(c.get("time_to_submit_s")),
            secs(c.get("time_to_fba_request_s")), f"{(c.get('saved_share') or 0):.0%}"] for c in cards])
