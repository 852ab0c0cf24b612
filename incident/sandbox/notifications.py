"""The simulator's Notifications API: destinations and subscriptions served in the model's
shapes (notifications.json), and the Publisher, which posts ORDER_CHANGE messages shaped by
OrderChangeNotification.json to the subscribed SQS queue (a real one: moto's server in tests and
drills) as orders arrive and change status, a few seconds late as Amazon's are."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from incident.sandbox.wire import error, iso

if TYPE_CHECKING:
    from incident.sandbox.scenario import Order
    from incident.sandbox.server import Simulator

APPLICATION_ID = "amzn1.sp.solution.simulated-incident-app"
_FINAL = ("Shipped", "Cancelled")


def _state(sim: Simulator) -> dict[str, dict]:
    """Destinations and subscriptions live on the simulator (created on first use)."""
    with sim.lock:
        return sim.__dict__.setdefault("notification_state", {"destinations": {}, "subscriptions": {}})


def _create_destination(sim, match, query, body, fault):
    spec = json.loads(body or b"{}")
    arn = ((spec.get("resourceSpecification") or {}).get("sqs") or {}).get("arn")
    if not spec.get("name") or not arn:
        return 400, error("InvalidInput", "name and resourceSpecification.sqs.arn are required.")
    destinations = _state(sim)["destinations"]
    if any(d["resource"]["sqs"]["arn"] == arn for d in destinations.values()):
        return 409, error("Conflict", "A destination with this resource already exists.")
    destination_id = str(uuid.uuid4())
    destinations[destination_id] = {"destinationId": destination_id, "name": spec["name"], "resource": {"sqs": {"arn": arn}}}
    return 200, {"payload": destinations[destination_id]}


def _get_destinations(sim, match, query, body, fault):
    return 200, {"payload": list(_state(sim)["destinations"].values())}


def _get_destination(sim, match, query, body, fault):
    destination = _state(sim)["destinations"].get(match.group(1))
    if destination is None:
        return 404, error("NotFound", "Destination not found.")
    return 200, {"payload": destination}


def _create_subscription(sim, match, query, body, fault):
    spec = json.loads(body or b"{}")
    kind = match.group(1)
    if spec.get("destinationId") not in _state(sim)["destinations"] or not spec.get("payloadVersion"):
        return 400, error("InvalidInput", "destinationId (of an existing destination) and payloadVersion are required.")
    subscriptions = _state(sim)["subscriptions"]
    if kind in subscriptions:
        return 409, error("Conflict", f"A subscription for {kind} already exists.")
    subscription = {"subscriptionId": str(uuid.uuid4()), "payloadVersion": spec["payloadVersion"],
                    "destinationId": spec["destinationId"]}
    if spec.get("processingDirective"):
        subscription["processingDirective"] = spec["processingDirective"]
    subscriptions[kind] = subscription
    return 200, {"payload": subscription}


def _get_subscription(sim, match, query, body, fault):
    subscription = _state(sim)["subscriptions"].get(match.group(1))
    if subscription is None:
        return 404, error("NotFound", f"No subscription for {match.group(1)}.")
    return 200, {"payload": subscription}


ROUTES = [
    (r"/notifications/v1/destinations", "POST", "createDestination", _create_destination),
    (r"/notifications/v1/destinations", "GET", "getDestinations", _get_destinations),
    (r"/notifications/v1/destinations/([\w-]+)", "GET", "getDestination", _get_destination),
    (r"/notifications/v1/subscriptions/(\w+)", "POST", "createSubscription", _create_subscription),
    (r"/notifications/v1/subscriptions/(\w+)", "GET", "getSubscription", _get_subscription),
]


def order_change(sim: Simulator, order: Order, at: datetime, subscription_id: str) -> dict[str, Any]:
    """One ORDER_CHANGE notification, as OrderChangeNotification.json describes it."""
    status = "Canceled" if order.status == "Cancelled" else order.status
    shipped = sum(i.quantity for i in order.items if i.status == "Shipped")
    items = [{"OrderItemId": i.order_item_id, "SellerSKU": i.product.sku, "SupplySourceId": None,
              "OrderItemStatus": "Shipped" if i.status == "Shipped" else "Unshipped", "Quantity": i.quantity,
              "QuantityShipped": i.quantity if i.status == "Shipped" else 0, "IsBuyerRequestedCancel": False}
             for i in order.items]
    return {
        "NotificationVersion": "1.0", "NotificationType": "ORDER_CHANGE", "PayloadVersion": "1.0",
        "EventTime": iso(at),
        "Payload": {"OrderChangeNotification": {
            "NotificationLevel": "OrderLevel", "SellerId": sim.seller_id, "AmazonOrderId": order.order_id,
            "OrderChangeType": "OrderStatusChange",
            "OrderChangeTrigger": {"TimeOfOrderChange": iso(max(order.purchase_date, order.last_updated)),
                                   "ChangeReason": "Order status changed"},
            "Summary": {"MarketplaceId": order.marketplace.marketplace_id, "OrderStatus": status,
                        "PurchaseDate": iso(order.purchase_date), "DestinationPostalCode": order.postal_code,
                        "FulfillmentType": "MFN" if order.channel == "Merchant" else "AFN",
                        "OrderType": "StandardOrder", "NumberOfItemsShipped": shipped,
                        "NumberOfItemsUnshipped": sum(i.quantity for i in order.items) - shipped,
                        "OrderItems": items}}},
        "NotificationMetadata": {"ApplicationId": APPLICATION_ID, "SubscriptionId": subscription_id,
                                 "PublishTime": iso(at), "NotificationId": str(uuid.uuid4())}}


class Publisher:
    """Posts ORDER_CHANGE notifications for the simulator's orders to the queue its subscription
    names, `delay` seconds after each change. `pump()` posts what is due by the simulator's clock:
    called by a thread on a real clock, or by the drill between steps on a simulated one."""

    def __init__(self, sim: Simulator, sqs_endpoint: str, region: str = "us-east-1", delay: float = 2.0,
                 out_of_order: bool = False):
        """`out_of_order`: as SQS may, an order's first notification is delivered late, after the
        one that follows it, and twice (same NotificationId); it is held until that next change."""
        import boto3

        self.sim, self.delay = sim, timedelta(seconds=delay)
        self.client = boto3.client("sqs", endpoint_url=sqs_endpoint, region_name=region)
        started = sim.now()  # orders from before the subscription are never notified
        self._arrivals = sorted((o for o in sim.orders.values() if o.purchase_date >= started),
                                key=lambda o: o.purchase_date)
        self._next = 0
        self._posted: dict[str, str] = {}  # order id -> status last posted (for status changes)
        self.out_of_order = out_of_order
        self._held: dict[str, str] = {}  # order id -> its first notification, held back (out_of_order)
        self._queue_url: str | None = None
        self.sent = 0

    def _subscription(self) -> tuple[str, str] | None:
        state = _state(self.sim)
        subscription = state["subscriptions"].get("ORDER_CHANGE")
        if subscription is None:
            return None
        if self._queue_url is None:
            arn = state["destinations"][subscription["destinationId"]]["resource"]["sqs"]["arn"]
            parts = arn.split(":")
            self._queue_url = self.client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        return self._queue_url, subscription["subscriptionId"]

    def next_due(self) -> datetime | None:
        """When the next arrival's notification is due (status changes are found by pump)."""
        if self._next < len(self._arrivals):
            return self._arrivals[self._next].purchase_date + self.delay
        return None

    def pump(self) -> int:
        target = self._subscription()
        if target is None:
            return 0
        queue_url, subscription_id = target
        sim = self.sim
        sim.ripen()
        now = sim.now()
        due: list[Order] = []
        with sim.lock:
            while self._next < len(self._arrivals) and self._arrivals[self._next].purchase_date + self.delay <= now:
                order = self._arrivals[self._next]
                self._next += 1
                if sim._visible(order, now):  # an order the stopped offer never took is never notified
                    due.append(order)
            for order_id, posted in list(self._posted.items()):
                order = sim.orders[order_id]
                if order.status != posted and order.last_updated + self.delay <= now:
                    due.append(order)
        messages = []
        for order in due:
            self._posted[order.order_id] = order.status
            if order.status in _FINAL:
                del self._posted[order.order_id]
            body = json.dumps(order_change(sim, order, now, subscription_id))
            if self.out_of_order and order.order_id not in self._held and order.order_id in self._posted:
                self._held[order.order_id] = body  # the first one of an order that will change again
                continue
            messages.append(body)
            messages += [self._held.pop(order.order_id)] * 2 if order.order_id in self._held else []
        for start in range(0, len(messages), 10):
            self.client.send_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": secrets.token_hex(4), "MessageBody": body} for body in messages[start:start + 10]])
        self.sent += len(messages)
        return len(messages)
