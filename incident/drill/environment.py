"""What a drill runs against, all on 127.0.0.1: a local SQS server (moto's server mode, speaking
the API boto3 talks to), a queue in it, the SP-API simulator holding the scenario, and the
publisher posting ORDER_CHANGE notifications to the queue. The process's environment points
incident at them for the drill's length and is put back after. moto comes with the `drill` extra
only: without it a drill has no queue and its watch polls (`local_sqs_available`)."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime

from incident.errors import UsageError
from incident.sandbox.drills import DrillScenario, DrillSimulator, DrillWorld, Truth, build
from incident.sandbox.notifications import Publisher

NEEDS_MOTO = ("--mode push needs moto's local SQS server for the drill's queue: pip install 'incident[drill]' "
              "(or run the drill with --mode poll)")
REGION = "us-east-1"
QUEUE = "incident-drill-orders"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def local_sqs_available() -> bool:
    """Whether moto's SQS server can run here (`pip install 'incident[drill]'` brings it)."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


class LocalSqs:
    """moto's SQS server on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise UsageError(NEEDS_MOTO) from None
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def create_queue(self, name: str = QUEUE) -> tuple[str, str]:
        """(queue URL, queue ARN)."""
        import boto3

        client = boto3.client("sqs", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="drill",
                              aws_secret_access_key="drill")  # the local server takes any key
        url = client.create_queue(QueueName=name)["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def stop(self) -> None:
        self._server.stop()


@dataclass
class Environment:
    scenario: DrillScenario
    sim: DrillSimulator
    world: DrillWorld
    truth: Truth
    sqs: LocalSqs | None = None
    queue_url: str | None = None
    queue_arn: str | None = None
    publisher: Publisher | None = None
    _saved: dict[str, str | None] = field(default_factory=dict)

    def variables(self) -> dict[str, str]:
        values = dict(self.sim.environment("drill"))
        values["INCIDENT_MARKETPLACE"] = self.scenario.marketplace
        if self.sqs:
            values.update(INCIDENT_SQS_ENDPOINT=self.sqs.endpoint, INCIDENT_WATCH_QUEUE_URL=self.queue_url or "",
                          # the local queue takes any key: never the seller's own (the banner prints these)
                          AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="drill", AWS_SECRET_ACCESS_KEY="drill")
        return values

    def stop(self) -> None:
        self.sim.stop()
        if self.sqs:
            self.sqs.stop()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(scenario: DrillScenario, start_at: datetime, clock, push: bool = True, port: int = 0) -> Environment:
    sim, world, truth = build(scenario, start_at, clock)
    sim.start(port=port)
    environment = Environment(scenario, sim, world, truth)
    try:
        if push:
            environment.sqs = LocalSqs()
            environment.queue_url, environment.queue_arn = environment.sqs.create_queue()
        variables = environment.variables()
        environment._saved = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        if push:
            environment.publisher = Publisher(sim, environment.sqs.endpoint, REGION,
                                              scenario.notification_delay_seconds)
    except BaseException:
        environment.stop()
        raise
    return environment
