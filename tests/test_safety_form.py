"""The landing form on the internet: only mobiles of the program's countries, single-use nonces bound to
the page view, limits per client (IPv6 per /64), number and country, and a global hourly budget."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import logging
import random
import re

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from bot.form_policy import SENDABLE_TYPES, home_countries, sendable
from bot.logs import JsonFormatter
from bot.services import services_of
from bot.web import client_network
from tests.support.campaign_files import CAMPAIGNS

ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Mobile"
COUNTRIES = ("US", "CA", "GB")
BUDGET = 60


@pytest.fixture
def campaigns_text() -> str:
    return CAMPAIGNS.replace('terms_url = "https://example.com/sms-terms"\n', f'''terms_url = "https://example.com/sms-terms"
countries = {json.dumps(list(COUNTRIES))}
form_client_limit = {{ rate = 10, per_seconds = 3600, burst = 10 }}
form_country_limit = {{ rate = 1000, per_seconds = 3600, burst = 1000 }}
form_hourly_budget = {BUDGET}
upstream_limit = false
''')


@pytest.fixture
def warnings():
    """The bot's warning lines, as JSON objects."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("bot")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def served_nonce(client, slug: str = "spring", address: str = "192.0.2.1") -> str:
    """GET the page as a visitor does and read its form's nonce."""
    page = client.get(f"/q/{slug}", headers={"User-Agent": ANDROID}, environ_base={"REMOTE_ADDR": address})
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def post(client, phone: str, address: str = "192.0.2.1", nonce: str | None = None, **headers: str):
    nonce = nonce or served_nonce(client, address=address)
    return client.post("/q/spring", data={"csrf": nonce, "phone": phone, "consent": "yes"},
                       headers={"User-Agent": ANDROID, **headers}, environ_base={"REMOTE_ADDR": address})


def in_policy(number: str) -> bool:
    """The policy, restated from phonenumbers: a mobile number of one of COUNTRIES."""
    parsed = phonenumbers.parse(number, None)
    return (phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in SENDABLE_TYPES
            and phonenumbers.region_code_for_number(parsed) in COUNTRIES)


def every_type_in(regions: list[str]) -> list[str]:
    """phonenumbers' example number of each type in each region, and of each non-geographic code."""
    numbers = []
    for region, kind in itertools.product(regions, vars(PhoneNumberType).values()):
        if isinstance(kind, int):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for code in (800, 808, 870, 878, 881, 882, 883, 888, 979):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return sorted(set(numbers))


def mobiles_of_the_program(count: int) -> list[str]:
    """Distinct numbers the policy allows, in each of the program's countries."""
    found = []
    for prefix in itertools.cycle(["+1415555", "+1604555", "+447400"]):
        for _ in range(50):
            candidate = prefix + f"{random.randrange(10 ** (12 - len(prefix) + 1)):0{12 - len(prefix) + 1}d}"
            if sendable(candidate, COUNTRIES, "+15005550006").number == candidate and candidate not in found:
                found.append(candidate)
                break
        if len(found) == count:
            return found
    raise AssertionError("unreachable")


def test_the_policy_refuses_every_number_that_is_not_a_mobile_of_the_programs_countries():
    near = "+15005550006"
    assert sendable("+14155550100", COUNTRIES, near).number == "+14155550100"
    assert sendable("(415) 555-0100", COUNTRIES, near).number == "+14155550100"  # read in our number's region
    assert sendable("+447400123456", COUNTRIES, near).region == "GB"
    refused = {
        "+19005550100": "not_mobile",  # US premium rate
        "+18005550100": "not_mobile",  # toll free
        "+449012345678": "not_mobile",  # UK premium rate
        "+448431234567": "not_mobile",  # UK shared cost
        "+445512345678": "not_mobile",  # UK UAN / corporate
        "+442012345678": "not_mobile",  # UK fixed line
        "+881612345678": "country",  # a satellite mobile: in no country
        "+882130000000": "invalid",
        "+33612345678": "country",  # a French mobile: not a program country
        "hello": "invalid",
    }
    for number, why in refused.items():
        assert sendable(number, COUNTRIES, near).refusal == why, number
    assert home_countries(["+15005550006", "+447400123456", "68849"]) == ("US", "GB")


def test_ipv6_clients_are_counted_per_64():
    assert client_network("2001:db8:1:2:aaaa::1") == client_network("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network("::ffff:198.51.100.7") == "198.51.100.7"
    assert client_network("198.51.100.7") == "198.51.100.7"


def test_a_nonce_works_once_and_only_for_the_page_it_was_served_with(client, twilio):
    nonce = served_nonce(client)
    assert post(client, "+14155550100", nonce=nonce).status_code == 200
    again = post(client, "+14155550101", nonce=nonce)
    assert again.status_code == 400 and "This page has expired" in again.get_data(as_text=True)
    elsewhere = served_nonce(client, slug="club")
    other_page = post(client, "+14155550102", nonce=elsewhere)
    assert other_page.status_code == 400
    assert [m.to for m in twilio.sent()] == ["+14155550100"]


def test_every_limit_shows_the_same_polite_page_counts_and_alerts_once(client, services, twilio, warnings):
    pages = {}
    # per number: burst 2
    for _ in range(3):
        last = post(client, "+14155550100", address="198.51.100.1")
    pages["number"] = last
    # per client: burst 10, the /64 of an IPv6 address as one client
    for n in range(11):
        last = post(client, f"+1415555{200 + n:04d}", address=f"2001:db8:7:7::{n + 1:x}")
    pages["client"] = last
    for name, response in pages.items():
        assert response.status_code == 429, name
    bodies = {re.sub(r'value="[^"]*"', "", r.get_data(as_text=True)) for r in pages.values()}
    assert len(bodies) == 1  # the same page whatever the limit
    [body] = bodies
    assert "Please wait a few minutes" in body and "text <strong id=\"keyword\">SAVE</strong>" in body
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'kcb_form_limited_total{limit="number"}' in metrics and 'kcb_form_limited_total{limit="client"}' in metrics
    post(client, "+14155550100", address="198.51.100.1")  # trips the number limit again: counted, not logged
    alerts = [w for w in warnings() if w.get("event") == "form_limit"]
    assert sorted(a["limit"] for a in alerts) == ["client", "number"]


def test_the_country_limit(client, services, twilio, tmp_path, settings):
    import dataclasses

    from bot import create_app

    path = tmp_path / "country.toml"
    path.write_text(CAMPAIGNS.replace('terms_url = "https://example.com/sms-terms"\n',
                                      'terms_url = "https://example.com/sms-terms"\ncountries = ["US", "CA"]\n'
                                      'form_country_limit = { rate = 1, per_seconds = 3600, burst = 3 }\n'))
    app = create_app(dataclasses.replace(settings, campaigns_file=path))
    web = app.test_client()
    codes = [post(web, f"+1415555{300 + n:04d}", address=f"203.0.113.{n}").status_code for n in range(4)]
    canada = post(web, "+16045550142", address="203.0.113.99").status_code
    assert codes == [200, 200, 200, 429] and canada == 200
    services_of(app).issuer.close()


def test_pumping_1000_posts_from_200_addresses_to_50_countries_and_every_type(client, twilio, talon, warnings):
    random.seed(12)
    others = sorted(phonenumbers.SUPPORTED_REGIONS - set(COUNTRIES))
    regions = [*COUNTRIES, *others[:: len(others) // 47][:47]]
    assert len(set(regions)) == 50
    hostile = every_type_in(regions)  # premium, toll-free, shared cost, UAN, VoIP, pager, satellite, ...
    assert len({phonenumbers.region_code_for_number(phonenumbers.parse(n)) for n in hostile}) >= 50
    allowed = mobiles_of_the_program(400)
    addresses = [f"198.51.{n // 250}.{n % 250 + 1}" for n in range(100)] + \
                [f"2001:db8:{n:x}::{n + 1:x}" for n in range(100)]
    started = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    posted, statuses = [], []
    for n in range(1000):
        number = allowed[n % len(allowed)] if n % 2 else random.choice(hostile)
        address = addresses[n % len(addresses)]
        # X-Forwarded-For rotating: with TRUSTED_PROXY_HOPS=0 it is not believed.
        response = post(client, number, address=address, **{"X-Forwarded-For": f"10.{n % 250}.0.1"})
        posted.append(number)
        statuses.append(response.status_code)
    ended = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)

    sent = twilio.sent()
    outside = [m.to for m in sent if not in_policy(m.to)]
    hours = 1 + int((ended - started).total_seconds() // 3600)
    print(f"\npumping: {len(posted)} posts, {len(set(posted))} numbers, {len(regions)} countries, "
          f"{len(addresses)} addresses -> {len(sent)} texts, {len(outside)} outside the policy, "
          f"budget {BUDGET}/hour, {talon.coupons_created()} coupons minted")
    assert outside == []
    assert len(sent) == BUDGET * hours if hours == 1 else len(sent) <= BUDGET * hours  # the budget, to the message
    # No coupon minted for a refused post (a reply that missed its deadline is texted "on its way", minted later).
    assert 0 < talon.coupons_created() <= len(sent)
    assert statuses.count(429) > 0 and statuses.count(400) > 0
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'kcb_form_limited_total{limit="budget"}' in metrics
    assert [w["limit"] for w in warnings() if w.get("event") == "form_limit"].count("budget") == 1
