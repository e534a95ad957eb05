"""The marketer login under brute force, the scan flood in fixed space, and the headers every page carries."""

from __future__ import annotations

import base64
import dataclasses
import uuid

import pytest
import redis

from bot import create_app
from bot.campaign_file import load_campaigns
from bot.scans import SCAN_LIMIT, record_scan, today
from bot.services import services_of
from bot.store import connect

PASSWORD = "correct horse battery staple"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Mobile"


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"marketer:{password}".encode()).decode()}


@pytest.fixture
def marketer_client(settings):
    app = create_app(dataclasses.replace(settings, marketer_password=PASSWORD, metrics_token="scrape-token-123"))
    yield app.test_client()
    services_of(app).issuer.close()


def test_the_right_password_is_refused_while_locked(marketer_client):
    attacker = {"REMOTE_ADDR": "203.0.113.5"}
    assert marketer_client.get("/marketer/results", headers=basic(PASSWORD), environ_base=attacker).status_code == 200
    guesses = [marketer_client.get("/marketer/results", headers=basic(f"guess-{n:04d}-wrong"),
                                   environ_base=attacker).status_code for n in range(15)]
    assert guesses == [401] * 10 + [429] * 5
    locked = marketer_client.get("/marketer/results", headers=basic(PASSWORD), environ_base=attacker)
    assert locked.status_code == 429  # the right password tells the attacker nothing while locked
    assert locked.get_data() == marketer_client.get("/marketer/results", headers=basic("x" * 40),
                                                    environ_base=attacker).get_data()
    # Another client is not locked by this one, and right passwords cost nothing.
    other = {"REMOTE_ADDR": "198.51.100.20"}
    assert [marketer_client.get("/marketer/results", headers=basic(PASSWORD), environ_base=other).status_code
            for _ in range(20)] == [200] * 20


def test_the_global_failure_budget_locks_every_client(marketer_client):
    codes = []
    for n in range(120):  # 12 addresses, 10 wrong guesses each: past the global budget of 100
        address = {"REMOTE_ADDR": f"2001:db8:{n // 10:x}::1"}
        answer = marketer_client.get("/marketer/results", headers=basic(f"wrong-{n}"), environ_base=address)
        codes.append(answer.status_code)
    assert codes[:100] == [401] * 100 and set(codes[100:]) == {429}
    fresh = {"REMOTE_ADDR": "192.0.2.200"}
    assert marketer_client.get("/marketer/results", headers=basic(PASSWORD), environ_base=fresh).status_code == 429


def test_metrics_need_the_token_when_one_is_set(marketer_client):
    assert marketer_client.get("/metrics").status_code == 401
    assert marketer_client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = marketer_client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert scraped.status_code == 200 and b"kcb_texts" in scraped.data


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/q/spring", "/q/nope", "/marketer/", "/sms"])
def test_every_response_says_nosniff(marketer_client, path):
    response = marketer_client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff", (path, response.status_code)


def test_readyz_is_503_when_the_campaign_file_is_gone(client, settings):
    assert client.get("/readyz").status_code == 200
    settings.campaigns_file.write_text("[program]\nname = 1\n")
    broken = client.get("/readyz")
    assert broken.status_code == 503 and broken.json["checks"]["campaigns"] is False
    settings.campaigns_file.unlink()
    assert client.get("/readyz").status_code == 503


def redis_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def test_100000_scans_with_distinct_user_agents_grow_redis_by_less_than_100_kb(redis_url, campaigns_file):
    book = load_campaigns(campaigns_file)
    campaign = book.campaigns[0]
    store = connect(redis_url, prefix="f" + uuid.uuid4().hex[:12])
    raw = redis.Redis.from_url(redis_url)
    record_scan(store, "s", campaign, "none", "192.0.2.1", ANDROID, campaign.slug)  # the day's keys exist
    before = redis_memory(raw)
    for n in range(100_000):
        record_scan(store, "s", campaign, "none", f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                    f"{ANDROID} build/{n}", campaign.slug)
    grown = redis_memory(raw) - before
    keys = [k for k in raw.scan_iter(match=f"{store.prefix}:*")]
    own = sum(raw.memory_usage(k) or 0 for k in keys)
    unique = store.unique_visitors(today(), campaign.slug, "none")
    print(f"\nflood: 100,000 scans -> Redis grew {grown} B, the bot's {len(keys)} keys use {own} B, "
          f"{unique} unique visitors estimated")
    assert grown < 100 * 1024 and own < 100 * 1024
    assert len(keys) == 2  # the day's HyperLogLog and the hour's funnel bucket
    assert abs(unique - 100_001) < 100_001 * 0.03  # HyperLogLog: 0.81% standard error
    [row] = store.poster_stats().values()
    assert row["scans"] == 100_001 and abs(row["unique"] - 100_001) < 100_001 * 0.03


def test_the_scan_route_counts_in_the_hyperloglog_and_limits_each_client(client, services):
    for n in range(SCAN_LIMIT.burst):
        assert client.get("/q/spring", headers={"User-Agent": f"{ANDROID} {n}"}).status_code == 200
    refused = client.get("/q/spring", headers={"User-Agent": ANDROID})
    assert refused.status_code == 429 and "Please wait a few minutes" in refused.get_data(as_text=True)
    other = client.get("/q/spring", headers={"User-Agent": ANDROID}, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 200
    assert services.store.unique_visitors(today(), "spring", "none") == SCAN_LIMIT.burst + 1
    assert services.store.poster_stats()[("spring", "none")] == {
        "scans": SCAN_LIMIT.burst + 1, "unique": SCAN_LIMIT.burst + 1, "texts": 0}
