"""Amazon's Buyer-Seller Messaging API: the buyer's language (GetAttributes) and the
`unexpectedProblem` message, as one of the ways a notice is sent."""

from __future__ import annotations

from typing import Any

from incident.amazon.spapi import ApiError
from incident.notices.rules import language
from incident.workspace.store import Store


def ask_buyer_locale(connection, client, order_id: str) -> str | None:
    """The buyer's locale from Messaging GetAttributes (en-US), or None when Amazon gives none."""
    payload = connection.call("getAttributes", client.get_attributes, order_id).payload or {}
    return str((payload.get("buyer") or {}).get("locale") or "").replace("_", "-") or None


def buyer_locales(store: Store, connection, order_ids: list[str], progress=None) -> dict[str, str]:
    """Each buyer's locale as Amazon reports it (Messaging GetAttributes, paced at 1/s), asked
    once per order: locales already known from an earlier render are not asked again."""
    from sp_api.api import Messaging

    known = {r["order_id"]: r["buyer_locale"] for r in store.conn.execute(
        "SELECT order_id, buyer_locale FROM notices WHERE buyer_locale IS NOT NULL")}
    client = connection.client(Messaging)
    for done, order_id in enumerate(order_ids, 1):
        if order_id not in known and (locale := ask_buyer_locale(connection, client, order_id)):
            known[order_id] = locale
        if progress:
            progress(done, len(order_ids))
    return {order_id: known[order_id] for order_id in order_ids if order_id in known}




class MessageRefused(ApiError):
    """Amazon refused this order's message (403, after a fresh login): not sendable by messaging."""


class MessagingSender:
    """Sends a notice as Amazon's `unexpectedProblem` message, where Amazon offers it. Asks the
    buyer's language first when it is not known (GetAttributes has its own rate limit, so this
    costs no time after the first burst): a notice in another language is held back."""

    needs_address = False

    def __init__(self, connection):
        from sp_api.api import Messaging

        self.connection, self.client = connection, connection.client(Messaging)

    def send(self, notice: Any, recipient: str | None = None) -> tuple[str, str | None]:
        """('sent' | 'not_offered' | 'other_language', the buyer's locale when Amazon said it)."""
        api, order_id = self.connection, notice["order_id"]
        buyer_locale = notice["buyer_locale"]
        if not buyer_locale and not notice["forced_reason"]:
            buyer_locale = ask_buyer_locale(api, self.client, order_id)
            if buyer_locale and language(buyer_locale) != language(notice["locale"]):
                return "other_language", buyer_locale
        try:
            actions = api.call("getMessagingActionsForOrder", self.client.get_messaging_actions_for_order,
                               order_id).payload
            names = {a.get("name") for a in (actions.get("_links") or {}).get("actions") or []}
            if "unexpectedProblem" not in names:
                return "not_offered", buyer_locale
            text = notice["subject"] + "\n\n" + notice["body"]
            api.call("createUnexpectedProblem", self.client.create_unexpected_problem, order_id, body={"text": text})
        except ApiError as exc:
            if exc.status == 403 and exc.operation != "login":  # Connection.call has tried a fresh login once
                raise MessageRefused(exc.operation, 403, exc.reason) from None
            raise
        return "sent", buyer_locale

    def close(self) -> None:
        pass
