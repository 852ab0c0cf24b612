"""Trying it without Amazon, and checking the set-up: the simulator, the demo, doctor."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from incident import config as config_file
from incident.cli import Group, app, home
from incident.cli.incidents import status
from incident.timeutil import now_utc
from incident.workspace import store as store_mod

sandbox_app = typer.Typer(cls=Group, no_args_is_help=True, help="The local SP-API simulator.")
app.add_typer(sandbox_app, name="sandbox", rich_help_panel="Set-up")


@app.command(rich_help_panel="Set-up")
def doctor(
    marketplace: Annotated[str | None, typer.Option("--marketplace", help="Marketplace to check (default: config).")] = None,
    smtp: Annotated[bool, typer.Option("--smtp", help="Check the mail server for `notify send --via smtp` instead.")] = False,
) -> None:
    """Check SP-API credentials, configuration and the connection, without printing any secret.

    Example: incident doctor --marketplace US
    Example: incident doctor --smtp
    """
    from datetime import timedelta

    from incident.amazon import spapi

    if smtp:
        from incident import notices

        settings = notices.smtp_settings()
        print(f"SMTP {settings.host}:{settings.port} ({settings.tls}), from {settings.sender}, "
              f"login {settings.user or 'none'}, password {'set' if settings.password else 'not set'}")
        notices.connect_smtp(settings).close()
        print("ok  the server answered" + (" and accepted the login" if settings.user else ""))
        return

    for source, present in spapi.credential_sources().items():
        print(f"{'ok ' if present else '-- '} {source}: {'set' if present else 'not set'}")
    settings = spapi.load_settings(marketplace)
    print(f"marketplace {settings.marketplace.code} ({settings.marketplace.marketplace_id}), "
          f"endpoint {settings.endpoint}, login {settings.lwa_endpoint}, seller id "
          f"{'set' if settings.seller_id else 'not set (needed by stop-sales)'}")
    where = config_file.path().absolute()
    print(f"config {where} ({'read' if where.exists() else 'not found: $INCIDENT_CONFIG or ./incident.toml is read'}); "
          f"incidents in {home()}")
    from sp_api.api import Orders

    api = spapi.Connection(settings)
    client = api.client(Orders, version="2026-01-01")
    since = now_utc() - timedelta(hours=1)
    api.call("searchOrders", client.search_orders, createdAfter=store_mod.iso_utc(since), maxResultsPerPage=1)
    print("ok  login and searchOrders answered")

@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8123,
    sample: Annotated[str, typer.Option("--sample", help="Seed from this bundled sample: us or jp.")] = "us",
    drill: Annotated[bool, typer.Option("--drill", help="A live drill instead: a stacked discount goes live in 2 minutes and orders keep arriving.")] = False,
    orders: Annotated[int, typer.Option("--orders", help="Drill: orders at the bad price.")] = 400,
    minutes: Annotated[float, typer.Option("--minutes", help="Drill: how long the bad price stays live.")] = 15.0,
) -> None:
    """Serve a simulated seller account on 127.0.0.1 until Ctrl-C.

    Example: incident sandbox serve --drill
    """
    import time

    from incident import sandbox

    if drill:
        simulator, scope = sandbox.drill(orders=orders, lasts=minutes)
        label = f"drill: {orders} orders for {scope['sku']} from {scope['start']} to {scope['end']}"
    else:
        simulator, scope, label = sandbox.seeded(sample), None, f"{sample} sample"
    url = simulator.start(port=port)
    print(f"SP-API simulator on {url} ({label}, seller {simulator.seller_id}). Use it with:")
    market = simulator.marketplace.code if simulator.marketplace else "US"
    variables = [f"{name}={value}" for name, value in
                 {**simulator.environment(), "INCIDENT_MARKETPLACE": market}.items()]
    print(f"  export {' '.join(variables[:3])}")
    print(f"  export {' '.join(variables[3:])}")
    print("  incident doctor   # checks them")
    if scope:
        print("When you notice the bad price, open the incident and pull as it unfolds:")
        print(f"  incident open --sku {scope['sku']} --start {scope['start']} --end {scope['end']} "
              f"--marketplace {scope['marketplace']}")
        print("  incident stop-sales && incident pull --live --repeat 2")
    sys.stdout.flush()  # the banner must reach a log or a pipe now, not when the server stops
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        simulator.stop()

@app.command(rich_help_panel="Set-up")
def demo(
    home: Annotated[Path | None, typer.Option("--home", help="Where to keep the demo incidents (default: a new temporary folder).")] = None,
    live: Annotated[bool, typer.Option("--live", help="Run against the local SP-API simulator: serve, pull, stop-sales, export, submit, status.")] = False,
) -> None:
    """Run the whole path on the bundled samples: open, pull, export, support, notices, status (offline).

    Example: incident demo
    Example: incident demo --live
    """
    from incident.sandbox import demo as demo_mod

    for incident_home, incident_id, notes in (demo_mod.run_live(home) if live else demo_mod.run(home)):
        print("\n".join(notes))
        os.environ["INCIDENT_HOME"] = str(incident_home)
        status(incident=incident_id, as_json=False)
        print()
    print(f"Demo incidents are in {incident_home}. Try: INCIDENT_HOME={incident_home} incident next")

