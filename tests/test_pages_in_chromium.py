"""The landing page and the marketer page in a real headless Chromium."""

from __future__ import annotations

import dataclasses
import time

import pytest

from bot import create_app
from bot.services import services_of
from tests.support.browser import ANDROID, IPHONE, LiveServer, denied
from tests.support.campaign_files import WITH_POSTERS
from tests.support.decoders import raster, zxing

CUSTOMER = "+14155550100"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def live(settings, tmp_path):
    path = tmp_path / "posters.toml"
    path.write_text(WITH_POSTERS)
    app = create_app(dataclasses.replace(
        settings, campaigns_file=path, marketer_password=PASSWORD,
        public_base_url="http://bot.example.test",
    ))
    with LiveServer(app) as server:
        server.app = app
        yield server
    services_of(app).issuer.close()


@pytest.mark.parametrize("user_agent, href", [
    (IPHONE, "sms:+15005550006&body=SAVE%20P7"),
    (ANDROID, "sms:+15005550006?body=SAVE%20P7"),
])
def test_the_tap_link_fits_the_phone(browser, live, user_agent, href):
    context = browser.new_context(user_agent=user_agent, viewport={"width": 390, "height": 844})
    page = context.new_page()
    response = page.goto(live.url + "/q/spring-main-street")
    assert response.status == 200 and response.headers["cache-control"] == "no-store"
    assert page.get_attribute("#tap", "href") == href
    assert page.inner_text("#keyword") == "SAVE P7"
    # The keyword is printed large, and the button is a real tap target.
    assert float(page.eval_on_selector("#keyword", "e => parseFloat(getComputedStyle(e).fontSize)")) >= 40
    assert page.eval_on_selector("#tap", "e => e.getBoundingClientRect().height") >= 44
    context.close()


def test_the_form_shows_errors_then_texts_the_code_without_showing_it(browser, live, twilio, talon):
    context = browser.new_context(user_agent=ANDROID, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(live.url + "/q/spring")

    page.click("#send")  # nothing typed, nothing ticked
    assert page.inner_text("#error-phone") == "Please enter your mobile number."
    assert page.inner_text("#error-consent") == "Please tick the box to agree to receive the text."

    page.fill("#phone", "555 12")
    page.check("#consent")
    page.click("#send")
    assert "not a mobile number we can text" in page.inner_text("#error-phone")
    assert page.is_checked("#consent")  # what the customer did is kept
    assert page.is_hidden("#error-consent")

    page.fill("#phone", "(415) 555-0100")  # national format, read in the shop number's region
    page.click("#send")
    assert "your code is on its way" in page.inner_text("#sent")

    [sent] = twilio.sent()
    assert sent.to == CUSTOMER and sent.from_ == "+15005550006"
    code = sent.body.split("code: ")[1].split(".")[0]
    assert code.startswith("T1-")
    assert code not in page.content()
    assert talon.calls("/customer_engagement/coupon")[0].param("identifier") == CUSTOMER
    context.close()


def test_the_marketer_page_needs_the_password(browser, live):
    for credentials in ({}, {"http_credentials": {"username": "marketer", "password": "nope"}}):
        context = browser.new_context(**credentials)
        assert denied(context, live.url + "/marketer/")
        assert denied(context, live.url + "/marketer/poster.pdf?slug=spring")
        context.close()


def test_the_marketer_previews_and_downloads_a_poster(browser, live):
    context = browser.new_context(
        http_credentials={"username": "marketer", "password": PASSWORD}, accept_downloads=True
    )
    page = context.new_page()
    assert page.goto(live.url + "/marketer/").status == 200
    page.select_option("#slug", "spring-harbour")
    page.select_option("#mode", "tracked")
    page.select_option("#paper", "Letter")
    page.click("button[type=submit]")
    assert page.inner_text("#payload") == "http://bot.example.test/q/spring-harbour"
    # Polled from Python: the page's Content-Security-Policy forbids the eval wait_for_function uses.
    deadline = time.monotonic() + 20
    while not page.eval_on_selector("#preview", "e => e.complete && e.naturalWidth > 0"):
        assert time.monotonic() < deadline, "the preview image did not load"
        page.wait_for_timeout(50)
    assert page.eval_on_selector("#preview", "e => e.naturalWidth") == 510  # Letter at the preview's 60 dpi
    with page.expect_download() as info:
        page.click("#download-pdf")
    download = info.value
    assert download.suggested_filename == "poster-spring-harbour-h2-letter-tracked.pdf"
    with open(download.path(), "rb") as f:
        assert zxing(raster(f.read(), "pdf")).text == "http://bot.example.test/q/spring-harbour"

    page.fill("#distance", "4")
    page.click("button[type=submit]")
    assert "must be at least 400 mm wide" in page.inner_text("#problem")
    context.close()


def test_wrong_passwords_are_limited_per_client(live):
    import base64

    client = live.app.test_client()
    wrong = {"Authorization": "Basic " + base64.b64encode(b"marketer:guess").decode()}
    codes = [client.get("/marketer/", headers=wrong).status_code for _ in range(11)]
    assert codes == [401] * 10 + [429]
    right = {"Authorization": "Basic " + base64.b64encode(f"marketer:{PASSWORD}".encode()).decode()}
    # While locked, the right password is refused too: a 429 tells a guesser nothing.
    assert client.get("/marketer/", headers=right).status_code == 429
    other = {"REMOTE_ADDR": "198.51.100.44"}
    assert client.get("/marketer/", headers=right, environ_base=other).status_code == 200


def test_the_marketer_page_is_disabled_without_a_password(settings, tmp_path):
    app = create_app(dataclasses.replace(settings, marketer_password=None))
    response = app.test_client().get("/marketer/", headers={"Authorization": "Basic bTo="})
    assert response.status_code == 404
    assert "set MARKETER_PASSWORD" in response.get_data(as_text=True)
    services_of(app).issuer.close()


def test_a_tracked_poster_scanned_opens_the_landing_page_and_counts(browser, settings, tmp_path):
    """End to end: render a tracked poster, decode its QR from pixels, open that URL like a phone would."""
    from bot.posters import PosterOptions, layout, poster_content, render

    path = tmp_path / "posters.toml"
    path.write_text(WITH_POSTERS)
    with LiveServer(create_app(dataclasses.replace(settings, campaigns_file=path))) as server:
        app = server.server.app
        book = services_of(app).book
        options = PosterOptions(mode="tracked")
        content = poster_content(book, "spring-harbour", options, public_base_url=server.url)
        png = render(layout(content, options), "png", dpi=100)
        scanned = zxing(raster(png, "png")).text
        assert scanned == server.url + "/q/spring-harbour"
        context = browser.new_context(user_agent=IPHONE)
        page = context.new_page()
        assert page.goto(scanned).status == 200
        assert page.get_attribute("#tap", "href") == "sms:+15005550006&body=SAVE%20H2"
        context.close()
        assert services_of(app).store.poster_stats()[("spring", "spring-harbour")]["scans"] == 1
        services_of(app).issuer.close()
