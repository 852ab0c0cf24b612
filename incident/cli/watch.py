"""Watching for a stacking incident: watch (push or poll), watch setup, watch status."""

from pathlib import Path
from typing import Annotated

import typer

from incident.cli import Group, JsonOpt, app, err, home, print_json, table

watch_app = typer.Typer(cls=Group)
app.add_typer(watch_app, name="watch", rich_help_panel="Before it")


@watch_app.callback(invoke_without_command=True)
def watch(
    ctx: typer.Context,
    mode: Annotated[str, typer.Option("--mode", help="push (Amazon's notifications through SQS) or poll (no AWS needed).")] = "push",
    queue_url: Annotated[str | None, typer.Option("--queue-url", help="The SQS queue (default: queue_url under [watch]).")] = None,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit (for cron).")] = False,
    auto_open: Annotated[bool, typer.Option("--auto-open", help="On a confirmed bad price, open an incident for the SKU.")] = False,
    auto_stop_sales: Annotated[bool, typer.Option("--auto-stop-sales", help="And set its seller-fulfilled quantity to 0 at once (implies --auto-open; undo: incident stop-sales --undo).")] = False,
    baseline_report: Annotated[Path | None, typer.Option("--baseline-report", help="Learn the baseline from an All Orders report of ordinary days instead of the API.")] = None,
    relearn: Annotated[bool, typer.Option("--relearn", help="Learn the baseline again from the API.")] = False,
    marketplace: Annotated[str | None, typer.Option("--marketplace", help="Marketplace (default: [spapi] in incident.toml).")] = None,
) -> None:
    """Watch the orders and alert on a stacking incident: velocity first, then price.

    Example: incident watch --auto-open --auto-stop-sales
    Example: incident watch --mode poll --once
    """
    if ctx.invoked_subcommand is not None:
        return
    from incident import watch as watch_mod

    options = watch_mod.Options(mode=mode, auto_open=auto_open or auto_stop_sales, auto_stop_sales=auto_stop_sales,
                                marketplace=marketplace)
    say = lambda line: err.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    watcher = watch_mod.build(home(), options, queue_url=queue_url, baseline_report=baseline_report,
                              relearn=relearn, wait_seconds=0 if once else 20, terminal=say)
    say(f"watching ({mode}{', auto-open' if options.auto_open else ''}"
        f"{', auto-stop-sales' if auto_stop_sales else ''}); Ctrl-C to stop")
    try:
        raised = watcher.run(once=once)
    except KeyboardInterrupt:
        say("stopped")
        return
    print(f"{raised} alert(s)")


@watch_app.command("setup")
def watch_setup(
    sqs_arn: Annotated[str, typer.Option("--sqs-arn", help="The ARN of the SQS queue Amazon should deliver to (it must allow Amazon's account to send).")],
    marketplace: Annotated[str | None, typer.Option("--marketplace", help="Marketplace (default: [spapi] in incident.toml).")] = None,
) -> None:
    """Subscribe the SQS queue to Amazon's ORDER_CHANGE notifications (once; a rerun changes nothing).

    Example: incident watch setup --sqs-arn arn:aws:sqs:us-east-1:123456789012:incident-orders
    """
    from incident.amazon import spapi
    from incident.watch import setup

    done = setup.setup(spapi.Connection(spapi.load_settings(marketplace)), sqs_arn)
    print(f"destination {done.destination_id} ({'created' if done.created_destination else 'already there'}), "
          f"subscription {done.subscription_id} ({'created' if done.created_subscription else 'already there'})")
    print("Next: queue_url under [watch] in incident.toml (or --queue-url), then `incident watch`")


@watch_app.command("status")
def watch_status(as_json: JsonOpt = False) -> None:
    """What the watch has seen: episodes, alerts and how long each detection took.

    Example: incident watch status --json
    """
    from incident import watch as watch_mod

    data = watch_mod.status(home())
    if as_json:
        print_json(data)
        return
    print(f"{data['notifications']} notifications, {data['orders']} orders seen")
    table("Episodes", ["sku", "first bad order", "detected", "after", "incident", "sales stopped", "closed"],
          [[e["sku"], e["first_bad_at"], e["detected_at"], f"{e['detect_seconds']:.0f} s", e["incident_id"] or "-",
            e["stopped_at"] or "-", e["closed_at"] or "open"] for e in data["episodes"]])
