"""After the incident: the report, the cancellation-rate what-if, closing, costs, apology cards,
and `log verify`."""

from pathlib import Path
from typing import Annotated

import typer

from incident.cli import ByOpt, Group, IncidentOpt, JsonOpt, app, err, home, print_json, table
from incident.cli.incidents import log_app
from incident.errors import IncidentError
from incident.workspace import store as store_mod

cost_app = typer.Typer(cls=Group, no_args_is_help=True, help="Costs and fees of the incident, for the report.")
app.add_typer(cost_app, name="cost", rich_help_panel="After it")


def _open(incident: str | None) -> store_mod.Store:
    """Open or closed: a closed incident can still be reported, checked and purged."""
    from incident.after.record import open_any

    return open_any(home(), incident)


@app.command(rich_help_panel="After it")
def report(
    fmt: Annotated[str, typer.Option("--format", help="html (one self-contained file) or md.")] = "html",
    output: Annotated[Path | None, typer.Option("--output", help="Write here instead of exports/report-ID.FORMAT.")] = None,
    incident: IncidentOpt = None,
) -> None:
    """Write the post-incident report from the event log and the orders.

    Example: incident report --format html
    """
    from incident.after import report as report_mod

    with _open(incident) as store:
        path = report_mod.write(store, fmt, output)
    print(path)


@app.command(rich_help_panel="After it")
def health(
    report_file: Annotated[Path | None, typer.Option("--report", help="An All Orders report of the last 7 days.")] = None,
    orders: Annotated[int | None, typer.Option("--orders", help="Seller-fulfilled orders in the last 7 days, without this incident.")] = None,
    cancellations: Annotated[int | None, typer.Option("--cancellations", help="Seller cancellations among them.")] = None,
    incident: IncidentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The cancellation-rate what-if: this incident's cancellations against Amazon's 2.5%.

    Example: incident health --orders 1200 --cancellations 3
    """
    from incident.after import health as health_mod

    with _open(incident) as store:
        result = health_mod.what_if(store, report=report_file, orders=orders, cancellations=cancellations)
    if as_json:
        print_json(result.as_dict())
        return
    print(f"Cancellation rate, 7 days: {result.cancellations} of {result.orders} seller-fulfilled orders = "
          f"{result.rate:.2%} (limit {result.limit:.1%}): {'OVER the limit' if result.over else 'within the limit'}")
    print(f"  from {result.source}")
    print(f"  this incident adds {result.incident_cancellations} seller cancellations of {result.incident_orders} "
          f"seller-fulfilled orders")
    table("Day by day (the incident's orders leave the window 7 days after they were placed)",
          ["day", "orders", "cancellations", "rate", "leaving"],
          [[d.date, str(d.orders), str(d.cancellations), f"{d.rate:.2%}", str(d.leaving or "")] for d in result.days])
    if result.over:
        when = result.back_under or "not within the next 8 days"
        print(f"Back under the limit on {when}, if business goes on as before.")
        print(f"An option, not advice: {result.dilution_orders} more ordinary orders, none cancelled, inside the "
              "7 days would bring it to the limit (Seller Support's \"dilute it\" idea).")
    for sku, count in result.offers_at_risk.items():
        print(f"Offer at risk: {sku} has {count} seller cancellations; two within 30 days can deactivate an offer.")
    print("Rules used:")
    for rule in result.rules:
        print(f"  - {rule}")


@app.command("close", rich_help_panel="After it")
def close_incident(incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """Close the incident once every required step is done or skipped with a reason.

    Example: incident close
    """
    from incident.after import closing

    with _open(incident) as store:
        details = closing.close(store, store_mod.actor(by))
        incident_id = store.incident().id
        data = closing.personal_data(store)
    print(f"{incident_id}: closed")
    for step, reason in details["skipped"].items():
        print(f"  skipped {step}: {reason}")
    print(f"  {closing.due_text(data)}")
    print(f"Report: incident report --incident {incident_id}")


@cost_app.command("add")
def cost_add(
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="The amount, like 21800 or 70.50.")],
    what: Annotated[str, typer.Option("--what", help="What it was for (e.g. a paid support service).")],
    currency: Annotated[str | None, typer.Option("--currency", help="Currency code (default: the marketplace's).")] = None,
    fee: Annotated[bool, typer.Option("--fee", help="A promotion fee Amazon still charges (coupon, deal).")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Enter a cost of the incident (or, with --fee, a promotion fee) for the report.

    Example: incident cost add 21800 --currency CNY --what "account manager service"
    """
    from incident.after import costs

    with _open(incident) as store:
        details = costs.add_cost(store, store_mod.actor(by), amount, what, currency, fee)
    print(f"added {'fee' if fee else 'cost'}: {details['amount']} {details['currency']} ({details['what']})")


@cost_app.command("unit")
def cost_unit(
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="What one unit costs you.")],
    sku: Annotated[str | None, typer.Option("--sku", help="Which SKU (needed when the incident has several).")] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="Currency code (default: the marketplace's).")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Enter a SKU's unit cost, so the report counts the goods lost on shipped orders.

    Example: incident cost unit 82.40 --sku SONIC-HP-BLK
    """
    from incident.after import costs

    with _open(incident) as store:
        details = costs.set_unit_cost(store, store_mod.actor(by), amount, sku, currency)
    print(f"unit cost of {details['sku']}: {details['amount']} {details['currency']}")


@cost_app.command("fees")
def cost_fees(
    promotion: Annotated[Path, typer.Option("--promotion", help="A Promotions API answer (getPromotion JSON) with its feeSnapshot.")],
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Read the coupon or deal fees from a saved Promotions API answer.

    Example: incident cost fees --promotion coupon-40.json
    """
    from incident.after import costs

    with _open(incident) as store:
        fees = costs.add_fees_from(store, store_mod.actor(by), promotion)
    for fee in fees:
        print(f"fee of {fee['promotion_id']} ({fee['type'] or 'promotion'}): upfront {fee['upfront'] or '-'} "
              f"{(fee['frequency'] or '').lower()}, sales share {fee['sales_share'] or '-'}, cap {fee['cap'] or '-'} "
              f"{fee['currency']}")


@app.command(rich_help_panel="After it")
def cards(
    output: Annotated[Path | None, typer.Option("--output", help="Write here instead of exports/apology-cards-ID.pdf.")] = None,
    seller_name: Annotated[str | None, typer.Option("--seller-name", help="How the cards are signed (default: who opened the incident).")] = None,
    font: Annotated[Path | None, typer.Option("--font", help="A TrueType font to embed for Japanese cards (default: the printer's Japanese font).")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Write a print-ready PDF of apology cards, one per cancelled seller-fulfilled buyer, plus an address sheet.

    Example: incident cards --seller-name "Sonic Audio"
    """
    from incident.after import cards as cards_mod

    with _open(incident) as store:
        result = cards_mod.write(store, store_mod.actor(by), output, seller_name, font)
    print(result.path)
    err.print(f"{result.cards} cards ({', '.join(f'{n} {lang}' for lang, n in result.languages.items())}) and "
              f"{result.sheets} address sheet page(s); {result.without_address} buyers without an address left out. "
              "The file holds buyer addresses: `incident purge` erases it with the rest.", markup=False, soft_wrap=True)


@log_app.command("verify")
def log_verify(
    head: Annotated[str | None, typer.Option("--head", help="A head hash quoted earlier (report, annotation): check it is still in the chain.")] = None,
    incident: IncidentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the event log's hash chain: name the first altered, removed or inserted event.

    Example: incident log verify --head 3f2a9c...
    """
    from incident.workspace import chain

    with _open(incident) as store:
        verdict = chain.verify(store.conn, head)
    if as_json:
        print_json({"ok": verdict.ok, "events": verdict.events, "chained": verdict.chained,
                    "first_chained": verdict.first_chained, "head": verdict.head, "problem": verdict.problem,
                    "seq": verdict.seq, "kind": verdict.kind, "head_found": verdict.head_found,
                    "note": verdict.unchained_note})
        if not verdict.ok:
            raise typer.Exit(1)
        return
    if verdict.unchained_note:
        print(f"note: {verdict.unchained_note}")
    if not verdict.ok:
        raise IncidentError(f"the event log was tampered with: {verdict.problem}")
    print(f"log verified: {verdict.chained} of {verdict.events} events chained, none altered, removed or inserted")
    if head:
        print(f"the quoted head {head.strip()} is in the chain")
    print(f"head {verdict.head}")
