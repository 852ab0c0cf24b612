"""The plan file: what the Promotions API does not show (social-media promo codes, promotions not
created yet, planned sale prices), as CSV or YAML, one entry per promotion. The layout is in the
README ("Preflight"); samples/preflight/ has an example of each.

An entry with `promotion_id` instead says who set up one of Amazon's promotions and what it is
meant for, which Amazon does not record: preflight then refuses that person's approval of it and
checks the note against its products."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from incident.prevent.fields import Field, Source
from incident.prevent.model import (
    BASKET_BUILDING,
    COUPON,
    DEAL,
    PRICE_DISCOUNT,
    PROMO_CODE,
    SALE_PRICE,
    Benefit,
    Item,
    Promotion,
)

KIND_NAMES = {
    "coupon": COUPON, "promo_code": PROMO_CODE, "social_media_promo_code": PROMO_CODE,
    "basket_building": BASKET_BUILDING, "percentage_off": BASKET_BUILDING,
    "deal": DEAL, "lightning_deal": DEAL, "best_deal": DEAL, "7_day_deal": DEAL,
    "price_discount": PRICE_DISCOUNT, "prime_exclusive_discount": PRICE_DISCOUNT, "sale_price": SALE_PRICE,
}
FIELDS = ("id", "kind", "title", "discount", "price", "skus", "asins", "catalog", "excluded_skus", "excluded_asins",
          "start", "end", "cancelled_at", "claim_code", "stacking", "budget", "per_customer_uses", "set_up_by",
          "meant_for", "promotion_id")
_ALIASES = {"sku": "skus", "asin": "asins", "canceled_at": "cancelled_at", "cancelled": "cancelled_at",
            "per_customer": "per_customer_uses", "per_customer_limit": "per_customer_uses", "type": "kind",
            "name": "title", "meant_for_product": "meant_for", "owner": "set_up_by"}
_NOTE_FIELDS = {"promotion_id", "set_up_by", "meant_for"}
_CLAIM_CODES = {"group": "GROUP", "shared": "GROUP", "individual": "INDIVIDUAL", "single_use": "INDIVIDUAL",
                "unique": "INDIVIDUAL", "none": None}
_YES, _NO = {"yes", "true", "1", "y"}, {"no", "false", "0", "n", ""}


@dataclass
class Note:
    """Who set up one of Amazon's promotions and what it is meant for."""

    promotion_id: str
    set_up_by: str | None
    meant_for: str | None
    where: str


@dataclass
class Plan:
    promotions: list[Promotion] = field(default_factory=list)
    notes: dict[str, Note] = field(default_factory=dict)


def read(path: Path) -> Plan:
    source = Source(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        entries = _yaml_entries(source)
    elif path.suffix.lower() in (".csv", ".txt"):
        _, entries = source.csv_rows()
    else:
        raise source.fail(None, "is neither .csv nor .yaml", "Name the plan file plan.csv or plan.yaml")
    plan = Plan()
    seen: dict[str, str] = {}
    for entry in entries:
        entry = {_ALIASES.get(name, name): value for name, value in entry.items()}
        first = min(entry.values(), key=lambda f: (f.line, f.column)) if entry else Field(None, 1, 1)
        where = f"{path.name}:{first.line}"
        if entry.get("promotion_id") and entry["promotion_id"].text():
            note = _note(source, entry, where)
            plan.notes[note.promotion_id] = note
            continue
        promotion = _entry(source, entry, first, where)
        if promotion.id in seen:
            raise source.fail(entry.get("id", first), f"id '{promotion.id}' is used twice (also at {seen[promotion.id]})",
                              "Give each entry its own id", "id")
        seen[promotion.id] = where
        plan.promotions.append(promotion)
    return plan


def _yaml_entries(source: Source) -> list[dict[str, Field]]:
    document = source.yaml()
    if document is None:
        return []
    entries = document.value.get("promotions") if isinstance(document.value, dict) else document
    if isinstance(document.value, dict) and entries is None:
        raise source.fail(document, "has no `promotions:` list", "Start the file with `promotions:` and one `- kind: ...` entry per promotion")
    if entries is None or entries.value is None:
        return []
    if not isinstance(entries.value, list):
        raise source.fail(entries, "`promotions` is not a list", "Write each promotion as an entry starting with `- `")
    for entry in entries.value:
        if not isinstance(entry.value, dict):
            raise source.fail(entry, "this entry is not a set of `key: value` lines", "Write it like `- kind: coupon`")
    return [entry.value for entry in entries.value]


def _check_names(source: Source, entry: dict[str, Field], allowed) -> None:
    for name, value in entry.items():
        if name not in allowed and (value.value is not None):
            raise source.fail(value, f"'{name}' is not a field of a plan entry",
                              f"Use {', '.join(sorted(allowed))}", name)


def _note(source: Source, entry: dict[str, Field], where: str) -> Note:
    _check_names(source, entry, _NOTE_FIELDS)
    return Note(entry["promotion_id"].text(), _text(entry, "set_up_by"), _text(entry, "meant_for"), where)


def _text(entry: dict[str, Field], name: str) -> str | None:
    value = entry.get(name)
    return value.text() if value is not None else None


def _entry(source: Source, entry: dict[str, Field], first: Field, where: str) -> Promotion:
    _check_names(source, entry, set(FIELDS) - {"promotion_id"})
    kind_field = entry.get("kind")
    kind_text = (kind_field.text() or "").lower().replace("-", "_").replace(" ", "_") if kind_field else ""
    if kind_text not in KIND_NAMES and kind_text.upper() not in KIND_NAMES.values():
        raise source.fail(kind_field or first, f"kind '{kind_text}' is not known" if kind_text else "has no kind",
                          f"Use one of {', '.join(KIND_NAMES)}", "kind")
    kind = KIND_NAMES.get(kind_text) or kind_text.upper()
    benefit = _benefit(source, entry, kind, first)
    times = {name: source.time(entry[name], name) for name in ("start", "end", "cancelled_at") if _text(entry, name)}
    if "start" in times and "end" in times and times["end"] <= times["start"]:
        raise source.fail(entry["end"], "ends before it starts", "Check the dates (and their UTC offsets)", "end")
    catalog_text = (_text(entry, "catalog") or "").lower()
    if catalog_text not in _YES | _NO:
        raise source.fail(entry["catalog"], f"'{catalog_text}' is not yes or no", "Write yes or no", "catalog")
    items = [Item(sku=s) for s in _list(source, entry, "skus")] + [Item(asin=a) for a in _list(source, entry, "asins")]
    excluded = [Item(sku=s) for s in _list(source, entry, "excluded_skus")] + \
               [Item(asin=a) for a in _list(source, entry, "excluded_asins")]
    if not items and catalog_text not in _YES:
        raise source.fail(first, "names no product", "Give skus (or asins), or `catalog: yes` for every product", "skus")
    claim = _choice(source, entry, "claim_code", _CLAIM_CODES)
    stacking = _choice(source, entry, "stacking", {"allowed": "ALLOWED", "not_allowed": "NOT_ALLOWED"})
    per_customer = source.integer(entry["per_customer_uses"], "per_customer_uses") if _text(entry, "per_customer_uses") else None
    promotion_id = _text(entry, "id") or f"plan:{where}"
    return Promotion(
        id=promotion_id, source="plan", kind=kind, title=_text(entry, "title") or promotion_id,
        status="PLANNED", start=times.get("start"),
        end=times.get("end"), cancelled_at=times.get("cancelled_at"),
        benefit=benefit, items=items, catalog=catalog_text in _YES, excluded=excluded, stacking=stacking,
        claim_code=claim, budget=_text(entry, "budget"), per_customer_uses=per_customer,
        set_up_by=_text(entry, "set_up_by"), meant_for=_text(entry, "meant_for"), where=where)


def _benefit(source: Source, entry: dict[str, Field], kind: str, first: Field) -> Benefit:
    discount, price = entry.get("discount"), entry.get("price")
    given = [f for f in (discount, price) if f is not None and f.text()]
    if len(given) != 1:
        problem = "gives both a discount and a price" if given else "has no discount or price"
        raise source.fail(given[1] if given else first, problem,
                          "Give `discount` (like 20% or 15.00 off) or `price` (the fixed price), one of them",
                          "discount")
    if price is not None and price.text():
        if kind in (COUPON, PROMO_CODE, BASKET_BUILDING):
            raise source.fail(price, f"a {kind.lower().replace('_', ' ')} takes a discount, not a price",
                              "Write `discount: 20%` or `discount: 15.00`", "price")
        return Benefit(price=source.decimal(price, "price"))
    text = discount.text() or ""
    if text.endswith("%"):
        percent = source.decimal(Field(text[:-1], discount.line, discount.column), "discount")
        if not 0 < percent <= 100:
            raise source.fail(discount, f"{text} is not between 0% and 100%", "Write the percentage off, like 20%", "discount")
        return Benefit(percent=percent)
    if kind == SALE_PRICE:
        raise source.fail(discount, "a sale price takes a price, not a discount", "Write `price: 199.99`", "discount")
    return Benefit(amount=source.decimal(discount, "discount"))


def _list(source: Source, entry: dict[str, Field], name: str) -> list[str]:
    value = entry.get(name)
    return source.words(value) if value is not None else []


def _choice(source: Source, entry: dict[str, Field], name: str, choices: dict[str, str | None]) -> str | None:
    text = (_text(entry, name) or "").lower().replace("-", "_").replace(" ", "_")
    if not text:
        return None
    if text not in choices:
        raise source.fail(entry[name], f"'{text}' is not one of {', '.join(choices)}", f"Use one of {', '.join(choices)}", name)
    return choices[text]
