"""The simulator's Listings Items API 2021-08-01: getListingsItem with the includedData asked for
(summaries by default), and patchListingsItem answering as Amazon's model does: HTTP 200 with
`status` ACCEPTED, or INVALID with `issues` (a SKU the seller does not have, or one the test
marked refused). SKUs arrive percent-encoded in the path."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING
from urllib.parse import unquote

from incident.sandbox.wire import error, iso

if TYPE_CHECKING:
    from incident.sandbox.server import Simulator

INCLUDED = {"summaries", "attributes", "issues", "offers", "fulfillmentAvailability", "procurement",
            "relationships", "productTypes"}
OPS = {"add", "replace", "merge", "delete"}


def product_type(sku: str) -> str:
    return "HEADPHONES" if "HP" in sku else "ELECTRONIC_CABLE" if "CABLE" in sku else "PRODUCT"


def get_listing(sim: Simulator, match, query, body, fault):
    sku = unquote(match.group(2))
    if sku not in sim.listings:
        return 404, error("NOT_FOUND", f"SKU '{sku}' not found in marketplace {sim.marketplace.marketplace_id}")
    wanted = query.get("includedData") or "summaries"
    included = set(wanted.split(",") if isinstance(wanted, str) else wanted)
    if included - INCLUDED:
        return 400, error("InvalidInput", f"Invalid includedData: {', '.join(sorted(included - INCLUDED))}")
    product = next((p for p in (sim.scenario.catalog if sim.scenario else []) if p.sku == sku), None)
    market = sim.marketplace.marketplace_id
    result: dict = {"sku": sku}
    if "summaries" in included:
        summary = {"marketplaceId": market, "productType": product_type(sku), "conditionType": "new_new",
                   "status": ["BUYABLE"] if sim.listings[sku] else ["DISCOVERABLE"],
                   "createdDate": "2026-01-05T00:00:00Z", "lastUpdatedDate": iso(sim.now())}
        if product is not None:
            summary.update(asin=product.asin, itemName=product.name)
        result["summaries"] = [summary]
    if "productTypes" in included:
        result["productTypes"] = [{"marketplaceId": market, "productType": product_type(sku)}]
    if "fulfillmentAvailability" in included:
        result["fulfillmentAvailability"] = [{"fulfillmentChannelCode": "DEFAULT", "quantity": sim.listings[sku]}]
    if "issues" in included:
        result["issues"] = []
    offer = sim.promotions.purchasable_offer(sku, sim.marketplace)  # offer, sale and minimum price
    if offer and "attributes" in included:
        result["attributes"] = {"purchasable_offer": offer}
    return 200, result


def _invalid(sku: str, code: str, message: str) -> tuple:
    return 200, {"sku": sku, "status": "INVALID", "submissionId": secrets.token_hex(16), "issues": [
        {"code": code, "message": message, "severity": "ERROR", "categories": ["INVALID_ATTRIBUTE"]}]}


def patch_listing(sim: Simulator, match, query, body, fault):
    sku = unquote(match.group(2))
    try:
        spec = json.loads(body or b"{}")
    except ValueError:
        return 400, error("InvalidInput", "The request body is not JSON.")
    patches = spec.get("patches")
    if not spec.get("productType") or not isinstance(patches, list) or not patches:
        return 400, error("InvalidInput", "productType and patches are required.")
    if any(p.get("op") not in OPS or not p.get("path") for p in patches):
        return 400, error("InvalidInput", "Each patch needs an op (add, replace, merge, delete) and a path.")
    if sku not in sim.listings:
        return _invalid(sku, "4000001", f"The SKU '{sku}' does not exist for this seller in this marketplace.")
    if sku in sim.refused_listings:
        return _invalid(sku, "90000900", "The attributes are invalid.")
    if query.get("mode") != "VALIDATION_PREVIEW" and sku not in sim.unapplied_listings:
        for patch in patches:
            if patch["path"] == "/attributes/fulfillment_availability":
                sim.set_quantity(sku, int(patch["value"][0]["quantity"]))
    status = "VALID" if query.get("mode") == "VALIDATION_PREVIEW" else "ACCEPTED"
    return 200, {"sku": sku, "status": status, "submissionId": secrets.token_hex(16), "issues": []}
