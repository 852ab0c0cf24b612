"""Times: parse what people and Amazon write (ISO-8601 with any offset, or Z), keep UTC, show
UTC next to the marketplace's local time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from incident.errors import UsageError


def parse_iso(text: str) -> datetime:
    """Aware UTC datetime, or ValueError. A naive time is refused: its zone would be a guess."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if value.tzinfo is None:
        raise ValueError("no UTC offset")
    return value.astimezone(UTC)


def parse_option(text: str, option: str) -> datetime:
    """An option's time: ISO-8601 with an offset, or `now`."""
    if text.strip().lower() == "now":
        return now_utc().replace(microsecond=0)
    try:
        return parse_iso(text)
    except ValueError:
        raise UsageError(f"{option} '{text}' is not an ISO-8601 time with an offset: "
                         "write it like 2026-11-20T14:05:00-08:00, 2026-11-20T22:05:00Z or now") from None


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def local_and_utc(value: datetime, tz_name: str | None) -> str:
    """'2026-11-20 14:05 PST (22:05 UTC)'; just UTC when the marketplace is not known yet."""
    utc = value.astimezone(UTC)
    if not tz_name:
        return utc.strftime("%Y-%m-%d %H:%M UTC")
    local = utc.astimezone(ZoneInfo(tz_name))
    if local.date() == utc.date():
        return f"{local:%Y-%m-%d %H:%M %Z} ({utc:%H:%M} UTC)"
    return f"{local:%Y-%m-%d %H:%M %Z} ({utc:%Y-%m-%d %H:%M} UTC)"


def elapsed(delta: timedelta) -> str:
    """'T+1h05m', 'T+3m', 'T+2d4h'."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"T+{days}d{hours}h"
    if hours:
        return f"T+{hours}h{minutes:02d}m"
    return f"T+{minutes}m"
