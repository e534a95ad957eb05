"""Fault test (issue 11): 1,000 mixed texts through the real app while Redis is killed and restarted EMPTY
twice; a Redis Cluster master failover. Prints and asserts: 0 texts after a STOP, 0 lost opt-outs,
0 HTTP 500, 0 double coupons."""

from __future__ import annotations

import dataclasses
import random
import re
import uuid
from collections import defaultdict

import pytest

from bot import create_app
from bot.compliance import ComplianceWord, recognise
from bot.services import services_of
from tests.support.redis_server import RedisCluster, RedisServer
from tests.support.twiml import reply
from tests.support.webhooks import sign, twilio_form

CODE = re.compile(r"\b(T1-\d{5}|REF\d{4})\b")
CONFIRMATIONS = ("you are unsubscribed", "you are subscribed again")
WORDS = (["SAVE"] * 30 + ["REFER"] * 8 + ["PIZZA"] * 5 + ["HELP"] * 5 + ["STOP"] * 12 + ["START"] * 8
         + ["stop texting me"] * 4 + ["Unsubscribe me"] * 3 + ["Start please"] * 2 + ["quit"] * 2)


@dataclasses.dataclass
class Tally:
    texts: int = 0
    http_500: int = 0
    after_stop: int = 0
    double_coupons: int = 0
    lost_opt_outs: int = 0

    def print(self, label: str) -> None:
        print(f"\n{label}: {self.texts} texts, {self.after_stop} texts after a STOP, {self.lost_opt_outs} lost "
              f"opt-outs, {self.http_500} HTTP 500, {self.double_coupons} double coupons")

    def assert_clean(self) -> None:
        assert (self.after_stop, self.lost_opt_outs, self.http_500, self.double_coupons) == (0, 0, 0, 0), self


class Run:
    """Texts posted one after another (Twilio's order), with the expected opt-out state per number."""

    def __init__(self, client, rng: random.Random, numbers: int):
        self.client = client
        self.rng = rng
        self.numbers = [f"+1555{n:07d}" for n in rng.sample(range(10**6, 10**7), numbers)]
        self.out: dict[str, bool] = {}
        self.codes: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.sent: list[dict[str, str]] = []
        self.starts: list[dict[str, str]] = []
        self.tally = Tally()
        self.history = defaultdict(list)

    def post(self, form: dict[str, str], *, new: bool = True) -> None:
        response = self.client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
        self.tally.texts += 1
        if response.status_code >= 500:
            self.tally.http_500 += 1
            return
        text = reply(response)
        sender, heard = form["From"], recognise(form["Body"])
        if new and heard is not None and heard.word is not ComplianceWord.HELP:
            self.out[sender] = heard.word is ComplianceWord.STOP
            if heard.word is ComplianceWord.START:
                self.starts.append(form)
        was_out = self.out.get(sender, False)
        if text and was_out and not text.startswith(self.help_prefix) and not any(c in text for c in CONFIRMATIONS):
            self.tally.after_stop += 1
            print(f"text after a STOP: {form['Body']!r} (new={new}) got {text!r}")
            for line in self.history[sender][-3:]:
                print("    before:", line)
        self.history[sender].append((self.tally.texts, form["Body"], new, text))
        found = CODE.search(text or "")
        if found:
            self.codes[(sender, form["Body"].upper())].add(found.group(1))
        if new:
            self.sent.append(form)

    help_prefix = "Acme Rewards: text SAVE"

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.05 and self.sent:
            self.post(dict(self.rng.choice(self.sent)), new=False)  # Twilio delivering a MessageSid again
        elif roll < 0.07 and self.starts:
            self.post(dict(self.rng.choice(self.starts)), new=False)  # a captured signed START, replayed later
        else:
            self.post(twilio_form(self.rng.choice(WORDS), sender=self.rng.choice(self.numbers)))

    def finish(self, store) -> Tally:
        self.tally.double_coupons = sum(len(codes) - 1 for codes in self.codes.values() if len(codes) > 1)
        self.tally.lost_opt_outs = sum(1 for number, out in self.out.items() if out and not store.is_opted_out(number))
        return self.tally


def app_on(settings, redis_url: str, *, cluster: bool = False):
    # funnel_flush_s=0: the results funnel's background writer would race `server_empty` after a restart.
    settings = dataclasses.replace(settings, redis_url=redis_url, redis_cluster=cluster, funnel_flush_s=0,
                                   redis_key_prefix="f" + uuid.uuid4().hex[:8])
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def test_a_thousand_texts_with_redis_restarted_empty_twice(settings, talon):
    server = RedisServer().start()
    try:
        app = app_on(settings, server.url)
        run = Run(app.test_client(), random.Random(11), numbers=60)
        for i in range(1000):
            if i in (250, 600):
                server.stop()  # killed: nothing it held survives (no persistence)
            if i in (330, 680):
                server.start()  # back, EMPTY
                assert server_empty(server)
            run.step()
        tally = run.finish(services_of(app).store)
        tally.print("redis restarted empty twice")
        tally.assert_clean()
        assert sum(run.out.values()) > 10  # the run did opt numbers out
        services_of(app).issuer.close()
    finally:
        server.cleanup()


def server_empty(server: RedisServer) -> bool:
    import redis

    client = redis.Redis(port=server.port)
    try:
        return client.dbsize() == 0
    finally:
        client.close()


@pytest.fixture
def cluster_with_replicas():
    cluster = RedisCluster(masters=3, replicas=1).start()
    yield cluster
    cluster.cleanup()


def test_texts_through_a_cluster_master_failover(settings, talon, cluster_with_replicas):
    cluster = cluster_with_replicas
    app = app_on(settings, cluster.url, cluster=True)
    run = Run(app.test_client(), random.Random(12), numbers=40)
    for i in range(300):
        if i == 120:
            cluster.kill_master()  # by PID: its unreplicated writes are lost, its replica takes over
        if i == 160:
            cluster.wait_until_ok()
        run.step()
    tally = run.finish(services_of(app).store)
    tally.print("cluster master failover")
    tally.assert_clean()
    services_of(app).issuer.close()
