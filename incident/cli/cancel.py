"""Stopping and cancelling: the upload file, the cancellation feed, stop-sales."""

from typing import Annotated

import typer

from incident.cli import ByOpt, Group, IncidentOpt, app, connection, decisions, err, money_text, open_store
from incident.errors import EXIT_PARTIAL, StateError
from incident.workspace import store as store_mod

cancel_app = typer.Typer(cls=Group, no_args_is_help=True, help="Cancel the affected orders.")
app.add_typer(cancel_app, name="cancel", rich_help_panel="During the incident")


@cancel_app.command("export")
def cancel_export(
    fmt: Annotated[str, typer.Option("--format", help="txt (to upload), xlsx, or both.")] = "txt",
    reason: Annotated[str, typer.Option("--reason", help="Cancellation reason code. PricingError by default; GeneralAdjustment if Amazon rejects it.")] = "PricingError",
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Write Seller Central's Order Cancellation upload file for every cancellable item.

    Example: incident cancel export --format both
    """
    from incident import cancellation
    from incident.scope import BUCKET_TITLES

    with open_store(incident) as store:
        result = cancellation.export(store, store_mod.actor(by), fmt, reason)
    orders = len({row[0] for row in result.rows})
    print(f"{len(result.rows)} items in {orders} orders go in the file (reason {result.rows[0][1]})")
    for name, lines in result.left_out.items():
        if lines:
            print(f"left out: {lines} lines in {name} ({BUCKET_TITLES[name]})")
    for path, digest in result.files:
        print(f"wrote {path}  sha256 {digest[:16]}")
    print("Upload the .txt in Seller Central: Orders > Upload order related files > Order Cancellation")


@cancel_app.command("submit")
def cancel_submit(
    reason: Annotated[str, typer.Option("--reason", help="Cancellation reason code (PricingError; GeneralAdjustment if refused).")] = "PricingError",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent, send nothing.")] = False,
    feed: Annotated[str | None, typer.Option("--feed", help="The feed id Amazon lists for an unfinished submission, when the run could not tell which is ours.")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Submit every cancellable item as one cancellation feed, exactly once, and record Amazon's answer.

    Example: incident cancel submit --yes
    """
    from incident.amazon import feeds
    from incident.scope import CANCELLABLE, money

    with open_store(incident) as store:
        pending = feeds.open_submission(store)
        if pending is None:
            rows = feeds.rows_to_submit(store, reason)
            if not rows:
                raise StateError("nothing to submit: no cancellable item that is not already in a feed")
            chosen = {(r[0], r[2]) for r in rows}
            chosen_lines = [d for d in decisions(store) if (d.line.order_id, d.line.order_item_id) in chosen]
            totals = money(chosen_lines)[CANCELLABLE]["totals"]
            value = ", ".join(f"{money_text(t['price_paid'], c)} paid ({money_text(t['list_price'], c)} list)"
                              for c, t in totals.items())
            print(f"{len(rows)} items in {len({r[0] for r in rows})} orders, {value}, reason {rows[0][1]}")
            for exported in store.exports():
                err.print(f"warning: an upload file was written {exported['at']} ({exported['path']}); "
                           "if it was uploaded in Seller Central, those orders are cancelled already", markup=False)
            if dry_run:
                print("dry run: nothing sent")
                return
            if not yes and not typer.confirm("Send this cancellation feed to Amazon now?"):
                raise typer.Exit(1)
        else:
            print(f"continuing submission {pending['id']} ({pending['rows']} items, state {pending['state']})")
            if dry_run:
                return
        result = feeds.submit(store, connection(store), store_mod.actor(by), reason, feed_id=feed)
    for note in result.notes:
        print(f"note: {note}")
    print(f"feed {result.feed_id}: {result.accepted} of {result.rows} items cancelled, {len(result.rejected)} refused")
    for item in result.rejected:
        print(f"refused: {item['order_id']} item {item['order_item_id']}: {item['error_message']}")
    if result.reason_rejected:
        print("Amazon refused the reason code: run `incident cancel submit --reason GeneralAdjustment`")
    if result.rejected:
        raise typer.Exit(EXIT_PARTIAL)


@app.command("stop-sales", rich_help_panel="During the incident")
def stop_sales(
    undo: Annotated[bool, typer.Option("--undo", help="Put back the quantities saved when sales were stopped.")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Set the scope's seller-fulfilled SKUs to quantity 0 (and say what must be done by hand).

    Example: incident stop-sales
    """
    from incident.amazon import listings

    with open_store(incident) as store:
        result = listings.stop_sales(store, connection(store), store_mod.actor(by), undo)
    words = {"stopped": "stopped", "restored": "restored", "already_stopped": "already stopped by an earlier run",
             "not_applied": "NOT confirmed", "failed": "NOT changed", "fba": "no seller-fulfilled offer"}
    for outcome in result.skus:
        change = f"quantity {outcome.before} -> {outcome.after}" if outcome.before is not None else ""
        line = ": ".join(p for p in (outcome.sku, words[outcome.state], change, outcome.message) if p)
        if outcome in result.failed:
            err.print(line, markup=False)
        else:
            print(line)
    if not result.changed:
        print("no seller-fulfilled quantity changed")
    if not undo:
        print("Still to do by hand in Seller Central, then `incident step done stop-bleeding`:")
        for step in listings.MANUAL_STEPS:
            print(f"  - {step}")
        if result.fba_skus:
            print(f"  FBA SKUs: {', '.join(result.fba_skus)}")
        for outcome in result.failed:
            print(f"  - {outcome.sku}: set the quantity to 0 in Inventory > Manage All Inventory")
    if result.failed:
        raise typer.Exit(EXIT_PARTIAL)
