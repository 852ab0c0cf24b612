"""The Seller Support texts: the FBA request, the account annotation, the account manager."""

from pathlib import Path
from typing import Annotated

import typer

from incident.cli import ByOpt, Group, IncidentOpt, app, err, open_store
from incident.workspace import store as store_mod

support_app = typer.Typer(cls=Group, no_args_is_help=True, help="Seller Support requests.")
app.add_typer(support_app, name="support", rich_help_panel="During the incident")


TemplatesOpt = Annotated[Path | None, typer.Option("--templates", help="A folder of your own templates over the bundled ones.")]
LanguageOpt = Annotated[str | None, typer.Option("--language", help="Write it in this locale (en-US, ja-JP, ...); default: the marketplace's.")]
SentOpt = Annotated[bool, typer.Option("--sent", help="Mark it sent (ticks the checklist step).")]
SignatureOpt = Annotated[str | None, typer.Option("--signature", metavar="TEXT", help="Name and company to sign with (default: [seller] in incident.toml).")]


def _support(kind: str, incident: str | None, by: str | None, sent: bool, templates: Path | None,
             language: str | None, signature: str | None) -> None:
    from incident import notices
    from incident.notices import support

    with open_store(incident) as store:
        paths = support.write_request(store, kind, notices.Templates(templates), language, signature)
        if kind == "annotation":
            told = notices.summary(store)
            if told["sent"] < told["owed"] or not told["owed"]:
                err.print(f"warning: {told['sent']} of {told['owed']} buyers told so far: Seller Support asks for "
                          "proof that every buyer was told (`incident notify send`)", markup=False, soft_wrap=True)
        print(paths[0].read_text(encoding="utf-8"))
        err.print(f"wrote {paths[0]} and {paths[1]} (attach the CSV)", markup=False, soft_wrap=True)
        if sent:
            ticked = support.mark_sent(store, kind, store_mod.actor(by))
            err.print(f"{', '.join(ticked) or support.STEPS[kind]}: done", markup=False)
        else:
            err.print(f"Once sent: incident support {kind} --sent", markup=False)


@support_app.command("fba-request")
def support_fba(sent: SentOpt = False, templates: TemplatesOpt = None, language: LanguageOpt = None,
                signature: SignatureOpt = None, incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """The request to Seller Support to cancel the FBA orders, with a CSV of their order ids.

    Example: incident support fba-request --sent
    """
    _support("fba-request", incident, by, sent, templates, language, signature)


@support_app.command("annotation")
def support_annotation(sent: SentOpt = False, templates: TemplatesOpt = None, language: LanguageOpt = None,
                       signature: SignatureOpt = None, incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """The request to annotate the account after the cancellations, with the evidence.

    Example: incident support annotation --sent
    """
    _support("annotation", incident, by, sent, templates, language, signature)


@support_app.command("account-manager")
def support_account_manager(sent: SentOpt = False, templates: TemplatesOpt = None, language: LanguageOpt = None,
                            signature: SignatureOpt = None, incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """A short urgent note for an account manager (or the first Seller Support contact).

    Example: incident support account-manager --sent
    """
    _support("account-manager", incident, by, sent, templates, language, signature)
