"""Talking to the Selling Partner API through python-amazon-sp-api, safely.

The library does the HTTP, the login and the endpoints. This module adds what it leaves out and
guards against its known pitfalls (see the reference, section 4):
- it never retries: we pace each operation with Amazon's token buckets (at the rate Amazon's
  x-amzn-RateLimit-Limit header reports, when it does), honour Retry-After on 429,
  back off with jitter on 5xx and timeouts, and refresh an expired access token once;
- a 429 or 5xx with an empty body comes back from it as an empty success: a guard on its
  transport turns every HTTP error into an exception, whatever the body;
- SP_API_DEFAULT_MARKETPLACE silently overrides the marketplace: we remove it from our process;
- its DEBUG log prints tokens and buyer data: its loggers are held at WARNING;
- credentials come only from the environment or its credentials.yml, never from code or logs;
- its login-token cache is process-wide: `forget_tokens()` clears it.
"""

from __future__ import annotations

import functools
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from incident.amazon import marketplaces
from incident.amazon.ratelimits import DEFAULT_PLANS, RealClock, TokenBucket
from incident.errors import IncidentError, UsageError

DEFAULT_LWA = "https://api.amazon.com/auth/o2/token"
REGION_ENDPOINTS = {"NA": "https://sellingpartnerapi-na.amazon.com",
                    "EU": "https://sellingpartnerapi-eu.amazon.com",
                    "FE": "https://sellingpartnerapi-fe.amazon.com"}
CREDENTIAL_ENV = ("SP_API_REFRESH_TOKEN", "LWA_APP_ID", "LWA_CLIENT_SECRET")


class ApiError(IncidentError):
    """Amazon (or the simulator) said no, after our retries. `unsure`: the request may have been
    carried out although no answer says so (a timeout or a 5xx on a call that is not retried)."""

    def __init__(self, operation: str, status: int | None, message: str, retry_after: float | None = None,
                 unsure: bool = False, where: str | None = None):
        self.operation, self.status, self.retry_after, self.unsure = operation, status, retry_after, unsure
        self.reason = message  # Amazon's words (or ours when there was no answer), without the operation
        # `where`: how the call ended when it is neither an HTTP error nor no answer (a FATAL report)
        where = where or (f"HTTP {status}" if status else "no answer")
        super().__init__(f"{operation}: {where}: {message}")


class LoginRefused(ApiError):
    """Login with Amazon refused the credentials: no SP-API call was made."""


class _HttpError(Exception):
    def __init__(self, status: int, body: bytes, headers: Any):
        self.status, self.body, self.headers = status, body, headers

    def message(self) -> str:
        try:
            import json

            errors = json.loads(self.body).get("errors") or []
            return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or "no details"
        except (ValueError, AttributeError, TypeError):  # not Amazon's JSON error body
            return "no details"


class _LoginError(_HttpError):
    """An error answer from Login with Amazon (the token endpoint), not from the SP-API."""

    def refusal(self) -> str:
        """What Amazon refused and which setting to check, from LWA's OAuth error code."""
        import json

        try:
            code = str(json.loads(self.body).get("error") or "")
        except (ValueError, AttributeError, TypeError):
            code = ""
        if code in ("invalid_grant", "unauthorized_client"):
            what = ("the refresh token (SP_API_REFRESH_TOKEN, or refresh_token in credentials.yml): it is "
                    "mistyped, revoked, or belongs to another app; authorise the app again in Seller Central")
        elif code == "invalid_client" or self.status == 401:
            what = "the app's client id and secret (LWA_APP_ID and LWA_CLIENT_SECRET, or credentials.yml)"
        else:
            what = "SP_API_REFRESH_TOKEN, LWA_APP_ID and LWA_CLIENT_SECRET (or credentials.yml)"
        return f"Amazon refused the login{f' ({code})' if code else ''}: check {what}"


class _GuardedTransport:
    """Raises on every HTTP error status, so an empty-bodied 429/5xx is never taken for data."""

    def __init__(self, inner: Any, error: type[_HttpError] = _HttpError):
        self._inner = inner
        self._error = error

    def request(self, method, url, **kwargs):
        response = self._inner.request(method, url, **kwargs)
        if response.status_code >= 400:
            raise self._error(response.status_code, response.content, response.headers)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class Settings:
    marketplace: marketplaces.Marketplace
    seller_id: str | None
    endpoint: str
    lwa_endpoint: str
    config_path: Path | None
    timeout: float = 20.0
    max_retries: int = 6


def load_settings(marketplace_code: str | None = None, config: Path | None = None) -> Settings:
    """incident.toml (or $INCIDENT_CONFIG) for marketplace, seller id and endpoints; the
    environment overrides it."""
    from incident import config as config_file

    data, path = config_file.section("spapi", config)
    code = marketplace_code or os.environ.get("INCIDENT_MARKETPLACE") or data.get("marketplace")
    if not code:
        raise UsageError("no marketplace: open the incident with `--marketplace US` (or your country code), "
                         "or set INCIDENT_MARKETPLACE, or `marketplace` under [spapi] in incident.toml")
    market = marketplaces.lookup(code)
    endpoint = os.environ.get("INCIDENT_SPAPI_ENDPOINT") or data.get("endpoint") or REGION_ENDPOINTS[market.region]
    lwa = os.environ.get("INCIDENT_LWA_ENDPOINT") or data.get("lwa_endpoint") or DEFAULT_LWA
    seller = os.environ.get("INCIDENT_SELLER_ID") or data.get("seller_id")
    return Settings(market, seller, endpoint.rstrip("/"), lwa, path,
                    timeout=float(data.get("timeout", 20.0)), max_retries=int(data.get("max_retries", 6)))


def credential_sources() -> dict[str, bool]:
    """Which credential sources are present (never their values)."""
    config = Path(os.environ.get("SP_API_CONFIG_DIR", Path.home() / ".config" / "python-sp-api")) / "credentials.yml"
    return {**{name: bool(os.environ.get(name)) for name in CREDENTIAL_ENV}, str(config): config.exists()}


@functools.cache
def tls_context() -> Any:
    """One TLS context for every HTTPS client of the process, as httpx would build each (its
    certificate authorities, SSL_CERT_FILE honoured): loading them takes ~40 ms a client."""
    import httpx

    return httpx.create_ssl_context()


def forget_tokens() -> None:
    from sp_api.auth import access_token_client

    access_token_client.cache.clear()
    access_token_client.grantless_cache.clear()


@dataclass
class _Market:
    endpoint: str
    marketplace_id: str
    region: str


@dataclass
class Connection:
    """One seller account: builds python-amazon-sp-api clients and runs every call through the
    pacer and the retry loop. Long because pacing, learning the rate, retrying and naming a
    refusal are one call's life, read together."""

    settings: Settings
    clock: Any = field(default_factory=RealClock)
    plans: dict[str, tuple[float, int]] = field(default_factory=lambda: dict(DEFAULT_PLANS))
    on_wait: Callable[[str, float], None] | None = None
    # Other work to do while a call waits for its token: given the seconds left, does one step
    # (its own calls paced as usual) and says whether it did anything.
    while_waiting: Callable[[float], bool] | None = None

    def __post_init__(self) -> None:
        os.environ.pop("SP_API_DEFAULT_MARKETPLACE", None)
        for name in ("sp_api", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        host = urlparse(self.settings.endpoint).hostname
        if host in ("127.0.0.1", "localhost", "::1"):
            no_proxy = os.environ.get("NO_PROXY", "")
            if host not in no_proxy:
                os.environ["NO_PROXY"] = ",".join(filter(None, [no_proxy, host]))
        forget_tokens()  # the library caches login tokens process-wide, whatever the account
        self._buckets = {name: TokenBucket(rate, burst) for name, (rate, burst) in self.plans.items()}
        self._clients: dict[tuple, Any] = {}
        self._busy_waiting = False
        self.calls = 0

    def _auth_class(self):
        from sp_api.auth import AccessTokenClient

        parsed = urlparse(self.settings.lwa_endpoint)
        return type("IncidentAccessTokenClient", (AccessTokenClient,),
                    {"scheme": f"{parsed.scheme}://", "host": parsed.netloc, "path": parsed.path or "/auth/o2/token"})

    def client(self, cls: type, **kwargs: Any) -> Any:
        from sp_api.base.credential_provider import (
            FromConfigFileCredentialProvider,
            FromEnvironmentVariablesCredentialProvider,
            MissingCredentials,
        )

        key = (cls, tuple(sorted(kwargs.items())))
        if key not in self._clients:
            market = _Market(self.settings.endpoint, self.settings.marketplace.marketplace_id,
                             self.settings.marketplace.region)
            try:
                client = cls(marketplace=market, credential_providers=(
                    FromEnvironmentVariablesCredentialProvider, FromConfigFileCredentialProvider),
                    auth_token_client_class=self._auth_class(), timeout=self.settings.timeout,
                    verify=tls_context(), **kwargs)
            except MissingCredentials:
                raise UsageError("no SP-API credentials: set SP_API_REFRESH_TOKEN, LWA_APP_ID and "
                                 "LWA_CLIENT_SECRET, or write python-amazon-sp-api's credentials.yml; "
                                 "`incident doctor` checks them") from None
            client._transport = _GuardedTransport(client._transport)
            client._auth._transport = _GuardedTransport(client._auth._transport, _LoginError)
            self._clients[key] = client
        return self._clients[key]

    def pace(self, operation: str) -> None:
        bucket = self._buckets.get(operation)
        if bucket is None:
            return
        wait = bucket.wait_time(self.clock.now())
        if wait > 0 and self.while_waiting is not None and not self._busy_waiting:
            self._busy_waiting = True
            try:
                deadline = self.clock.now() + wait
                while self.clock.now() < deadline and self.while_waiting(deadline - self.clock.now()):
                    pass
            finally:
                self._busy_waiting = False
            wait = bucket.wait_time(self.clock.now())
        if wait > 0:
            wait += min(0.05, 0.02 / bucket.rate)  # never arrive a hair early (2%): the server decides
            if self.on_wait:
                self.on_wait(operation, wait)
            self.clock.sleep(wait)
        bucket.take(self.clock.now())

    def wait_for(self, operation: str) -> float:
        """Seconds until `operation` has a token (0 for one whose rate is not known yet)."""
        bucket = self._buckets.get(operation)
        return 0.0 if bucket is None else bucket.wait_time(self.clock.now())

    def call(self, operation: str, fn: Callable[..., Any], *args: Any, once: bool = False, **kwargs: Any) -> Any:
        """Run one SP-API call, paced and retried. Raises ApiError when it cannot succeed.
        `once`: a call that must not be repeated unless Amazon's answer proves it was not carried
        out (createFeed): a timeout or a 5xx raises ApiError(unsure=True) instead of a retry."""
        import httpx
        from sp_api.auth.exceptions import AuthorizationError
        from sp_api.base.exceptions import SellingApiException

        refreshed = False
        for attempt in range(self.settings.max_retries + 1):
            self.pace(operation)
            self.calls += 1
            try:
                response = fn(*args, **kwargs)
                self._learn_rate(operation, getattr(response, "rate_limit", None))
                return response
            except _LoginError as exc:
                if exc.status >= 500 or exc.status == 429:
                    self.clock.sleep(self._backoff(attempt))
                    continue
                raise LoginRefused("login", exc.status, exc.refusal()) from None
            except _HttpError as exc:
                status, message = exc.status, exc.message()
                if status == 403 and not refreshed:
                    forget_tokens()  # the cached login token may be stale or expired: log in again once
                    refreshed = True
                    continue
                if status == 429:
                    retry_after = _retry_after(exc.headers)
                    self._drain(operation)
                    wait = retry_after if retry_after is not None else self._after_refusal(operation, attempt)
                    self.clock.sleep(wait)
                    continue
                if status >= 500 and once:
                    raise ApiError(operation, status, message, unsure=True) from None
                if status >= 500 or (status == 400 and "pagination" in message.lower() and attempt == 0):
                    self.clock.sleep(self._backoff(attempt))
                    continue
                raise ApiError(operation, status, message) from None
            except httpx.ConnectError as exc:  # nothing listens there: retrying for half a minute helps nobody
                if attempt >= 1:
                    raise ApiError(operation, None, _refused(self.settings, exc)) from None
                self.clock.sleep(0.3)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if once:
                    raise ApiError(operation, None, f"{type(exc).__name__}: no answer", unsure=True) from None
                if attempt == self.settings.max_retries:
                    raise ApiError(operation, None, f"{type(exc).__name__}: the server did not answer") from None
                self.clock.sleep(self._backoff(attempt))
            except AuthorizationError as exc:
                raise LoginRefused("login", getattr(exc, "status_code", None),
                                   "Amazon refused the login: check SP_API_REFRESH_TOKEN, LWA_APP_ID and "
                                   "LWA_CLIENT_SECRET (or credentials.yml)") from None
            except SellingApiException as exc:  # an error body the guard let through (never expected)
                raise ApiError(operation, None, str(exc)) from None
        raise ApiError(operation, None, f"still failing after {self.settings.max_retries} retries")

    def _learn_rate(self, operation: str, header: Any) -> None:
        """Amazon grants some sellers more than the default plan and says so, best-effort, in
        x-amzn-RateLimit-Limit: pace by what it says (the burst stays as documented)."""
        bucket = self._buckets.get(operation)
        try:
            rate = float(header) if header is not None else None
        except ValueError:
            return
        if bucket is None and rate and rate > 0:
            # no published plan (the Promotions API): pace by what Amazon says, one call at a time
            self._buckets[operation] = TokenBucket(rate, 1, tokens=0.0, updated=self.clock.now())
        elif bucket is not None and rate and rate > 0 and rate != bucket.rate:
            bucket.wait_time(self.clock.now())  # settle the tokens earned at the old rate
            bucket.rate = rate

    def _drain(self, operation: str) -> None:
        """The server says we are out of tokens: trust it over our own bucket."""
        bucket = self._buckets.get(operation)
        if bucket is not None:
            bucket.wait_time(self.clock.now())
            bucket.tokens = min(bucket.tokens, 0.0)

    def _after_refusal(self, operation: str, attempt: int) -> float:
        """Amazon refused for want of a token and did not say when to come back. With the rate
        known, pace() now waits the token interval (the server counts from each request's arrival:
        a client paced at the granted rate is refused now and then); wait a little longer each
        time it happens again. With no rate known, back off."""
        bucket = self._buckets.get(operation)
        if bucket is None:
            return self._backoff(attempt)
        return min(self._backoff(attempt), (2 ** attempt - 1) / bucket.rate)

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(60.0, 0.5 * 2 ** attempt) * (0.5 + random.random())


def _refused(settings: Settings, exc: Exception) -> str:
    """What to check when the connection itself fails (refused, unknown host)."""
    try:
        url = str(exc.request.url)  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        url = settings.endpoint
    login = url.startswith(settings.lwa_endpoint)
    variable = "INCIDENT_LWA_ENDPOINT" if login else "INCIDENT_SPAPI_ENDPOINT"
    where = settings.lwa_endpoint if login else settings.endpoint
    return (f"cannot connect to {where} ({exc.__class__.__name__}): check {variable} (or the endpoint in "
            "incident.toml), the network, or that `incident sandbox serve` is running if you use the simulator")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
