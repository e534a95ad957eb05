"""Talon.One's client alone, over `httpx.MockTransport`: what it sends, what it reads, how errors map."""

from __future__ import annotations

import httpx
import pytest

from bot.errors import UpstreamPermanent, UpstreamRetryable
from bot.issuing import Coupon, LoyaltyBalance, Referral
from bot.talon import TalonClient

DEPLOYMENT = "acme.europe-west1.talon.one"


class Upstream:
    """Answers every request with `response` and keeps the requests it saw."""

    def __init__(self, response: httpx.Response | Exception):
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def client_for(upstream: Upstream, **options) -> TalonClient:
    return TalonClient(api_key="cep-key", deployment=DEPLOYMENT, platform_name="kcb-tests",
                       transport=httpx.MockTransport(upstream), **options)


def ask_coupon(client: TalonClient) -> Coupon:
    return client.coupon(
        application_id=12, campaign_id=345, external_campaign_id="sms-spring", identifier="+15551234567"
    )


def test_a_coupon_request_carries_the_key_the_platform_and_the_deployment():
    upstream = Upstream(httpx.Response(200, json={"ID": 9, "Value": "SPRING-7QX"}))
    ask_coupon(client_for(upstream))
    [request] = upstream.requests
    assert request.method == "GET"
    assert request.url.path == "/customer_engagement/coupon"
    assert dict(request.url.params) == {
        "applicationId": "12", "campaignId": "345", "externalCampaignId": "sms-spring", "identifier": "+15551234567",
    }
    assert request.headers["Authorization"] == "ApiKey-v1 cep-key"
    assert request.headers["customer-engagement-platform-name"] == "kcb-tests"
    assert request.headers["destination-hostname"] == DEPLOYMENT
    assert request.headers["Accept"] == "application/json"
    assert "X-DRY-RUN" not in request.headers


def test_dry_run_marks_issuing_calls_but_not_the_balance_read():
    upstream = Upstream(httpx.Response(200, json={"Value": "X", "code": "R", "ledger": {"currentBalance": 1}}))
    client = client_for(upstream, dry_run=True)
    ask_coupon(client)
    client.referral(campaign_id=347, advocate="+15551234567")
    client.loyalty(loyalty_program_id=7, profile="+15551234567")
    assert [r.headers.get("X-DRY-RUN") for r in upstream.requests] == ["true", "true", None]


def test_the_coupon_code_is_read_from_pascal_case_value():
    upstream = Upstream(httpx.Response(200, json={"ID": 9, "Value": " SPRING-7QX ", "ExpiryDate": None}))
    assert ask_coupon(client_for(upstream)) == Coupon(code="SPRING-7QX")


def test_a_coupon_without_value_is_worth_retrying():
    upstream = Upstream(httpx.Response(200, json={"value": "camelCase-is-not-the-coupon-format"}))
    with pytest.raises(UpstreamRetryable, match="no Value") as caught:
        ask_coupon(client_for(upstream))
    assert caught.value.status == 200


def test_referral_and_loyalty_are_read_from_camel_case():
    referral = Upstream(httpx.Response(200, json={"code": "REF-123", "campaignId": 347}))
    assert client_for(referral).referral(campaign_id=347, advocate="+15551234567") == Referral(code="REF-123")
    assert dict(referral.requests[0].url.params) == {
        "campaignId": "347", "advocateProfileIntegrationId": "+15551234567"
    }
    ledger = {"currentBalance": 120.5, "pendingBalance": 3, "currentTier": {"name": "Gold"}, "pointsToNextTier": 80}
    loyalty = Upstream(httpx.Response(200, json={"ledger": ledger}))
    balance = client_for(loyalty).loyalty(loyalty_program_id=7, profile="+15551234567")
    assert balance == LoyaltyBalance(balance=120.5, tier="Gold", points_to_next_tier=80)


@pytest.mark.parametrize(("status", "error_type"), [
    (429, UpstreamRetryable), (409, UpstreamRetryable), (503, UpstreamRetryable),
    (400, UpstreamPermanent), (401, UpstreamPermanent), (404, UpstreamPermanent),
])
def test_an_error_body_maps_to_retryable_or_permanent(status, error_type):
    body = {"StatusCode": status, "Error": "something went wrong upstream", "RequestUUID": "c0ffee-42"}
    with pytest.raises(error_type) as caught:
        ask_coupon(client_for(Upstream(httpx.Response(status, json=body))))
    error = caught.value
    assert type(error) is error_type
    assert (error.status, error.request_uuid) == (status, "c0ffee-42")
    assert str(error) == f"Talon.One {status}: something went wrong upstream (RequestUUID c0ffee-42)"


def test_an_error_without_a_json_body_is_named_by_its_reason():
    upstream = Upstream(httpx.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(UpstreamRetryable) as caught:
        ask_coupon(client_for(upstream))
    assert str(caught.value) == "Talon.One 502: Bad Gateway"
    assert caught.value.request_uuid is None


@pytest.mark.parametrize(("failure", "message"), [
    (httpx.ReadTimeout("read timed out"), "Talon.One timed out: ReadTimeout"),
    (httpx.ConnectError("connection refused"), "Talon.One unreachable: ConnectError: connection refused"),
])
def test_a_transport_failure_is_worth_retrying(failure, message):
    with pytest.raises(UpstreamRetryable) as caught:
        ask_coupon(client_for(Upstream(failure)))
    assert str(caught.value) == message and caught.value.status is None
