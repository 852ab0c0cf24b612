"""`incident watch setup`: point Amazon's ORDER_CHANGE notifications at the seller's SQS queue,
through python-amazon-sp-api's Notifications client. The destination calls are grantless (the
app's own login); the subscription is the seller's. Run twice, it finds what exists and creates
nothing new."""

from __future__ import annotations

import re
from dataclasses import dataclass

from incident.amazon.spapi import ApiError, Connection
from incident.errors import UsageError

NOTIFICATION_TYPE = "ORDER_CHANGE"
DESTINATION_NAME = "incident-watch"
ARN = re.compile(r"^arn:aws:sqs:[a-z0-9-]+:\d{12}:[\w-]{1,80}$")


@dataclass
class Setup:
    destination_id: str
    subscription_id: str
    created_destination: bool
    created_subscription: bool


def setup(connection: Connection, sqs_arn: str) -> Setup:
    from sp_api.api import Notifications

    if not ARN.match(sqs_arn):
        raise UsageError(f"--sqs-arn '{sqs_arn}' is not an SQS queue ARN: write it like "
                         "arn:aws:sqs:us-east-1:123456789012:incident-orders (the queue's Details in the AWS console)")
    client = connection.client(Notifications)
    destinations = connection.call("getDestinations", client.get_destinations).payload or []
    existing = next((d for d in destinations if ((d.get("resource") or {}).get("sqs") or {}).get("arn") == sqs_arn), None)
    if existing:
        destination_id, created_destination = existing["destinationId"], False
    else:
        made = connection.call("createDestination", client.create_destination, name=DESTINATION_NAME, arn=sqs_arn)
        destination_id, created_destination = made.payload["destinationId"], True
    try:
        current = connection.call("getSubscription", client.get_subscription, NOTIFICATION_TYPE).payload
    except ApiError as exc:
        if exc.status != 404:
            raise
        current = None
    if current and current.get("destinationId") == destination_id:
        return Setup(destination_id, current["subscriptionId"], created_destination, False)
    directive = {"eventFilter": {"eventFilterType": NOTIFICATION_TYPE,
                                 "orderChangeTypes": ["OrderStatusChange", "BuyerRequestedChange"]}}
    made = connection.call("createSubscription", client.create_subscription, NOTIFICATION_TYPE,
                           destination_id=destination_id, processingDirective=directive)
    return Setup(destination_id, made.payload["subscriptionId"], created_destination, True)
