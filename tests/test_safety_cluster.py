"""A Redis Cluster that loses a node: the bot, restarted with its first seed dead, starts and serves;
the late-delivery worker keeps going through the failover."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import redis

from bot import create_app
from bot.jobs import LateJob
from bot.services import services_of
from tests.support.redis_server import RedisCluster
from tests.support.webhooks import sign, twilio_form


@pytest.fixture
def cluster():
    cluster = RedisCluster(masters=3, replicas=1).start()
    yield cluster
    cluster.cleanup()


def seeds(cluster: RedisCluster) -> str:
    return ",".join(f"redis://127.0.0.1:{node.port}" for node in cluster.nodes)


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # poll with a deadline: the failover takes the node timeout and an election
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def serves(app, sender: str) -> bool:
    client = app.test_client()
    form = twilio_form("SAVE", sender=sender)
    answer = client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    return client.get("/readyz").status_code == 200 and "Your Acme code" in answer.get_data(as_text=True)


def test_restarted_with_its_first_seed_dead_the_bot_starts_and_serves(cluster, settings, talon, twilio):
    clustered = dataclasses.replace(settings, redis_url=seeds(cluster), redis_cluster=True)
    first = cluster.nodes[0]
    assert redis.Redis(port=first.port).execute_command("ROLE")[0] == b"master"
    before = create_app(clustered)
    assert serves(before, "+14155550170")
    services = services_of(before)
    worker, stop = services.late_delivery(), threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()

    first.stop()  # the first seed, a primary, dies; its replica is promoted
    survivors = cluster.nodes[1:]
    cluster.wait_ok(survivors)
    # The worker went on through the failover: a job queued now is texted.
    job = LateJob(slug="spring", sender="+14155550171", to="+15005550006", sid="SMfailover")
    wait_for(lambda: _enqueued(services, job))
    wait_for(lambda: twilio.sent("+14155550171") != [])
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    services.issuer.close()

    after = create_app(clustered)  # the restart: the first seed in REDIS_URL is dead
    assert serves(after, "+14155550172")
    services_of(after).issuer.close()


def _enqueued(services, job: LateJob) -> bool:
    from bot.errors import StoreUnavailable

    try:
        services.store.enqueue(job.id, job.to_json())
        return True
    except StoreUnavailable:
        return False
