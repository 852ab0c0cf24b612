"""The prices file: a CSV with one row per SKU giving its floor (the lowest price it may ever sell
at) and unit cost, and optionally its list price, ASIN and name for offline runs (live runs read
the offer price from the listing). A floor given here wins over the listing's minimum price."""

from __future__ import annotations

from pathlib import Path

from incident.prevent.fields import Source
from incident.prevent.model import Catalog

COLUMNS = ("sku", "floor", "unit_cost", "list_price", "asin", "name")
_ALIASES = {"cost": "unit_cost", "price": "list_price", "offer_price": "list_price", "seller_sku": "sku"}


def read(path: Path, catalog: Catalog) -> int:
    """Adds the file's products to `catalog`. Returns how many rows it had."""
    source = Source(path)
    header, rows = source.csv_rows()
    header = [_ALIASES.get(name, name) for name in header]
    if "sku" not in header:
        raise source.fail(None, "has no `sku` column", f"Start it with a header line: {','.join(COLUMNS[:3])}")
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise source.fail(None, f"has an unknown column '{unknown[0]}'", f"Use the columns {', '.join(COLUMNS)}")
    seen: dict[str, int] = {}
    for row in rows:
        row = {_ALIASES.get(name, name): value for name, value in row.items()}
        sku = row["sku"].text()
        if not sku:
            raise source.fail(row["sku"], "has no SKU", "Fill in the SKU or remove the line", "sku")
        if sku in seen:
            raise source.fail(row["sku"], f"SKU {sku} is listed twice (also on line {seen[sku]})",
                              "Keep one line per SKU", "sku")
        seen[sku] = row["sku"].line
        product = catalog.add(sku, row["asin"].text() if "asin" in row else None)
        if "name" in row and row["name"].text():
            product.name = row["name"].text()
        for name in ("floor", "unit_cost", "list_price"):
            if name in row and row[name].text():
                setattr(product, name, source.decimal(row[name], name))
        if product.floor is not None:
            product.floor_source = "prices file"
    return len(rows)
