"""The watch's thresholds and where it reports: the [watch] table of incident.toml, each key
checked, with sensible defaults. A bad value is one line naming the file, the line and column of
the key, and the fix."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from incident import config
from incident.errors import InputFileError


@dataclass
class WatchSettings:
    window_minutes: float = 3.0  # the rate is measured over the last minutes
    factor: float = 10.0  # an alert needs a rate above factor x the SKU's baseline ...
    min_orders: int = 10  # ... and at least this many orders in the window
    min_baseline_per_hour: float = 3.0  # a SKU with little history counts as selling this much
    price_share: float = 0.5  # where no floor is known: a net unit price below this share of list price
    floors: dict[str, Decimal] = field(default_factory=dict)  # SKU -> lowest acceptable net unit price
    metrics_skus: list[str] = field(default_factory=list)  # SKUs also watched by getOrderMetrics each round
    quiet_minutes: float = 60.0  # an episode ends after this long without a signal: one incident per episode
    poll_minutes: float = 1.0  # polling mode: how often to ask for updated orders
    history_days: float = 7.0  # how far back the baseline is learnt
    price_checks_per_tick: int = 10  # getOrder calls per round at most (never waiting for a token)
    heartbeat_minutes: float = 5.0
    webhook: str | None = None  # JSON POST, Slack-compatible `text`
    email_to: str | None = None  # through [smtp]
    queue_url: str | None = None  # the SQS queue the notifications arrive in
    sqs_endpoint: str | None = None  # another SQS endpoint (a local one for drills and tests)
    region: str | None = None
    path: Path | None = None

    def floor(self, sku: str) -> Decimal | None:
        return self.floors.get(sku)


_ENV = {"webhook": "INCIDENT_WATCH_WEBHOOK", "email_to": "INCIDENT_WATCH_EMAIL_TO",
        "queue_url": "INCIDENT_WATCH_QUEUE_URL", "sqs_endpoint": "INCIDENT_SQS_ENDPOINT",
        "region": "AWS_DEFAULT_REGION"}
_POSITIVE = {"window_minutes", "factor", "min_orders", "min_baseline_per_hour", "quiet_minutes", "poll_minutes",
             "history_days", "heartbeat_minutes"}


def _where(path: Path, key: str) -> tuple[int | None, int | None]:
    """Line and column of `key` inside [watch] (tomllib keeps no positions)."""
    inside = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.startswith("[watch")
            continue
        match = re.match(rf"\s*({re.escape(key)})\s*=", line) if inside else None
        if match:
            return number, match.start(1) + 1
    return None, None


def load(explicit: Path | None = None) -> WatchSettings:
    table, path = config.section("watch", explicit)
    settings = WatchSettings(path=path)
    known = {f.name for f in fields(WatchSettings)} - {"path"}

    def bad(key: str, problem: str, fix: str) -> InputFileError:
        line, column = _where(path, key) if path else (None, None)
        return InputFileError(path or "incident.toml", f"[watch] {key}: {problem}", fix, line=line, column=column)

    for key, value in table.items():
        if key not in known:
            raise bad(key, "is not a setting", f"Use one of {', '.join(sorted(known))}")
        if key == "floors":
            if not isinstance(value, dict):
                raise bad(key, "must be a table of SKU = amount", 'Write it like floors = { "SKU-1" = 100 }')
            try:
                settings.floors = {str(sku): Decimal(str(amount)) for sku, amount in value.items()}
            except InvalidOperation:
                raise bad(key, "holds a value that is not an amount", 'Write amounts like 100 or 99.50') from None
            continue
        if key == "metrics_skus":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 15:
                raise bad(key, "must be a list of up to 15 SKUs", 'Write it like metrics_skus = ["SKU-1", "SKU-2"]')
            settings.metrics_skus = value
            continue
        default = getattr(settings, key)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(key, f"'{value}' is not a number", f"Write a number, like {default}")
            if key in _POSITIVE and value <= 0 or key == "price_share" and not 0 < value < 1 or value < 0:
                raise bad(key, f"{value} is out of range", "Use a positive number (price_share between 0 and 1)")
            value = type(default)(value)
        elif not isinstance(value, str):
            raise bad(key, f"'{value}' is not text", 'Write it in quotes, like "..."')
        setattr(settings, key, value)
    for key, variable in _ENV.items():
        if os.environ.get(variable):
            setattr(settings, key, os.environ[variable])
    return settings


def as_dict(settings: WatchSettings) -> dict[str, Any]:
    """The thresholds in force, for the event log (never a secret: the webhook's path is cut)."""
    result = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in ("path", "webhook")}
    result["floors"] = {k: str(v) for k, v in settings.floors.items()}
    result["webhook"] = settings.webhook.split("/")[2] if settings.webhook and "//" in settings.webhook else None
    return result
