"""Derives the copy of Amazon's SP-API models that the tests carry (tests/amazon/models) from
Amazon's published models (../shared/spapi-models beside the repository, or the folder given).

What is kept is what a checker needs: the operations (paths, methods, parameters, responses and
their headers), the schema structure (types, properties, required, enums, patterns, formats,
bounds, references) and Amazon's example answers (`x-amzn-api-sandbox`, `examples`, `example`),
verbatim. What is left out is Amazon's prose: descriptions, summaries, titles, the documentation
tables of enum values, contacts. Keys that name things (a property, a definition, a path, a status
code, a header) are never taken for keywords, so a property called `description` stays.

    python tests/amazon/derive.py [MODELS_DIR]     # writes tests/amazon/models
    python tests/amazon/derive.py --check          # exits 1 when the carried copy differs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CARRIED = HERE / "models"
PUBLISHED = HERE.parents[2] / "shared" / "spapi-models"

PROSE = {"description", "summary", "title", "x-docgen-enum-table-extension", "externalDocs", "contact"}
NAMES = {"properties", "patternProperties", "definitions", "paths", "responses", "headers", "parameters",
         "securityDefinitions"}  # a map from names to objects: its keys are never keywords
VERBATIM = {"example", "examples", "x-example", "x-amzn-api-sandbox", "enum", "default"}  # data, kept as is


def _structure(node: Any) -> Any:
    if isinstance(node, list):
        return [_structure(item) for item in node]
    if not isinstance(node, dict):
        return node
    kept = {}
    for key, value in node.items():
        if key in PROSE:
            continue
        if key in VERBATIM:
            kept[key] = value
        elif key in NAMES and isinstance(value, dict):
            kept[key] = {name: _structure(item) for name, item in value.items()}
        else:
            kept[key] = _structure(value)
    return kept


def derive(published: Path = PUBLISHED) -> dict[str, str]:
    """Each carried file's relative path and text, from the published models."""
    if not published.is_dir():
        raise SystemExit(f"{published}: not a folder of Amazon's SP-API models (shared/spapi-models)")
    files = sorted(published.glob("*.json")) + sorted(published.glob("notifications/*.json"))
    return {path.relative_to(published).as_posix():
            json.dumps(_structure(json.loads(path.read_text(encoding="utf-8"))), indent=1, ensure_ascii=False) + "\n"
            for path in files}


def carried() -> dict[str, str]:
    return {path.relative_to(CARRIED).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(CARRIED.rglob("*.json"))}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    folders = [a for a in argv if not a.startswith("--")]
    derived = derive(Path(folders[0]) if folders else PUBLISHED)
    if check:
        present = carried()
        stale = sorted(n for n in set(derived) | set(present) if derived.get(n) != present.get(n))
        for name in stale:
            print(f"tests/amazon/models/{name}: differs from what derive.py makes of the published models")
        return 1 if stale else 0
    for name, text in derived.items():
        target = CARRIED / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for name in set(carried()) - set(derived):
        (CARRIED / name).unlink()
    print(f"{len(derived)} model files written to {CARRIED}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
