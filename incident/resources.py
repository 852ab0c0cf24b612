"""Where the runbooks, templates, samples and stacking rules are: inside the installed wheel
(incident/_data/...), or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"incident is installed without its {name}/ folder; reinstall it")
