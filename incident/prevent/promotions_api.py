"""Reading the account's promotions through the Promotions API 2025-12-01: `searchPromotions` for
the running, upcoming and processing ones and those that ended lately, `getPromotion` with the
selection and Amazon's issues for each, and `getSelection` for the pages a selection has beyond
the first. python-amazon-sp-api (2.1.35) has no client for this API, so `PromotionsClient` is
built on the library's own `Client`: login, endpoint and transport stay the library's, and every
call goes through `spapi.Connection` (paced by x-amzn-RateLimit-Limit, which is all Amazon says
of this API's rate; retried on 429)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sp_api.base import ApiResponse, Client, fill_query_params, sp_endpoint

from incident.amazon.spapi import Connection
from incident.prevent.model import BASKET_BUILDING, PROMO_CODE, Benefit, Issue, Item, Promotion
from incident.timeutil import iso_utc, parse_iso

CURRENT = ("RUNNING", "UPCOMING", "PROCESSING")
RECENT = ("CANCELLED", "CANCELLING", "EXPIRED")
RECENT_DAYS = 7  # ended promotions looked at, for the cooling-off check
_MAX_PAGES = 10_000  # a server that keeps sending tokens must not keep us forever


class PromotionsClient(Client):
    """The three read operations of the Promotions API 2025-12-01."""

    @sp_endpoint("/promotions/2025-12-01/promotions")
    def search_promotions(self, **kwargs: Any) -> ApiResponse:
        return self._request(kwargs.pop("path"), params=kwargs)

    @sp_endpoint("/promotions/2025-12-01/promotions/{}")
    def get_promotion(self, promotion_id: str, **kwargs: Any) -> ApiResponse:
        return self._request(fill_query_params(kwargs.pop("path"), promotion_id), params=kwargs,
                             add_marketplace=False)

    @sp_endpoint("/promotions/2025-12-01/promotions/{}/selections/{}")
    def get_selection(self, promotion_id: str, selection_id: str, **kwargs: Any) -> ApiResponse:
        return self._request(fill_query_params(kwargs.pop("path"), promotion_id, selection_id), params=kwargs,
                             add_marketplace=False)


class Reader:
    """Reads the promotions a step at a time, so that waiting for one operation's token can be
    spent on another's (Connection.while_waiting): a search page, or a promotion's details."""

    def __init__(self, connection: Connection, at: datetime):
        self.connection = connection
        self.client = connection.client(PromotionsClient)
        since = iso_utc(at - timedelta(days=RECENT_DAYS))
        marketplace = connection.settings.marketplace.marketplace_id
        self._searches = [{"marketplaceIds": marketplace, "statuses": ",".join(statuses), **window}
                          for statuses, window in ((CURRENT, {}), (RECENT, {"endDateAfter": since}))]
        self._token: str | None = None
        self._tokens_seen: set[str] = set()
        self.found: dict[str, dict] = {}  # promotion id -> summary, in the order found
        self._waiting: list[str] = []  # found, details not read yet
        self.read: list[Promotion] = []

    @property
    def searching(self) -> bool:
        return bool(self._searches)

    @property
    def undetailed(self) -> bool:
        return bool(self._waiting)

    def search_page(self) -> None:
        """One page of the current search (Amazon may send an empty page with a token: go on)."""
        query = {**self._searches[0], **({"paginationToken": self._token} if self._token else {})}
        page = self.connection.call("searchPromotions", self.client.search_promotions, **query)
        for summary in page.payload.get("promotions") or []:
            if summary["promotionId"] not in self.found:
                self.found[summary["promotionId"]] = summary
                self._waiting.append(summary["promotionId"])
        token = page.next_token
        if not token or token in self._tokens_seen or len(self._tokens_seen) >= _MAX_PAGES:
            self._searches.pop(0)  # the next search starts over: its tokens may look like this one's
            self._token, self._tokens_seen = None, set()
        else:
            self._tokens_seen.add(token)
            self._token = token

    def detail_next(self) -> Promotion:
        """getPromotion (with the selection and Amazon's issues) for the next promotion found."""
        promotion = one(self.connection, self._waiting.pop(0))
        self.read.append(promotion)
        return promotion


def one(connection: Connection, promotion_id: str) -> Promotion:
    """One promotion with its whole selection and Amazon's issues."""
    client = connection.client(PromotionsClient)
    detail = connection.call("getPromotion", client.get_promotion, promotion_id, includedData="SELECTION,ISSUES").payload
    items, excluded = _selection(connection, client, promotion_id, detail.get("selection") or {})
    return from_amazon(detail, items, excluded)


def _pages(fetch: Callable[[str | None], Any], next_token: Callable[[Any], str | None]):
    """Every page, following tokens."""
    token, seen = None, set()
    for _ in range(_MAX_PAGES):
        page = fetch(token)
        yield page
        token = next_token(page)
        if not token or token in seen:
            return
        seen.add(token)


def _selection(connection: Connection, client: PromotionsClient, promotion_id: str,
               selection: dict) -> tuple[list[dict], list[dict]]:
    """The selection's items and exclusions, every page of them."""
    details = selection.get("selectionDetails") or {}
    items = list(details.get("items") or [])
    excluded = list((details.get("rules") or {}).get("excludedItems") or [])
    token = (details.get("pagination") or {}).get("nextToken")
    if not token or not selection.get("selectionId"):
        return items, excluded

    def fetch(page_token: str | None) -> dict:
        return connection.call("getSelection", client.get_selection, promotion_id, selection["selectionId"],
                               revisionId=selection.get("revisionId", 1), paginationToken=page_token,
                               limit=100).payload.get("selection") or {}

    def following(page: dict) -> str | None:
        return ((page.get("selectionDetails") or {}).get("pagination") or {}).get("nextToken")

    for page in _pages(lambda t: fetch(t or token), following):
        more = page.get("selectionDetails") or {}
        items += more.get("items") or []
        excluded += (more.get("rules") or {}).get("excludedItems") or []
    return items, excluded


# -- Amazon's shapes into ours ----------------------------------------------------------------

def from_amazon(detail: dict, items: list[dict] | None = None, excluded: list[dict] | None = None) -> Promotion:
    """A getPromotion answer (PromotionRevisionAttributes with status) as a Promotion."""
    selection = detail.get("selection") or {}
    details = selection.get("selectionDetails") or {}
    items = details.get("items") or [] if items is None else items
    excluded = (details.get("rules") or {}).get("excludedItems") or [] if excluded is None else excluded
    benefit = detail.get("benefit") or {}
    requirements = detail.get("purchaseRequirements") or {}
    claim = (requirements.get("claimCode") or {}).get("type")
    kind = detail["promotionType"]
    if kind == BASKET_BUILDING and claim:
        kind = PROMO_CODE
    schedule = detail.get("schedule") or {}
    status = detail.get("status") or "UNKNOWN"
    revision = detail.get("latestRevision") or {}
    issues = [_issue(i) for i in detail.get("issues") or []] + [_issue(i) for i in details.get("issues") or []]
    return Promotion(
        id=detail["promotionId"], source="amazon", kind=kind, title=detail.get("promotionTitle") or detail["promotionId"],
        status=status, start=_time(schedule.get("startDate")), end=_time(schedule.get("endDate")),
        # Amazon gives no cancellation time: the last update is when the status changed
        cancelled_at=_time(detail.get("lastUpdatedDate")) if status in ("CANCELLED", "CANCELLING") else None,
        benefit=_benefit(benefit) if benefit else None, items=[_item(i) for i in items],
        catalog=selection.get("type") == "CATALOG", excluded=[_item(i) for i in excluded],
        stacking=benefit.get("stacking"), claim_code=claim, budget=_budget(detail.get("budget")),
        per_customer_uses=benefit.get("perCustomerUses"), issues=issues,
        revision_status=revision.get("revisionStatus"),
        revision_issues=[_issue(i) for i in revision.get("issues") or []])


def _time(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


def _discount(discount: dict) -> Benefit:
    kind = discount.get("type")
    if kind == "PERCENTAGE_OFF":
        return Benefit(percent=_number(discount["percentOff"]))
    if kind == "AMOUNT_OFF":
        return Benefit(amount=_number(discount["amountOff"]))
    if kind == "FREE_ITEM":  # the item given away sells for nothing in that order
        return Benefit(percent=Decimal(100))
    return Benefit()


def _benefit(benefit: dict) -> Benefit:
    """A promotion-level benefit; with tiers, the largest percentage and amount of any tier."""
    discounts = [benefit.get("discount") or {}] + [t.get("discount") or {} for t in benefit.get("additionalTiers") or []]
    parsed = [_discount(d) for d in discounts if d]
    percents = [b.percent for b in parsed if b.percent is not None]
    amounts = [b.amount for b in parsed if b.amount is not None]
    return Benefit(percent=max(percents) if percents else None, amount=max(amounts) if amounts else None)


def _item(item: dict) -> Item:
    benefit = item.get("benefit")
    parsed = None
    if benefit:
        if benefit.get("type") == "FIXED_PRICE" and benefit.get("price"):
            parsed = Benefit(price=_number(benefit["price"]["amount"]))
        elif benefit.get("discount"):
            parsed = _discount(benefit["discount"])
    return Item(sku=item.get("sku"), asin=item.get("asin"), benefit=parsed)


def _issue(issue: dict) -> Issue:
    identifier = issue.get("identifier") or {}
    return Issue(issue.get("code", "?"), issue.get("severity", "?"), issue.get("message", ""),
                 identifier.get("sku") or identifier.get("asin"))


def _budget(budget: dict | None) -> str | None:
    if not budget:
        return None
    return f"{budget.get('value')} {budget.get('currencyCode') or budget.get('type', '').lower()}".strip()
