"""The conversation alone: `Conversation.handle` on the real Redis with the sandbox issuer, no Flask, no HTTP."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.campaign_file import load_campaigns
from bot.conversation import Conversation, InboundMessage
from bot.results import Funnel
from bot.sandbox import SandboxIssuer
from bot.store import connect
from bot.upstream import UpstreamGuard
from tests.support.campaign_files import CAMPAIGNS, first_reply
from tests.support.clock import Clock
from tests.support.webhooks import SHOP_NUMBER

SENDER = "+15551234567"
IN_MARCH = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC)
SPRING_IN_MARCH = CAMPAIGNS.replace(
    'reply = "Your Acme code',
    'starts_at = 2026-03-01T00:00:00Z\nends_at = 2026-03-31T23:59:59Z\nreply = "Your Acme code', 1,
)


@pytest.fixture
def campaigns_text() -> str:
    return SPRING_IN_MARCH


@pytest.fixture
def clock() -> Clock:
    return Clock(IN_MARCH)


@pytest.fixture
def conversation(redis_url, campaigns_file, clock):
    store = connect(redis_url, prefix="t" + uuid.uuid4().hex[:12])
    yield Conversation(
        load_campaigns(campaigns_file), store, SandboxIssuer(), secret="test-secret", clock=clock,
        guard=UpstreamGuard(store), funnel=Funnel(store, flush_s=0),
    )
    store.client.close()


def text(conversation: Conversation, body: str, *, sid: str | None = None, sender: str = SENDER):
    message = InboundMessage(sid=sid or f"SM{uuid.uuid4().hex}", sender=sender, to=SHOP_NUMBER, body=body)
    return conversation.handle(message)


def test_a_keyword_gets_a_code(conversation):
    reply = text(conversation, "save")
    assert reply.outcome == "issued" and reply.campaign == "spring"
    assert reply.code.startswith("DEMO-")
    assert reply.text == first_reply(f"Your Acme code: {reply.code}. Show it at the till.")


def test_a_repeat_gets_the_same_code_and_another_sender_another(conversation):
    first = text(conversation, "SAVE")
    again = text(conversation, "SPRING")
    assert again.outcome == "repeat" and again.code == first.code
    assert first.text == first_reply(again.text) and again.text == f"Your Acme code: {first.code}. Show it at the till."
    assert text(conversation, "SAVE", sender="+15557654321").code != first.code


def test_after_stop_a_keyword_gets_nothing(conversation):
    assert text(conversation, "STOP").outcome == "opt_out"
    reply = text(conversation, "SAVE")
    assert (reply.text, reply.outcome) == (None, "opted_out")


def test_an_unknown_word_gets_the_fallback(conversation):
    reply = text(conversation, "HELLO THERE")
    assert reply.outcome == "unknown"
    assert reply.text == first_reply("Sorry, we don't know that word. Text HELP for help.")


def test_a_replayed_sid_gets_the_identical_reply(conversation):
    first = text(conversation, "SAVE", sid="SMreplayed0001")
    replay = text(conversation, "SAVE", sid="SMreplayed0001")
    assert replay.outcome == "replayed" and replay.text == first.text
    fallback = text(conversation, "HELLO", sid="SMreplayed0002")
    assert text(conversation, "HELLO", sid="SMreplayed0002").text == fallback.text


def test_the_injected_clock_decides_the_campaigns_window(conversation, clock):
    clock.now = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    reply = text(conversation, "SAVE")
    assert (reply.outcome, reply.code) == ("ended", None)
    assert reply.text == first_reply("Acme Rewards: sorry, this offer has ended.")
    clock.now = IN_MARCH
    assert text(conversation, "SAVE").outcome == "issued"
