"""Ticking the checklist by hand: a step done, skipped with a reason, or reopened."""

from typing import Annotated

import typer

from incident.cli import ByOpt, Group, IncidentOpt, app, open_store
from incident.workspace import store as store_mod

step_app = typer.Typer(cls=Group, no_args_is_help=True, help="Tick, skip or reopen checklist steps.")
app.add_typer(step_app, name="step", rich_help_panel="During the incident")


StepArg = Annotated[str, typer.Argument(metavar="ID", help="Step id, as `incident status` shows it.")]


@step_app.command("done")
def step_done(
    step_id: StepArg,
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
    step_id: StepArg,
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
    step_id: StepArg,
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
