"""Redis cost per webhook: round trips and time, per conversation path.

Runs the real webhook (Flask, signature check, conversation, store) in
process against a redis-server of its own on loopback and the Talon.One
stand-in, and counts every round trip at the connection. The baseline in the
same run is the floor the issue sets: the two raw round trips any dedupe +
limit webhook pays (SET NX, then one EVALSHA), on the same connection class.

    python bench/redis_cost.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from redis.connection import Connection  # noqa: E402

from bot import Settings, create_app  # noqa: E402
from bot.campaigns import CampaignBook  # noqa: E402
from bot.conversation import reply_version  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.store import CachedReply, ConsentEvent, OneCallPacker, Store  # noqa: E402
from tests.support.campaign_files import CAMPAIGNS  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.talon_stub import TalonStub  # noqa: E402
from tests.support.webhooks import sign, twilio_form  # noqa: E402


class Meter:
    round_trips = 0
    seconds = 0.0
    _started = 0.0

    @classmethod
    def reset(cls) -> None:
        cls.round_trips, cls.seconds = 0, 0.0


class CountingConnection(Connection):
    """Counts each command (or pipeline) sent and the time until its reply is read."""

    def send_packed_command(self, command, check_health=True):
        Meter.round_trips += 1
        Meter._started = time.perf_counter()
        return super().send_packed_command(command, check_health)

    def read_response(self, *args, **kwargs):
        try:
            return super().read_response(*args, **kwargs)
        finally:
            Meter.seconds += time.perf_counter() - Meter._started


#: The auth token and public URL of the in-process app: sign webhooks for it with these.
TOKEN = "bench-token"
PUBLIC_URL = "https://bot.example.com"


def in_process_app(server: RedisServer, talon: TalonStub, pool: redis.ConnectionPool | None = None):
    """The real bot (Flask app, services, store) against `server` and `talon`, limits out of the way."""
    campaigns = Path(server.dir) / "campaigns.toml"
    campaigns.write_text(CAMPAIGNS.replace(
        'terms_url = "https://example.com/sms-terms"',
        'terms_url = "https://example.com/sms-terms"\n'
        "sender_limit = { rate = 100000, per_seconds = 1, burst = 100000 }\n"
        "upstream_limit = { rate = 100000, per_seconds = 1, burst = 100000 }",
    ))
    settings = Settings(
        campaigns_file=campaigns, redis_url=server.url, redis_key_prefix="bench",
        talon_api_key="bench", talon_deployment="bench.talon.one", talon_base_url=talon.url,
        twilio_auth_token=TOKEN, public_base_url=PUBLIC_URL, bot_secret="bench",
    )
    pool = pool or redis.ConnectionPool.from_url(server.url, command_packer=OneCallPacker())  # as `connect` does
    store = Store(redis.Redis(connection_pool=pool), prefix="bench")
    return create_app(services=Services.build(settings, store=store))


def seed_repeat_texter(store: Store, sender: str, book: CampaignBook, *, slug: str = "spring",
                       code: str = "T1-CACHED") -> None:
    """What the bot's first issuance stores for `sender`, in the same Store.finish call: the code, the
    consent log's opt-in source, the opt-in confirmation sent, and the reply cached with the code."""
    campaign = book.by_slug(slug)
    assert campaign is not None
    text = campaign.reply.render(**campaign.template_context(), program={"name": book.program.name}, code=code)
    store.finish(
        f"SM{uuid.uuid4().hex}", sender, "first reply", slug=slug, code=code,
        consent=ConsentEvent("opt_in_source", dt.datetime.now(dt.UTC), "SAVE", slug, "sms"), noticed=True,
        cached_reply=CachedReply(reply_version(campaign, book.program), code, text),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="webhooks per path (bounded)")
    args = parser.parse_args()
    n = max(50, min(args.requests, 20000))

    server = RedisServer().start()
    talon = TalonStub().start()
    try:
        pool = redis.ConnectionPool.from_url(server.url, connection_class=CountingConnection)
        app = in_process_app(server, talon, pool)
        logging.getLogger("bot").setLevel(logging.WARNING)  # one JSON line per webhook would flood the table
        client = app.test_client()

        def webhook(body: str, sender: str, sid: str | None = None) -> tuple[int, float, float]:
            form = twilio_form(body, sender=sender, sid=sid)
            headers = {"X-Twilio-Signature": sign(form, token=TOKEN)}
            Meter.reset()
            started = time.perf_counter()
            response = client.post("/sms", data=form, headers=headers)
            total = time.perf_counter() - started
            assert response.status_code == 200
            return Meter.round_trips, Meter.seconds, total

        # Warm up: scripts loaded, connections open.
        for i in range(20):
            webhook("SAVE", f"+1555{i:07d}")

        paths: dict[str, list[tuple[int, float, float]]] = {}
        paths["repeat texter (cached code)"] = [webhook("SAVE", "+15550000001") for _ in range(n)]
        paths["first-time texter (issues)"] = [webhook("SAVE", f"+1666{i:07d}") for i in range(n)]
        paths["unknown word"] = [webhook("PIZZA", "+15550000002") for _ in range(n)]
        sid = "SM" + uuid.uuid4().hex
        webhook("SAVE", "+15550000003", sid)
        paths["replayed delivery"] = [webhook("SAVE", "+15550000003", sid) for _ in range(n)]

        # Baseline: the two raw round trips of a minimal dedupe + limit webhook.
        raw = redis.Redis(connection_pool=pool)
        limit = raw.register_script(
            "local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('EXPIRE', KEYS[1], 60) end return c"
        )
        limit(keys=["bench:warm"], args=[])
        baseline = []
        for i in range(n):
            Meter.reset()
            raw.set(f"bench:dedupe:{uuid.uuid4().hex}", 1, nx=True, ex=86400)
            limit(keys=[f"bench:limit:{i % 50}"], args=[])
            baseline.append((Meter.round_trips, Meter.seconds, Meter.seconds))
    finally:
        talon.close()
        server.cleanup()

    base_us = statistics.median(s for _, s, _ in baseline) * 1e6
    print(f"Redis cost per webhook ({n} webhooks per path, redis-server on loopback, in-process Flask)")
    print(f"{'path':32} {'round trips':>11} {'redis p50 µs':>13} {'redis p99 µs':>13}"
          f" {'webhook p50 µs':>15} {'redis/baseline':>15}")
    for name, rows in [*paths.items(), ("baseline: SET NX + EVALSHA", baseline)]:
        trips = statistics.median(r for r, _, _ in rows)
        redis_s = [s for _, s, _ in rows]
        total_s = [t for _, _, t in rows]
        p50 = statistics.median(redis_s) * 1e6
        print(
            f"{name:32} {trips:>11.0f} {p50:>13.0f} {percentile(redis_s, 0.99) * 1e6:>13.0f} "
            f"{statistics.median(total_s) * 1e6:>15.0f} {p50 / base_us:>14.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
