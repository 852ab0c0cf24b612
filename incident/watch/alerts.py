"""Telling people: one alert as a terminal line, a webhook (a JSON POST whose `text` Slack shows
as it is) and an e-mail through the [smtp] settings. A channel that fails is reported and
recorded, never fatal: the watch goes on. Alerts carry SKUs, counts, prices and times, never
buyer data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from incident.timeutil import iso_utc, parse_iso
from incident.watch.detect import PRICE, VELOCITY, Signal
from incident.watch.settings import WatchSettings


@dataclass
class Alert:
    sku: str
    kind: str  # velocity (unusual rate) or price (a bad price confirmed)
    at: datetime
    first_at: datetime
    signals: list[Signal]
    window_start: datetime | None = None  # the incident's window: from the last order known at a good price
    incident_id: str | None = None
    stopped: list[str] = field(default_factory=list)  # SKUs set to quantity 0
    notes: list[str] = field(default_factory=list)

    @property
    def detect_seconds(self) -> float:
        return max(0.0, (self.at - self.first_at).total_seconds())

    def text(self) -> str:
        parts = [f"incident watch: {'BAD PRICE' if self.kind == PRICE else 'UNUSUAL SALES'} on {self.sku}"]
        for signal in self.signals:
            if signal.kind == VELOCITY:
                parts.append(f"{signal.count:.0f} orders in the last minutes (alert at {signal.threshold:.0f}; "
                             f"normal {signal.baseline_per_hour:.1f}/h)")
            else:
                listed = f", list {signal.list_unit:.2f}" if signal.list_unit is not None else ""
                parts.append(f"sold at {signal.net_unit:.2f} {signal.currency or ''} a unit{listed}, "
                             f"under {signal.limit:.2f}".replace("  ", " "))
        parts.append(f"first order {iso_utc(self.first_at)}, detected after {self.detect_seconds:.0f} s")
        if self.incident_id:
            parts.append(f"incident {self.incident_id} opened (incident status)")
        if self.stopped:
            parts.append(f"seller-fulfilled quantity set to 0 for {', '.join(self.stopped)} (incident stop-sales --undo)")
        parts += self.notes
        if self.kind == VELOCITY:
            parts.append("price not confirmed yet: check the offer and the promotions now")
        return "; ".join(parts)

    def payload(self) -> dict[str, Any]:
        return {"text": self.text(), "sku": self.sku, "kind": self.kind, "at": iso_utc(self.at),
                "first_order_at": iso_utc(self.first_at), "detect_seconds": round(self.detect_seconds, 1),
                "incident": self.incident_id, "stopped": self.stopped}


def post_webhook(url: str, payload: dict[str, Any]) -> None:
    import httpx

    response = httpx.post(url, json=payload, timeout=10.0)
    response.raise_for_status()


def send_email(to: str, alert: Alert) -> None:
    from incident.notices import connect_smtp, smtp_settings

    sender = connect_smtp(smtp_settings())
    try:
        key = f"watch-{alert.sku}-{alert.kind}-{iso_utc(alert.at)}".replace(":", "")
        sender.send({"subject": alert.text().split(";")[0], "body": alert.text().replace("; ", "\n"),
                     "idempotency_key": key}, to)
    finally:
        sender.close()


def deliver(alert: Alert, settings: WatchSettings, terminal: Callable[[str], None]) -> dict[str, str]:
    """Every configured channel; {channel: 'ok' or what went wrong}."""
    terminal(f"ALERT {alert.text()}")
    outcome = {"terminal": "ok"}
    if settings.webhook:
        try:
            post_webhook(settings.webhook, alert.payload())
            outcome["webhook"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure of the hook must not stop the watch
            outcome["webhook"] = f"failed: {type(exc).__name__}"
    if settings.email_to:
        try:
            send_email(settings.email_to, alert)
            outcome["email"] = "ok"
        except Exception as exc:  # noqa: BLE001 - nor of the mail server
            outcome["email"] = f"failed: {type(exc).__name__}"
    for channel, result in outcome.items():
        if result != "ok":
            terminal(f"warning: the {channel} alert {result}")
    return outcome


def first_at(signals: list[Signal]) -> datetime:
    return min(parse_iso(s.first_at) for s in signals)
