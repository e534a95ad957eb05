"""Talon.One's customer-engagement ("Third-party") API, over httpx.

This module knows HTTP and Talon.One's formats and nothing about SMS. See
``reference/talon_one.md`` §1: one base URL for every deployment, the
deployment named in ``destination-hostname``, PascalCase coupon responses with
the code in ``Value``, camelCase referral and loyalty responses, and errors as
``{StatusCode, Error, RequestUUID}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from .errors import UpstreamPermanent, UpstreamRetryable
from .issuing import Coupon, LoyaltyBalance, Referral
from .metrics import upstream_call

log = logging.getLogger(__name__)

#: Statuses worth retrying with the same identifier; the rest of 4xx are permanent.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


class TalonClient:
    """A pooled, timeout-bounded client for the CEP endpoints.

    `transport` lets tests and benchmarks swap the network layer; production
    uses httpx's default pool.
    """

    def __init__(
        self,
        *,
        api_key: str,
        deployment: str,
        base_url: str = "https://integration.talon.one",
        platform_name: str = "keyword-coupon-bot",
        dry_run: bool = False,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {
            "Authorization": f"ApiKey-v1 {api_key}",
            "customer-engagement-platform-name": platform_name,
            "destination-hostname": deployment,
            "Accept": "application/json",
        }
        self.dry_run = dry_run
        self._http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    # -- endpoints

    def coupon(
        self,
        *,
        application_id: int,
        campaign_id: int,
        external_campaign_id: str,
        identifier: str,
        timeout: float | None = None,
    ) -> Coupon:
        """Create the coupon for `identifier`, or retrieve the one already created for it."""
        params = {
            "applicationId": application_id,
            "campaignId": campaign_id,
            "externalCampaignId": external_campaign_id,
            "identifier": identifier,
        }
        body = self._get("/customer_engagement/coupon", params, dry_run=self.dry_run, timeout=timeout)
        code = body.get("Value")
        if not isinstance(code, str) or not code.strip():
            raise UpstreamRetryable("Talon.One coupon response has no Value", status=200)
        return Coupon(code=code.strip())

    def referral(
        self, *, campaign_id: int, advocate: str, timeout: float | None = None
    ) -> Referral:
        params = {"campaignId": campaign_id, "advocateProfileIntegrationId": advocate}
        body = self._get("/customer_engagement/referral", params, dry_run=self.dry_run, timeout=timeout)
        code = body.get("code")
        if not isinstance(code, str) or not code.strip():
            raise UpstreamRetryable("Talon.One referral response has no code", status=200)
        return Referral(code=code.strip())

    def loyalty(self, *, loyalty_program_id: int, profile: str, timeout: float | None = None) -> LoyaltyBalance:
        params = {"profileIntegrationId": profile, "loyaltyProgramId": loyalty_program_id}
        # X-DRY-RUN is not documented on the loyalty endpoint, and a read needs none.
        body = self._get("/customer_engagement/loyalty", params, dry_run=False, timeout=timeout)
        ledger = body.get("ledger")
        balance = ledger.get("currentBalance") if isinstance(ledger, dict) else None
        if not isinstance(balance, (int, float)) or isinstance(balance, bool):
            raise UpstreamRetryable("Talon.One loyalty response has no ledger.currentBalance", status=200)
        tier = ledger.get("currentTier") if isinstance(ledger.get("currentTier"), dict) else {}
        return LoyaltyBalance(
            balance=balance,
            tier=tier.get("name"),
            points_to_next_tier=ledger.get("pointsToNextTier"),
        )

    # -- transport

    def _get(self, path: str, params: Mapping[str, Any], *, dry_run: bool, timeout: float | None) -> dict[str, Any]:
        headers = {"X-DRY-RUN": "true"} if dry_run else None
        # A caller's deadline can only shorten the configured timeouts.
        limit = self._http.timeout
        if timeout is not None:
            limit = httpx.Timeout(
                min(limit.read or timeout, timeout),
                connect=min(limit.connect or timeout, timeout),
                pool=min(limit.pool or timeout, timeout),
            )
        with upstream_call(path.rsplit("/", 1)[-1]) as call:
            try:
                response = self._http.get(path, params=params, headers=headers, timeout=limit)
            except httpx.TimeoutException as exc:
                call["status"] = "timeout"
                raise UpstreamRetryable(f"Talon.One timed out: {type(exc).__name__}") from exc
            except httpx.TransportError as exc:
                raise UpstreamRetryable(f"Talon.One unreachable: {type(exc).__name__}: {exc}") from exc
            call["status"] = str(response.status_code)
        return _parse(response)


def _parse(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200:
        if not isinstance(body, dict):
            raise UpstreamRetryable("Talon.One answered 200 with a body that is not a JSON object", status=200)
        return body
    error = body if isinstance(body, dict) else {}
    message = error.get("Error") if isinstance(error.get("Error"), str) else response.reason_phrase
    request_uuid = error.get("RequestUUID") if isinstance(error.get("RequestUUID"), str) else None
    text = f"Talon.One {response.status_code}: {message}"
    if request_uuid:
        text += f" (RequestUUID {request_uuid})"
    exc_type = UpstreamRetryable if response.status_code in RETRYABLE_STATUSES else UpstreamPermanent
    raise exc_type(text, status=response.status_code, request_uuid=request_uuid)
