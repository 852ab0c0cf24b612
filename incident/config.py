"""incident.toml: settings that are not secrets' sources of truth (marketplace, seller id,
endpoints, the mail server). Found at $INCIDENT_CONFIG, else ./incident.toml; the environment
overrides each key."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from incident.errors import InputFileError


def path(explicit: Path | None = None) -> Path:
    return explicit or (Path(os.environ["INCIDENT_CONFIG"]) if os.environ.get("INCIDENT_CONFIG") else Path("incident.toml"))


def section(name: str, explicit: Path | None = None) -> tuple[dict[str, Any], Path | None]:
    """The [name] table of the config file and the file's path, or ({}, None) without a file."""
    where = path(explicit)
    if not where.exists():
        return {}, None
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(where, f"is not valid TOML ({exc})", "Fix the file") from None
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise InputFileError(where, f"has '{name}' as a value, not a [{name}] table", f"Write it as [{name}]")
    return table, where
