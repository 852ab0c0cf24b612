"""Amazon's default usage plans (rate per second, burst) per SP-API operation, and the token
bucket both our client (to pace itself) and the simulator (to throttle) use."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

DEFAULT_PLANS: dict[str, tuple[float, int]] = {
    "searchOrders": (0.0056, 20), "getOrder": (0.5, 30), "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30), "getOrderBuyerInfo": (0.5, 30), "createReport": (0.0167, 15),
    "getReport": (2.0, 15), "getReportDocument": (0.0167, 15), "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15), "getFeed": (2.0, 15), "getFeeds": (0.0222, 10),
    "getFeedDocument": (0.0222, 10), "createUnexpectedProblem": (1.0, 5),
    "getMessagingActionsForOrder": (1.0, 5), "getAttributes": (1.0, 5),
    "patchListingsItem": (5.0, 5), "getListingsItem": (5.0, 10),
    "createRestrictedDataToken": (1.0, 10), "getOrderMetrics": (0.5, 15),
}


class RealClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Simulated time: sleeping advances it at once, so hours of rate limits pass in seconds.
    Shared by the simulator and the client in tests and benchmarks."""

    def __init__(self, start: float | None = None):
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def wait_time(self, now: float) -> float:
        """Seconds until a token is free (0 when one is free now). Does not take it."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def _refill(self, now: float) -> None:
        if self.tokens < 0:
            self.tokens, self.updated = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now


def buckets(plans: dict[str, tuple[float, int]] | None = None) -> dict[str, TokenBucket]:
    return {name: TokenBucket(rate, burst) for name, (rate, burst) in (plans or DEFAULT_PLANS).items()}
