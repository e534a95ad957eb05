"""Competition entries by SMS, WhatsApp and the landing form: once per person, on Redis's clock, with the rules."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io

import pytest

from bot import create_app
from bot.competitions import export_entries
from bot.conversation import InboundMessage
from bot.landing import FORM_TTL_MS
from bot.services import services_of
from tests.support.campaign_files import first_reply
from tests.support.clock import Clock
from tests.support.competition import RULES_URL, competition_file
from tests.support.twiml import reply as message_text
from tests.support.webhooks import SHOP_NUMBER, new_sid

ANNA = "+12125550100"
BEN = "+14155550100"


@pytest.fixture
def campaigns_text() -> str:
    return competition_file()


def exported(services, *, hash_numbers: bool = False) -> list[dict[str, str]]:
    out = io.StringIO()
    export_entries(services.store, services.settings.bot_secret, services.book.by_slug("prize"), out,
                   hash_numbers=hash_numbers)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def app_with(settings, tmp_path, text: str):
    path = tmp_path / "other.toml"
    path.write_text(text)
    app = create_app(dataclasses.replace(settings, campaigns_file=path))
    app.config["TESTING"] = True
    return app


def test_a_keyword_enters_once_and_the_reply_carries_the_rules(text, services, talon):
    first = message_text(text("WIN", sender=ANNA))
    again = message_text(text("win!", sender=ANNA))
    other = message_text(text("WIN", sender=BEN))
    assert first.startswith("Acme prize draw: you are entry 1. Your code: ")
    assert again.endswith(f"No purchase necessary. Rules: {RULES_URL}")
    assert first == first_reply(again)  # a duplicate: the same reply (the first with the notice), the same entry
    assert "entry 2." in other
    calls = talon.calls("/customer_engagement/coupon")
    assert [c.param("identifier") for c in calls] == [ANNA, BEN]
    rows = exported(services)
    assert [(r["entry"], r["number"], r["channel"], r["poster"], r["nth"]) for r in rows] == [
        ("1", ANNA, "sms", "none", "1"), ("2", BEN, "sms", "none", "1"),
    ]


def test_a_template_with_the_wording_is_sent_as_written(settings, tmp_path):
    text = competition_file().replace(
        'reply = "Acme prize draw: you are entry {{ entry }}. Your code: {{ code }}."',
        f'reply = "Entry {{{{ entry }}}}, code {{{{ code }}}}. No purchase necessary; rules {RULES_URL}"',
    )
    app = app_with(settings, tmp_path, text)
    services = services_of(app)
    reply = services.conversation.handle(InboundMessage(new_sid(), ANNA, SHOP_NUMBER, "WIN"))
    assert reply.text == first_reply(f"Entry 1, code {reply.code}. No purchase necessary; rules {RULES_URL}")
    services.issuer.close()


def test_more_entries_per_person_up_to_the_limit(settings, tmp_path):
    app = app_with(settings, tmp_path, competition_file(extra="max_entries_per_person = 2"))
    services = services_of(app)
    replies = [services.conversation.handle(InboundMessage(new_sid(), ANNA, SHOP_NUMBER, "WIN")) for _ in range(3)]
    assert [r.outcome for r in replies] == ["entered", "entered", "entry_repeat"]
    assert ["entry 1." in replies[0].text, "entry 2." in replies[1].text, "entry 2." in replies[2].text] == [True] * 3
    assert [(r["entry"], r["nth"]) for r in exported(services)] == [("1", "1"), ("2", "2")]
    services.issuer.close()


def test_whatsapp_and_poster_references_are_recorded(text, services):
    text("WIN P9", sender="whatsapp:" + BEN)
    [row] = exported(services)
    assert (row["number"], row["channel"], row["poster"]) == (BEN, "whatsapp", "unlisted")
    [hashed] = exported(services, hash_numbers=True)
    assert "number" not in hashed and hashed["entry_id"] == row["entry_id"] and BEN not in str(hashed)


def test_the_landing_form_enters_the_same_way_and_texts_the_reply(client, services, twilio):
    form = {"csrf": services.store.issue_form_nonce("prize", FORM_TTL_MS), "phone": ANNA, "consent": "yes"}
    page = client.post("/q/prize", data=form)
    assert page.status_code == 200
    [sent] = twilio.messages
    assert sent.to == ANNA and "entry 1." in sent.body and "No purchase necessary" in sent.body
    # The same person by SMS afterwards: the same entry, not a second one.
    by_sms = services.conversation.handle(InboundMessage(new_sid(), ANNA, SHOP_NUMBER, "WIN"))
    assert sent.body == first_reply(by_sms.text) and by_sms.outcome == "entry_repeat"
    [row] = exported(services)
    assert (row["entry"], row["channel"]) == ("1", "web")


def test_after_the_end_on_redis_clock_the_closed_reply_whatever_the_app_clock(settings, tmp_path, talon):
    app = app_with(settings, tmp_path, competition_file(opens=dt.timedelta(hours=-2), closes=dt.timedelta(seconds=-1)))
    services = services_of(app)
    # The app's clock says the competition is open; Redis's clock decides: it has ended.
    services.conversation.clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    reply = services.conversation.handle(InboundMessage(new_sid(), ANNA, SHOP_NUMBER, "WIN"))
    assert reply.outcome == "ended"
    assert reply.text == first_reply(f"Acme Rewards: sorry, this competition is closed. Rules: {RULES_URL}")
    assert exported(services) == [] and talon.calls("/customer_engagement/coupon") == []
    services.issuer.close()


def test_before_the_start_on_redis_clock_not_yet_whatever_the_app_clock(settings, tmp_path, talon):
    app = app_with(settings, tmp_path, competition_file(opens=dt.timedelta(hours=1), closes=dt.timedelta(hours=2)))
    services = services_of(app)
    services.conversation.clock = Clock(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, minutes=30))
    reply = services.conversation.handle(InboundMessage(new_sid(), ANNA, SHOP_NUMBER, "WIN"))
    assert reply.outcome == "not_started" and "has not opened yet" in reply.text
    assert exported(services) == []
    services.issuer.close()


def test_app_clock_past_the_end_while_redis_clock_is_inside_still_enters(settings, tmp_path):
    app = app_with(settings, tmp_path, competition_file())
    services = services_of(app)
    services.conversation.clock = Clock(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    reply = services.conversation.handle(InboundMessage(new_sid(), ANNA, SHOP_NUMBER, "WIN"))
    assert reply.outcome == "entered" and "entry 1." in reply.text
    services.issuer.close()


def test_a_number_that_is_not_a_person_does_not_enter(services):
    reply = services.conversation.handle(InboundMessage(new_sid(), "ACME", SHOP_NUMBER, "WIN"))
    assert reply.outcome == "unknown" and exported(services) == []


def test_entries_are_counted_in_metrics(client, text):
    text("WIN", sender=ANNA)
    text("WIN", sender=ANNA)
    body = client.get("/metrics").get_data(as_text=True)
    entered = 'kcb_competition_entries_total{campaign="prize",channel="sms",outcome="entered"}'
    repeat = 'kcb_competition_entries_total{campaign="prize",channel="sms",outcome="repeat"}'
    assert entered in body and repeat in body
