"""The stacking rules: how the discounts live on one item at once combine into the worst price a
buyer could pay. The rules are data (rules/stacking.yaml, shipped with the package), each with its
source, so a seller can replace them with `--rules FILE` when Amazon is found to differ."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from incident.prevent.fields import Field, Source
from incident.prevent.model import KINDS, Benefit, Promotion
from incident.resources import data_dir

EFFECTS = ("base", "add", "alone")
AGAINST = ("original", "base")
RULES_ENV = "INCIDENT_STACKING_RULES"


@dataclass(frozen=True)
class Rule:
    id: str
    kinds: frozenset[str]
    stacking: str | None
    effect: str
    against: str
    source: str


@dataclass
class Rules:
    rules: list[Rule]
    cancelled_stays_live_hours: float
    path: Path

    def rule_for(self, promotion: Promotion) -> Rule:
        for rule in self.rules:
            if promotion.kind in rule.kinds and (rule.stacking is None or rule.stacking == promotion.stacking):
                return rule
        raise AssertionError(f"no rule for {promotion.kind}")  # load() refuses a file that leaves a kind out

    def worst_price(self, list_price: Decimal | None,
                    live: list[tuple[Rule, Benefit | None]]) -> Decimal | None:
        """The lowest price the live discounts allow together, or None when it depends on a list
        price nobody gave."""
        return price(list_price, [part(rule, benefit) for rule, benefit in live])


# A discount as the pricing needs it: (effect, of the original price?, percent, amount, fixed price).
# The sweep prices tens of thousands of stretches: plain tuples keep that quick.
Part = tuple[str, bool, Decimal | None, Decimal | None, Decimal | None]


def part(rule: Rule, benefit: Benefit | None) -> Part | None:
    if benefit is None:
        return None
    return (rule.effect, rule.against == "original", benefit.percent, benefit.amount, benefit.price)


def _taken(reference: Decimal | None, percent, amount, fixed) -> Decimal | None:
    """What one discount takes off `reference` (None when that needs a price nobody gave)."""
    if fixed is not None:
        return None if reference is None else max(_ZERO, reference - fixed)
    if percent is not None:
        if reference is None:
            return None
        off = reference * percent / 100
        return off if amount is None or off >= amount else amount
    return amount if amount is not None else _ZERO


def price(list_price: Decimal | None, parts: list[Part | None]) -> Decimal | None:
    base = list_price
    for entry in parts:
        if entry is not None and entry[0] == "base":
            _, _, percent, amount, fixed = entry
            if fixed is not None:
                candidate = fixed
            else:
                off = _taken(list_price, percent, amount, None)
                if off is None or list_price is None:
                    return None
                candidate = max(_ZERO, list_price - off)
            base = candidate if base is None or candidate < base else base
    if base is None:
        return None
    added, most = _ZERO, _ZERO
    for entry in parts:
        if entry is None or entry[0] == "base":
            continue
        effect, original, percent, amount, fixed = entry
        off = _taken(list_price if original else base, percent, amount, fixed)
        if off is None:
            return None
        if effect == "add":
            added += off
        elif off > most:
            most = off
    worst = base - (added if added > most else most)
    return worst if worst > 0 else _ZERO


_ZERO = Decimal(0)


def default_path() -> Path:
    return data_dir("rules") / "stacking.yaml"


def load(path: Path | None = None) -> Rules:
    chosen = path or (Path(os.environ[RULES_ENV]) if os.environ.get(RULES_ENV) else default_path())
    source = Source(chosen)
    document = source.yaml()
    top = document.value if document is not None and isinstance(document.value, dict) else None
    if top is None or not isinstance((top.get("rules") or Field(None, 1, 1)).value, list):
        raise source.fail(document, "has no `rules:` list", "Start from the bundled rules/stacking.yaml")
    rules = [_rule(source, entry) for entry in top["rules"].value]
    covered = {kind for rule in rules if rule.stacking is None for kind in rule.kinds}
    missing = [kind for kind in KINDS if kind not in covered]
    if missing:
        raise source.fail(top["rules"], f"no rule covers {', '.join(missing)}",
                          "Give every kind a rule without `stacking:` (see the bundled file)")
    hours = top.get("cancelled_stays_live_hours")
    lag = float(source.decimal(hours, "cancelled_stays_live_hours")) if hours is not None and hours.text() else 0.0
    return Rules(rules, lag, chosen)


def _rule(source: Source, entry: Field) -> Rule:
    if not isinstance(entry.value, dict):
        raise source.fail(entry, "a rule is not a set of `key: value` lines", "Write it like `- id: ...`")
    values = entry.value

    def text(name: str) -> str | None:
        return values[name].text() if name in values else None

    for name in ("id", "kinds", "effect", "source"):
        if name not in values or values[name].value is None:
            raise source.fail(entry, f"a rule has no `{name}`", "Each rule takes id, kinds, effect and source")
    kinds = [k.upper() for k in source.words(values["kinds"])]
    wrong = [k for k in kinds if k not in KINDS]
    if wrong:
        raise source.fail(values["kinds"], f"kind '{wrong[0]}' is not known", f"Use {', '.join(KINDS)}", "kinds")
    effect, against = (text("effect") or "").lower(), (text("against") or "original").lower()
    if effect not in EFFECTS:
        raise source.fail(values["effect"], f"effect '{effect}' is not known", f"Use {', '.join(EFFECTS)}", "effect")
    if against not in AGAINST:
        raise source.fail(values["against"], f"against '{against}' is not known", f"Use {', '.join(AGAINST)}", "against")
    stacking = (text("stacking") or "").upper() or None
    if stacking not in (None, "ALLOWED", "NOT_ALLOWED"):
        raise source.fail(values["stacking"], f"stacking '{stacking}' is not known", "Use ALLOWED or NOT_ALLOWED", "stacking")
    return Rule(text("id") or "", frozenset(kinds), stacking, effect, against, text("source") or "")
