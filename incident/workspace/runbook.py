"""Runbooks are checklists kept as data (runbooks/*.yaml). One is copied into an incident when it
opens; from then on the incident's own copy is ticked, skipped or reopened, each with an event."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from incident.errors import InputFileError, StateError, UsageError
from incident.resources import data_dir
from incident.timeutil import iso_utc, now_utc
from incident.workspace.store import Incident, Store

DEFAULT_RUNBOOK = "promo-stacking"
_STEP_KEYS = {"id", "title", "why", "who", "required", "manual", "command", "more", "ticks_on", "then"}
_PROMPT = re.compile(r"^<(.+)>$")


def runbook_path(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = data_dir("runbooks") / f"{name}.yaml"
    if not candidate.exists():
        known = ", ".join(p.stem for p in data_dir("runbooks").glob("*.yaml"))
        raise UsageError(f"no runbook '{name}': use one of {known}, or the path of a .yaml file")
    return candidate


def load(name: str = DEFAULT_RUNBOOK) -> list[dict[str, Any]]:
    """The runbook's steps, checked: every step has an id, title, why and who; ids are unique."""
    import yaml

    path = runbook_path(name)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputFileError(path, "is not valid YAML", "Fix the indentation or quoting there",
                             line=mark.line + 1 if mark else None,
                             column=mark.column + 1 if mark else None) from None
    steps = (document or {}).get("steps") if isinstance(document, dict) else None
    if not isinstance(steps, list) or not steps:
        raise InputFileError(path, "has no list of steps", "Add `steps:` with one entry per step")
    seen = set()
    for number, step in enumerate(steps, start=1):
        missing = [k for k in ("id", "title", "why", "who") if not isinstance(step, dict) or not step.get(k)]
        unknown = set(step) - _STEP_KEYS if isinstance(step, dict) else set()
        if missing or unknown:
            problem = (f"step {number} lacks {', '.join(missing)}" if missing
                       else f"step {number} has unknown key(s) {', '.join(sorted(unknown))}")
            raise InputFileError(path, problem, f"Each step takes {', '.join(sorted(_STEP_KEYS))}")
        if step["id"] in seen:
            raise InputFileError(path, f"step id '{step['id']}' is used twice", "Give each step its own id")
        seen.add(step["id"])
        for key in ("command", "more"):
            if key in step:
                step[key] = json.dumps(step[key])
    return steps


def command_args(step: Any, incident: Incident) -> list[str] | None:
    """The step's command with this incident's values; `<...>` words are left for the user."""
    return _filled(json.loads(step["command"]), incident) if step["command"] else None


def all_commands(step: Any, incident: Incident) -> list[list[str]]:
    """The step's command and the ones that follow it (render, then check, then send)."""
    first = command_args(step, incident)
    more = json.loads(step["more"]) if step["more"] else []
    return ([first] if first else []) + [_filled(words, incident) for words in more]


def _filled(words: list[str], incident: Incident) -> list[str]:
    values = {"incident": incident.id}
    args: list[str] = []
    for word in words:
        if word == "{sku_args}":
            for sku in incident.skus:
                args += ["--sku", sku]
        else:
            args.append(word.format(**values))
    return args


def prompts(args: list[str]) -> list[tuple[int, str]]:
    """(position, what to ask) for every `<...>` word."""
    return [(i, m.group(1)) for i, word in enumerate(args) if (m := _PROMPT.match(word))]


def show_command(args: list[str]) -> str:
    return " ".join(word if _PROMPT.match(word) else shlex.quote(word) for word in args)


def next_open(store: Store) -> Any | None:
    for step in store.steps():
        if step["state"] == "open":
            return step
    return None


def mark(store: Store, step_id: str, state: str, who: str, note: str | None = None) -> None:
    """open -> done | skipped, and back to open with a reason."""
    step = store.step(step_id)
    if state in ("done", "skipped") and step["state"] != "open":
        raise StateError(f"step '{step_id}' is already {step['state']} ({step['at']} by "
                         f"{step['by']}): `incident step reopen {step_id} --reason ...` first")
    if state == "open" and step["state"] == "open":
        raise StateError(f"step '{step_id}' is open already")
    if state in ("skipped", "open") and not (note or "").strip():
        raise UsageError(f"say why with --reason when you {'skip' if state == 'skipped' else 'reopen'} a step")
    action = {"done": "step_done", "skipped": "step_skipped", "open": "step_reopened"}[state]
    with store.change(who, action, {"step": step_id, "note": note}) as conn:
        conn.execute("UPDATE steps SET state = ?, at = ?, by = ?, note = ? WHERE id = ?",
                     (state, iso_utc(now_utc()), who, note, step_id))
