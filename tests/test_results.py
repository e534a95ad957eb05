"""The marketer's results page: scripted traffic (signed webhooks, landing-page scans) -> the page's
numbers, the charts' series and the CSV, exactly; the login; the funnel's writes off the text's path."""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import io
from collections import Counter
from html.parser import HTMLParser

import pytest
import redis

from bot.conversation import InboundMessage
from bot.results import COLUMNS, flush_all
from bot.services import services_of
from bot.store import FUNNEL_RETENTION_DAYS, funnel_hour
from tests.support.bot_process import wait_until
from tests.support.browser import ANDROID, IPHONE, LiveServer, denied
from tests.support.campaign_files import WITH_POSTERS, first_reply
from tests.support.clock import Clock
from tests.support.talon_stub import error_body
from tests.support.twiml import message_of
from tests.support.webhooks import SHOP_NUMBER, sign, twilio_form

PASSWORD = "correct horse battery staple"
LOGIN = {"Authorization": "Basic " + base64.b64encode(f"marketer:{PASSWORD}".encode()).decode()}
#: friends may ask Talon.One once an hour: a second new referral is answered "pending" at once.
RESULTS_CAMPAIGNS = WITH_POSTERS.replace(
    'external_campaign_id = "sms-refer"\n',
    'external_campaign_id = "sms-refer"\nupstream_limit = { rate = 1, per_seconds = 3600, burst = 1 }\n',
)
SENDERS = [f"+1555000{n:04d}" for n in range(1, 11)]


@pytest.fixture
def campaigns_text() -> str:
    return RESULTS_CAMPAIGNS


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, marketer_password=PASSWORD)


def zero() -> dict[str, int]:
    return dict.fromkeys(COLUMNS, 0)


def counts(**given: int) -> dict[str, int]:
    return {**zero(), **given}


class Traffic:
    """Scripted texts over three hours and scans now, with the numbers the page must show."""

    #: (level, campaign, poster) -> totals over the period
    EXPECTED = {
        ("campaign", "spring", ""): counts(scans=4, unique_scans=3, texts=12, issued=4, repeats=5, limited=2, errors=1),
        ("poster", "spring", "spring-main-street"): counts(scans=3, unique_scans=2, texts=2, issued=1, repeats=1),
        ("poster", "spring", "spring-harbour"): counts(scans=1, unique_scans=1, texts=1, issued=1),
        ("poster", "spring", "none"): counts(texts=8, issued=1, repeats=4, limited=2, errors=1),
        ("poster", "spring", "unlisted"): counts(texts=1, issued=1),
        ("campaign", "club", ""): counts(texts=1, other=1),
        ("poster", "club", "none"): counts(texts=1, other=1),
        ("campaign", "friends", ""): counts(texts=2, issued=1, pending=1),
        ("poster", "friends", "none"): counts(texts=2, issued=1, pending=1),
        ("campaign", "", ""): counts(texts=1, other=1),
    }

    def __init__(self, app, text, talon):
        self.app, self.text, self.talon = app, text, talon
        self.now_hour = funnel_hour(dt.datetime.now(dt.UTC))
        self.clock = Clock(self.now_hour)
        services_of(app).conversation.clock = self.clock
        self.replies: list[str] = []

    def send(self, body: str, sender: str, *, sid: str | None = None) -> str:
        response = self.text(body, sender=sender, sid=sid)
        reply = response.get_data(as_text=True)
        response.close()  # a WSGI server closes the response once sent: the funnel's counts go then
        self.replies.append(reply)
        return reply

    def scan(self, slug: str, user_agent: str) -> None:
        response = self.app.test_client().get(f"/q/{slug}", headers={"User-Agent": user_agent})
        assert response.status_code == 200
        response.close()

    def play(self) -> Traffic:
        main_street, harbour, walk_in, typo, failed, points, refer, refer2, unlisted, stranger = SENDERS
        # Two hours ago: a poster's first code and its repeat, a second poster, a Twilio redelivery.
        self.clock.now = self.now_hour - dt.timedelta(hours=2) + dt.timedelta(minutes=10)
        form = twilio_form("SAVE P7", sender=main_street)
        first = self.send("SAVE P7", main_street, sid=form["MessageSid"])
        assert "Your Acme code" in first
        repeat = self.send("save p7", main_street)
        assert message_of(first) == first_reply(message_of(repeat))  # the same code; the notice only once
        assert self.send("SAVE P7", main_street, sid=form["MessageSid"]) == first  # replayed: not a new text
        assert "Your Acme code" in self.send("SAVE H2", harbour)
        # An hour ago: a walk-in texting seven times (one code, four repeats, then limited twice), an unknown
        # ref, an unknown word.
        self.clock.now = self.now_hour - dt.timedelta(hours=1) + dt.timedelta(minutes=5)
        walk_in_replies = [self.send("SAVE", walk_in) for _ in range(7)]
        assert len(set(walk_in_replies[1:5])) == 1 and "Your Acme code" in walk_in_replies[0]
        assert message_of(walk_in_replies[0]) == first_reply(message_of(walk_in_replies[1]))
        assert "too many messages" in walk_in_replies[5]
        assert "<Message>" not in walk_in_replies[6]  # one notice per window, then silence
        assert "Your Acme code" in self.send("SAVE Q9", unlisted)
        assert "don't know that word" in self.send("HELLO", stranger)
        # This hour: Talon.One fails once, a loyalty balance, a referral, a second referral over budget.
        self.clock.now = self.now_hour + dt.timedelta(minutes=1)
        self.talon.script((404, error_body(404, "Not Found")))
        assert "could not get your code" in self.send("SAVE", failed)
        assert "points" in self.send("POINTS", points)
        assert "Share your code" in self.send("REFER", refer)
        assert "on its way" in self.send("REFER", refer2)
        # Scans, now (real time): two visitors of one poster (one twice), one of another, one crawler.
        self.scan_hour = funnel_hour(dt.datetime.now(dt.UTC))
        self.scan("spring-main-street", IPHONE)
        self.scan("spring-main-street", IPHONE)
        self.scan("spring-main-street", ANDROID)
        self.scan("spring-main-street", "facebookexternalhit/1.1")
        self.scan("spring-harbour", ANDROID)
        return self

    def expected_series(self, start: dt.datetime, points: int) -> dict[tuple[str, str], dict[str, list[int]]]:
        """(campaign, poster) -> column -> hourly values, for the rows that had traffic."""
        def at(**by_hour: dict[str, int]) -> dict[str, list[int]]:
            series = {column: [0] * points for column in COLUMNS}
            for name, values in by_hour.items():
                hour = {"two_ago": self.now_hour - dt.timedelta(hours=2),
                        "one_ago": self.now_hour - dt.timedelta(hours=1),
                        "now": self.now_hour, "scans": self.scan_hour}[name]
                index = int((hour - start) / dt.timedelta(hours=1))
                for column, value in values.items():
                    series[column][index] += value
            return series

        return {
            ("spring", ""): at(two_ago=dict(texts=3, issued=2, repeats=1),
                               one_ago=dict(texts=8, issued=2, repeats=4, limited=2),
                               now=dict(texts=1, errors=1), scans=dict(scans=4, unique_scans=3)),
            ("spring", "spring-main-street"): at(two_ago=dict(texts=2, issued=1, repeats=1),
                                                 scans=dict(scans=3, unique_scans=2)),
            ("friends", ""): at(now=dict(texts=2, issued=1, pending=1)),
        }


@pytest.fixture
def traffic(app, text, talon) -> Traffic:
    return Traffic(app, text, talon).play()


class FunnelTable(HTMLParser):
    """The page's #funnel rows: (level, campaign, poster) -> {column: number}; and each chart's series."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: dict[tuple[str, str, str], dict[str, int]] = {}
        self.series: dict[str, dict[str, list[int]]] = {}
        self._row = self._column = self._chart = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-campaign" in attrs:
            self._row = (attrs["class"], attrs["data-campaign"], attrs["data-poster"])
            self.rows[self._row] = {}
        elif tag == "td" and self._row and "data-column" in attrs:
            self._column = attrs["data-column"]
        elif tag == "svg":
            self._chart = attrs["id"].removeprefix("chart-")
            self.series[self._chart] = {}
        elif tag == "polyline" and self._chart:
            self.series[self._chart][attrs["data-series"]] = [int(v) for v in attrs["data-values"].split()]

    def handle_data(self, data):
        if self._column:
            self.rows[self._row][self._column] = int(data)
            self._column = None

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None


def csv_rows(text: str) -> dict[tuple[str, str, str], dict[str, int]]:
    return {(r["level"], r["campaign"], r["poster"]): {c: int(r[c]) for c in COLUMNS}
            for r in csv.DictReader(io.StringIO(text))}


def nonzero(rows: dict) -> dict:
    return {key: values for key, values in rows.items() if any(values.values())}


def test_the_page_and_the_csv_show_exactly_the_scripted_traffic(client, traffic):
    page = client.get("/marketer/results?period=24h", headers=LOGIN)
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    table = FunnelTable(page.get_data(as_text=True))
    assert nonzero(table.rows) == Traffic.EXPECTED
    # Declared campaigns and posters show even without traffic.
    assert ("poster", "spring", "spring-main-street") in table.rows and ("campaign", "club", "") in table.rows

    exported = client.get("/marketer/results.csv?period=24h", headers=LOGIN)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    assert csv_rows(exported.get_data(as_text=True)) == table.rows

    # The charts draw the hourly series; the CSV by step has the same numbers per hour.
    start = funnel_hour(dt.datetime.now(dt.UTC)) - dt.timedelta(hours=23)
    expected = traffic.expected_series(start, 24)
    charted = ("scans", "texts", "issued", "repeats", "limited", "errors")
    assert table.series["spring"] == {c: expected[("spring", "")][c] for c in charted}
    assert table.series["spring.spring-main-street"] == {
        c: expected[("spring", "spring-main-street")][c] for c in charted
    }
    by_step = list(csv.DictReader(io.StringIO(
        client.get("/marketer/results.csv?period=24h&by_step=1", headers=LOGIN).get_data(as_text=True))))
    for (campaign, poster), series in expected.items():
        lines = [r for r in by_step if r["campaign"] == campaign and r["poster"] == poster]
        assert [r["start"] for r in lines] == [
            (start + dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%MZ") for i in range(24)
        ]
        assert {c: [int(r[c]) for r in lines] for c in COLUMNS} == series


def test_the_period_selects_what_is_summed(client, traffic):
    week = FunnelTable(client.get("/marketer/results?period=7d", headers=LOGIN).get_data(as_text=True))
    assert nonzero(week.rows) == Traffic.EXPECTED
    assert len(week.series["spring"]["texts"]) == 28  # 6-hour steps
    today = dt.datetime.now(dt.UTC).date()
    days = client.get(f"/marketer/results.csv?from={today - dt.timedelta(days=2)}&to={today}", headers=LOGIN)
    assert csv_rows(days.get_data(as_text=True))[("campaign", "spring", "")]["texts"] == 12
    # Before any traffic: nothing.
    empty = client.get(f"/marketer/results.csv?from={today - dt.timedelta(days=9)}&to={today - dt.timedelta(days=8)}",
                       headers=LOGIN)
    assert nonzero(csv_rows(empty.get_data(as_text=True))) == {}
    for bad, message in [("period=1y", "period: one of 24h, 7d, 30d, 90d"), ("from=2026-13-01&to=x", "YYYY-MM-DD"),
                         (f"from={today - dt.timedelta(days=400)}&to={today}", "kept 90 days"),
                         (f"from={today}&to={today + dt.timedelta(days=400)}", "at most 90 days at once")]:
        response = client.get(f"/marketer/results?{bad}", headers=LOGIN)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
        assert client.get(f"/marketer/results.csv?{bad}", headers=LOGIN).status_code == 400


def test_results_need_the_marketer_password(client):
    wrong = {"Authorization": "Basic " + base64.b64encode(b"marketer:nope").decode()}
    for path in ("/marketer/results", "/marketer/results.csv"):
        for headers in ({}, wrong):
            response = client.get(path, headers=headers)
            assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
            assert "spring" not in response.get_data(as_text=True)


@pytest.fixture
def manual_flush_app(settings):
    """The app with the funnel's background writes off: a test decides when counts go to Redis."""
    from bot import create_app

    app = create_app(dataclasses.replace(settings, funnel_flush_s=0))
    yield app
    services_of(app).issuer.close()


def post_text(app, body: str, sender: str):
    form = twilio_form(body, sender=sender)
    return app.test_client().post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})


def test_the_counts_are_written_together_later_and_kept_90_days(manual_flush_app):
    app = manual_flush_app
    store = services_of(app).store
    hour = funnel_hour(dt.datetime.now(dt.UTC))
    services_of(app).conversation.clock = Clock(hour + dt.timedelta(minutes=1))
    assert "Your Acme code" in post_text(app, "SAVE", SENDERS[0]).get_data(as_text=True)
    services_of(app).conversation.handle(InboundMessage("SMsimulated", SENDERS[1], SHOP_NUMBER, "SAVE", "cli"))
    assert store.funnel_counts([hour])[hour] == {}  # not yet: the texts' replies did not wait for it
    services_of(app).conversation.funnel.flush()
    assert store.funnel_counts([hour])[hour] == {("spring", "none", "issued"): 2}
    ttl = store.client.ttl(store.funnel_key(hour))
    expected_ttl = (hour + dt.timedelta(days=FUNNEL_RETENTION_DAYS) - dt.datetime.now(dt.UTC)).total_seconds()
    assert abs(ttl - expected_ttl) <= 5


def test_the_background_writer_writes_within_a_second_or_so(services, text):
    store = services.store
    hour = funnel_hour(dt.datetime.now(dt.UTC))
    services.conversation.clock = Clock(hour + dt.timedelta(minutes=1))
    text("SAVE", sender=SENDERS[2])
    wait_until(lambda: store.funnel_counts([hour])[hour] == {("spring", "none", "issued"): 1},
               timeout=10, what="the funnel's background write")


def redis_commands(admin: redis.Redis) -> Counter:
    """Commands the Redis server has run so far, by name (INFO itself left out)."""
    return Counter({name.removeprefix("cmdstat_"): stat["calls"]
                    for name, stat in admin.info("commandstats").items() if name != "cmdstat_info"})


def test_a_repeat_texter_waits_for_one_round_trip_and_counts_cost_one_write_for_many(manual_flush_app, redis_url):
    app = manual_flush_app
    admin = redis.Redis.from_url(redis_url)
    post_text(app, "SAVE", SENDERS[3])  # the first code (and the scripts loaded)
    flush_all()  # nothing left waiting from earlier tests either
    before = redis_commands(admin)
    for _ in range(3):
        assert "Your Acme code" in post_text(app, "SAVE", SENDERS[3]).get_data(as_text=True)
    answered = redis_commands(admin)
    during = answered - before  # the scripts' own commands are counted too
    assert during["evalsha"] == 3  # Store.begin alone per text: it stores the reply too
    assert during["hincrby"] == during["expireat"] == during["eval"] == 0  # not the funnel's count
    services_of(app).conversation.funnel.flush()
    assert redis_commands(admin) - answered == Counter({"hincrby": 1, "expireat": 1})  # three texts, one pipeline
    admin.close()


def test_no_phone_number_is_kept_in_the_stats(services, traffic):
    store = services.store
    stats = list(store.client.scan_iter(match=store.stats_key("*")))
    assert any(b":funnel:" in key for key in stats)
    dump = []
    for key in stats:
        kind = store.client.type(key)
        dump.append(key)
        if kind == b"hash":
            dump.extend(b"%s=%s" % item for item in store.client.hgetall(key).items())
        elif kind == b"set":
            dump.extend(store.client.smembers(key))
    for sender in SENDERS:
        for form in (sender, sender[1:], sender[-10:], sender[-7:]):
            assert not any(form.encode() in item for item in dump), form


def test_a_failing_stats_write_never_fails_a_text(app, settings, redis_url, caplog):
    """A Redis user that may do everything but HINCRBY: the text's own scripts run, the funnel's write fails."""
    admin = redis.Redis.from_url(redis_url)
    user = "nohincrby" + settings.redis_key_prefix
    admin.acl_setuser(user, enabled=True, passwords=["+limited-password"], keys=["*"], channels=["*"],
                      categories=["+@all"], commands=["-hincrby"])
    try:
        limited_url = redis_url.replace("redis://", f"redis://{user}:limited-password@")
        from bot import create_app

        limited = create_app(dataclasses.replace(settings, redis_url=limited_url, funnel_flush_s=0))
        response = post_text(limited, "SAVE", SENDERS[2])
        assert response.status_code == 200 and "Your Acme code" in response.get_data(as_text=True)
        with caplog.at_level("ERROR", logger="bot.results"):
            services_of(limited).conversation.funnel.flush()
        assert any("results funnel: 1 count(s) not stored yet" in r.getMessage() for r in caplog.records)
        # Kept for the next write: nothing is lost while Redis refuses.
        assert services_of(limited).conversation.funnel.waiting() == 1
        services_of(limited).issuer.close()
    finally:
        admin.acl_deluser(user)


# -- in a real headless Chromium


ROWS_JS = """rows => rows.map(r => [r.className, r.dataset.campaign, r.dataset.poster,
  Object.fromEntries([...r.querySelectorAll('td[data-column]')].map(
    td => [td.dataset.column, Number(td.textContent)]))])"""


def test_the_results_page_in_chromium(browser, app, traffic, tmp_path):
    with LiveServer(app) as live:
        anonymous = browser.new_context()
        assert denied(anonymous, live.url + "/marketer/results")
        assert denied(anonymous, live.url + "/marketer/results.csv")
        anonymous.close()

        context = browser.new_context(http_credentials={"username": "marketer", "password": PASSWORD},
                                      accept_downloads=True, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text)
                if message.type == "error" and not message.location["url"].endswith("/favicon.ico") else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        response = page.goto(live.url + "/marketer/results?period=24h")
        assert response.status == 200
        shown = {(level, campaign, poster): values
                 for level, campaign, poster, values in page.eval_on_selector_all("#funnel tr[data-campaign]", ROWS_JS)}
        assert nonzero(shown) == Traffic.EXPECTED

        # One drawn chart per row, each with its six lines; the spring chart's lines are not flat.
        charts = page.query_selector_all("svg.chart")
        assert len(charts) == len(shown)
        for chart in charts:
            box = chart.bounding_box()
            assert box["width"] == 640 and box["height"] == 200
            assert len(chart.query_selector_all("polyline.series")) == 6
        texts_line = page.query_selector('#chart-spring polyline[data-series="texts"]')
        assert texts_line.evaluate("e => e.getBBox().height") > 50
        assert texts_line.evaluate("e => getComputedStyle(e).stroke") == "rgb(255, 127, 14)"

        screenshot = tmp_path / "results-page.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
        print(f"results page screenshot: {screenshot}")

        # The CSV link downloads the same numbers.
        with page.expect_download() as info:
            page.click("#csv")
        with open(info.value.path(), encoding="utf-8") as f:
            assert csv_rows(f.read()) == shown

        # Another period, chosen in the form.
        page.select_option("#period", "30d")
        with page.expect_navigation():
            page.click("#period-form button")
        assert page.url.endswith("/marketer/results?period=30d")
        assert page.inner_text("#period-label").startswith("Last 30 days")
        assert len(page.query_selector('#chart-spring polyline[data-series="texts"]')
                   .get_attribute("data-values").split()) == 30
        assert nonzero({(level, campaign, poster): values for level, campaign, poster, values
                        in page.eval_on_selector_all("#funnel tr[data-campaign]", ROWS_JS)}) == Traffic.EXPECTED
        assert problems == []  # nothing blocked by the Content-Security-Policy, no script errors
        context.close()


def test_the_funnel_on_a_redis_cluster(settings, redis_cluster_url):
    """Every funnel key is in the {stats} slot: the scan script, the pipelined write and the read work on a cluster."""
    from bot import create_app

    app = create_app(dataclasses.replace(settings, redis_url=redis_cluster_url, redis_cluster=True,
                                         marketer_password=PASSWORD))
    client = app.test_client()
    form = twilio_form("SAVE", sender=SENDERS[4])
    client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)}).close()
    client.get("/q/spring", headers={"User-Agent": IPHONE}).close()
    rows = csv_rows(client.get("/marketer/results.csv?period=24h", headers=LOGIN).get_data(as_text=True))
    assert rows[("campaign", "spring", "")] == counts(scans=1, unique_scans=1, texts=1, issued=1)
    services_of(app).issuer.close()
