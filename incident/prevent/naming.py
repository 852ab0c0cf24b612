"""Wrong product: which products a promotion's title or "meant for" note names, by SKU, ASIN or
the words of a product's name, so a promo code meant for one product but set up on another is
caught. A product counts as named by its words when at least two words of its name appear and no
product scores higher (rarer words count more: "case" says more than "headphones")."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from incident.prevent.model import Catalog

_TOKEN = re.compile(r"[A-Za-z0-9\u00C0-\uFFFF][A-Za-z0-9._\-\u00C0-\uFFFF]*")
_ASIN = re.compile(r"B0[A-Z0-9]{8}")
_FILLER = {"for", "the", "and", "with", "from", "off", "per", "set", "pack", "new", "our", "all", "code", "sale"}


def _words(text: str) -> set[str]:
    return {w for w in (t.lower().strip("._-") for t in _TOKEN.findall(text))
            if len(w) >= 3 and not w.isdigit() and w not in _FILLER}


class Names:
    """An index of the catalogue's SKUs, ASINs and name words."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.skus = {sku.upper(): sku for sku in catalog.products}
        self.asins: dict[str, set[str]] = defaultdict(set)
        self.words: dict[str, set[str]] = defaultdict(set)
        for sku, product in catalog.products.items():
            if product.asin:
                self.asins[product.asin.upper()].add(sku)
            for word in _words(product.name or ""):
                self.words[word].add(sku)

    def identifiers(self, text: str) -> list[str]:
        """SKUs and ASINs the text names, as the catalogue spells them."""
        found = []
        for token in _TOKEN.findall(text):
            upper = token.upper().strip("._-")
            if upper in self.skus:
                found.append(self.skus[upper])
            elif upper in self.asins or _ASIN.fullmatch(upper):
                found.append(upper)
        return list(dict.fromkeys(found))

    def best_by_name(self, text: str) -> set[str]:
        """The products the text names by their words (empty when none clearly is)."""
        scores: Counter[str] = Counter()
        matched: dict[str, int] = Counter()
        for word in _words(text):
            owners = self.words.get(word)
            if not owners:
                continue
            for sku in owners:
                scores[sku] += 1 / len(owners)
                matched[sku] += 1
        candidates = {sku: score for sku, score in scores.items() if matched[sku] >= 2}
        if not candidates:
            return set()
        top = max(candidates.values())
        return {sku for sku, score in candidates.items() if score >= top - 1e-9}

    def wrong(self, text: str, covered: set[str]) -> str | None:
        """Why `text` names a product outside `covered` (SKUs, or ASINs no SKU is known for)."""
        ids = self.identifiers(text)
        if ids:
            missing = [i for i in ids if i not in covered and not (self.asins.get(i, set()) & covered)]
            if missing:
                return f"names {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not among its products"
            return None
        best = self.best_by_name(text)
        if best and not best & covered:
            shown = sorted(best)[:3]
            names = "; ".join(f"{self.catalog.products[s].name} ({s})" for s in shown)
            return f"names {names}, not among its products"
        return None
