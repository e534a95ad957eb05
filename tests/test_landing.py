"""GET /q/<slug>: scans counted (not crawlers, not HEAD), the landing page, and the "text me my code" form."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from bot import create_app
from bot.landing import sms_link
from bot.services import services_of
from tests.support.bot_process import clean_environ
from tests.support.browser import ANDROID, IPHONE
from tests.support.campaign_files import WITH_POSTERS, first_reply
from tests.support.landing import CUSTOMER, form_for
from tests.support.twilio_stub import twilio_error
from tests.support.webhooks import ACCOUNT_SID, sign, twilio_form


@pytest.fixture
def qr_app(settings, tmp_path):
    path = tmp_path / "posters.toml"
    path.write_text(WITH_POSTERS)
    app = create_app(dataclasses.replace(settings, campaigns_file=path))
    app.config["TESTING"] = True
    yield app
    services_of(app).issuer.close()


@pytest.fixture
def qr_client(qr_app):
    return qr_app.test_client()


def stats(app) -> dict:
    services_of(app).conversation.funnel.flush()  # texts are counted in the funnel, written once a second
    return services_of(app).store.poster_stats()


def test_sms_link_per_user_agent():
    assert sms_link("+15005550006", "SAVE P7", IPHONE) == "sms:+15005550006&body=SAVE%20P7"
    assert sms_link("12345", "SAVE", ANDROID) == "sms:12345?body=SAVE"
    assert sms_link("12345", "SAVE", None) == "sms:12345?body=SAVE"


def test_a_scan_is_counted_once_per_visitor_a_day_and_the_page_is_not_cached(qr_app, qr_client):
    first = qr_client.get("/q/spring", headers={"User-Agent": IPHONE})
    again = qr_client.get("/q/spring", headers={"User-Agent": IPHONE})
    other = qr_client.get("/q/spring", headers={"User-Agent": ANDROID})
    for response in (first, again, other):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
    assert stats(qr_app)[("spring", "none")] == {"scans": 3, "unique": 2, "texts": 0}
    page = first.get_data(as_text=True)
    assert 'href="sms:+15005550006&amp;body=SAVE"' in page
    assert 'id="keyword">SAVE</strong>' in page
    assert 'href="sms:+15005550006?body=SAVE"' in other.get_data(as_text=True)


@pytest.mark.parametrize("user_agent", [
    None, "", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "WhatsApp/2.23.20.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.5.0",
])
def test_crawlers_and_link_previews_are_not_counted(qr_app, qr_client, user_agent):
    headers = {"User-Agent": user_agent} if user_agent is not None else {}
    response = qr_client.get(
        "/q/spring-main-street", headers=headers, environ_base={"HTTP_USER_AGENT": user_agent or ""}
    )
    assert response.status_code == 200  # a preview still gets the page
    assert stats(qr_app) == {}


def test_head_is_never_counted(qr_app, qr_client):
    assert qr_client.head("/q/spring", headers={"User-Agent": IPHONE}).status_code == 200
    assert stats(qr_app) == {}


def test_no_ip_is_stored(qr_app, qr_client, redis_url):
    import redis

    qr_client.get("/q/spring", headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": "203.0.113.77"})
    store = services_of(qr_app).store
    client = redis.Redis.from_url(redis_url)
    dump = b"".join(
        repr(client.dump(key)).encode() + key for key in client.scan_iter(match=f"{store.prefix}:*")
    )
    assert b"203.0.113.77" not in dump and dump  # something was stored, never the address


def test_a_poster_slug_is_case_insensitive_and_prefills_its_ref(qr_app, qr_client):
    response = qr_client.get("/q/SPRING-MAIN-STREET", headers={"User-Agent": ANDROID})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Main Street: 10% off" in page
    assert 'href="sms:+15005550006?body=SAVE%20P7"' in page
    assert stats(qr_app)[("spring", "spring-main-street")]["scans"] == 1


def test_unknown_slug_is_a_404_page(qr_app, qr_client):
    response = qr_client.get("/q/nope", headers={"User-Agent": IPHONE})
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"
    assert "not (or no longer) in use" in response.get_data(as_text=True)
    assert stats(qr_app) == {}


def test_a_poster_ref_after_the_keyword_is_attributed_and_still_matches(qr_app, qr_client):
    def text(body: str, sender: str):
        form = twilio_form(body, sender=sender)
        return qr_client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})

    assert "Your Acme code: T1-" in text("save p7", "+14155550101").get_data(as_text=True)
    assert "Your Acme code: T1-" in text("SAVE Q9", "+14155550102").get_data(as_text=True)
    assert "Your Acme code: T1-" in text("SAVE please", "+14155550103").get_data(as_text=True)
    counted = stats(qr_app)
    assert counted[("spring", "spring-main-street")]["texts"] == 1
    assert counted[("spring", "unlisted")]["texts"] == 1
    assert sum(row["texts"] for row in counted.values()) == 2  # "please" is no reference
    metrics = qr_client.get("/metrics").get_data(as_text=True)
    assert 'kcb_poster_texts_total{campaign="spring",poster="spring-main-street"}' in metrics


def test_scans_show_in_metrics(qr_client):
    qr_client.get("/q/spring-harbour", headers={"User-Agent": IPHONE})
    metrics = qr_client.get("/metrics").get_data(as_text=True)
    assert 'kcb_scans_total{campaign="spring",poster="spring-harbour"}' in metrics
    assert 'kcb_unique_scans_total{campaign="spring",poster="spring-harbour"}' in metrics


def test_the_form_texts_the_code_and_never_shows_it(qr_app, qr_client, twilio, talon):
    response = qr_client.post("/q/spring-main-street", data=form_for(qr_app, "spring-main-street"),
                              headers={"User-Agent": IPHONE})
    assert response.status_code == 200
    [sent] = twilio.sent()
    assert (sent.account_sid, sent.to, sent.from_) == (ACCOUNT_SID, CUSTOMER, "+15005550006")
    assert sent.auth_user == ACCOUNT_SID
    code = sent.body.split("code: ")[1].split(".")[0]
    assert sent.body == first_reply(f"Your Acme code: {code}. Show it at the till.")
    page = response.get_data(as_text=True)
    assert code not in page and "your code is on its way" in page
    [call] = talon.calls("/customer_engagement/coupon")
    assert call.param("identifier") == CUSTOMER
    assert stats(qr_app)[("spring", "spring-main-street")]["texts"] == 1
    # The ticked box is the opt-in: the consent log records it as coming from the web page.
    import datetime as dt

    store = services_of(qr_app).store
    [event] = [e for e in store.consent_log(now=dt.datetime.now(dt.UTC), retention_days=30) if e.sender == CUSTOMER]
    # A typed number is only a request until that phone texts the program (issue 11).
    found = (event.event, event.campaign, event.channel, event.word)
    assert found == ("request_unverified", "spring", "web", "SAVE P7")


def test_the_form_refuses_a_missing_unknown_used_or_other_pages_token(qr_app, qr_client, twilio):
    missing = qr_client.post("/q/spring", data={"phone": CUSTOMER, "consent": "yes"})
    unknown = qr_client.post("/q/spring", data=form_for(qr_app, "spring", csrf="never-served"))
    other_slug = qr_client.post("/q/spring", data=form_for(qr_app, "spring-harbour"))
    for response in (missing, unknown, other_slug):
        assert response.status_code == 400
        assert "This page has expired" in response.get_data(as_text=True)
    assert twilio.messages == []


def test_the_form_limits_texts_per_number_and_per_client(qr_app, qr_client, twilio):
    codes = [qr_client.post("/q/spring", data=form_for(qr_app, "spring")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert len(twilio.sent()) == 2
    numbers = [f"+1415555{n:04d}" for n in range(200, 206)]
    others = [qr_client.post("/q/spring", data=form_for(qr_app, "spring", phone=n),
                             environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code for n in numbers]
    assert others == [200] * 5 + [429]


def test_twilio_refusing_the_number_is_shown_on_the_field(qr_app, qr_client, twilio):
    twilio.script((400, twilio_error(400, 21211, "The 'To' number is not a valid phone number.")))
    response = qr_client.post("/q/spring", data=form_for(qr_app, "spring"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "We could not text that number" in page and "T1-" not in page


def test_an_uncertain_send_is_never_repeated_and_the_customer_is_told(qr_app, qr_client, twilio):
    twilio.script((503, twilio_error(503, 20503, "Service unavailable")))
    response = qr_client.post("/q/spring", data=form_for(qr_app, "spring"))
    assert response.status_code == 502
    page = response.get_data(as_text=True)
    assert "please text SAVE yourself" in page and "T1-" not in page
    assert twilio.sent() == []  # one attempt, scripted as failed: no second POST


def test_twilio_opted_out_number_looks_like_any_other(qr_app, qr_client, twilio):
    twilio.script((400, twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")))
    response = qr_client.post("/q/spring", data=form_for(qr_app, "spring"))
    assert response.status_code == 200 and "your code is on its way" in response.get_data(as_text=True)


def test_behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for(settings, tmp_path):
    path = tmp_path / "posters.toml"
    path.write_text(WITH_POSTERS)
    app = create_app(dataclasses.replace(settings, campaigns_file=path, trusted_proxy_hops=1))
    client = app.test_client()
    for n in range(3):  # three phones behind one router address
        client.get("/q/spring", headers={"User-Agent": IPHONE, "X-Forwarded-For": f"198.51.100.{n}"},
                   environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert stats(app)[("spring", "none")] == {"scans": 3, "unique": 3, "texts": 0}
    codes = [
        client.post("/q/spring", data=form_for(app, "spring", phone=f"+1415555{n:04d}"),
                    headers={"X-Forwarded-For": f"203.0.113.{n}"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code
        for n in range(300, 307)
    ]
    assert codes == [200] * 7  # the per-client limit (5) applies per forwarded client, not to the router
    services_of(app).issuer.close()


def test_an_opted_out_number_gets_nothing_and_the_page_says_the_same(qr_app, qr_client, twilio):
    form = twilio_form("STOP", sender=CUSTOMER)
    qr_client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    response = qr_client.post("/q/spring", data=form_for(qr_app, "spring"))
    assert response.status_code == 200 and "your code is on its way" in response.get_data(as_text=True)
    assert twilio.messages == []


def test_the_form_is_not_offered_without_twilio_credentials(settings, tmp_path):
    path = tmp_path / "posters.toml"
    path.write_text(WITH_POSTERS)
    app = create_app(dataclasses.replace(settings, campaigns_file=path, twilio_account_sid=None))
    client = app.test_client()
    page = client.get("/q/spring", headers={"User-Agent": IPHONE}).get_data(as_text=True)
    assert 'id="tap"' in page and "text-me" not in page
    assert client.post("/q/spring", data={"phone": CUSTOMER}).status_code == 404
    services_of(app).issuer.close()


@pytest.mark.parametrize("window, notice", [
    ('ends_at = 2020-01-31T23:59:59Z', "Sorry, this offer has ended."),
    ('starts_at = 2099-03-01T00:00:00Z', "This offer starts 1 March 2099."),
])
def test_a_closed_campaign_says_so_and_offers_no_form(settings, tmp_path, window, notice):
    path = tmp_path / "posters.toml"
    path.write_text(WITH_POSTERS.replace('external_campaign_id = "sms-spring"\n',
                                         f'external_campaign_id = "sms-spring"\n{window}\n'))
    app = create_app(dataclasses.replace(settings, campaigns_file=path))
    page = app.test_client().get("/q/spring", headers={"User-Agent": IPHONE}).get_data(as_text=True)
    assert notice in page and "text-me" not in page
    services_of(app).issuer.close()


def test_bot_scans_prints_the_summary(qr_app, qr_client, redis_url, talon):
    qr_client.get("/q/spring-harbour", headers={"User-Agent": IPHONE})
    form = twilio_form("SAVE H2", sender="+14155550199")
    qr_client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    services_of(qr_app).conversation.funnel.flush()  # the text's count, before another process reads it
    settings = services_of(qr_app).settings
    clean = clean_environ()
    env = {**clean, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": settings.redis_key_prefix, "TWILIO_AUTH_TOKEN": "t",
           "BOT_SECRET": "s", "CAMPAIGNS_FILE": str(settings.campaigns_file)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "scans"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["campaign", "poster", "scans", "unique", "texts"]
    assert lines[1].split() == ["spring", "spring-harbour", "1", "1", "1"]
