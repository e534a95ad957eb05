"""The QR channel: GET /q/<slug> counts a scan and shows the landing page; POST texts the code.

It translates like every channel adapter: the form becomes an `InboundMessage`
(channel "web") for the one conversation, and the reply goes out by SMS through
Twilio's REST API to the number typed. The page never shows the reply, so a
code reaches only the phone it belongs to.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote

import phonenumbers
from flask import Blueprint, Response, abort, render_template, request

from .campaigns import Campaign, Poster
from .conversation import InboundMessage
from .errors import DeliveryRefused, DeliveryUncertain, RecipientOptedOut, StoreUnavailable
from .form_policy import sendable
from .limits import RateLimit
from .phone import mask
from .posters import campaign_number, whatsapp_payload, wording
from .scans import FORM_LIMITED, LANDING_FORMS, NO_POSTER, SCAN_LIMIT, SCANS_LIMITED, record_scan
from .services import Services, services_of
from .web import client_address, client_key, form_secret, private_page

log = logging.getLogger(__name__)

bp = Blueprint("landing", __name__)

#: How long a landing form's nonce stays valid after the page was served.
FORM_TTL_MS = 3600 * 1000

_IOS = re.compile(r"iPhone|iPad|iPod", re.IGNORECASE)

#: What a visitor refused by the form's policy is told about the number typed.
NUMBER_PROBLEMS = {
    "invalid": "That is not a mobile number we can text. Please check it, e.g. +1 415 555 0100.",
    "not_mobile": "That is not a mobile number we can text. Please check it, e.g. +1 415 555 0100.",
    "country": "We can text codes only to mobile numbers in {countries}.",
}


def sms_link(number: str, body: str, user_agent: str | None) -> str:
    """The tap-to-text link: iOS 8+ reads `&body=`, Android and the RFC 5724 form `?body=`."""
    separator = "&" if user_agent and _IOS.search(user_agent) else "?"
    return f"sms:{number}{separator}body={quote(body, safe='')}"


def country_names(countries: tuple[str, ...]) -> str:
    """"United States, Canada": the countries the form texts, for the visitor."""
    from phonenumbers import geocoder  # its data costs ~300 ms and tens of MB: loaded when first needed

    names = [geocoder.country_name_for_number(phonenumbers.example_number(c), "en") or c for c in countries]
    return ", ".join(names) or "no country"


@dataclass
class FormState:
    phone: str = ""
    consent: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    sent_to: str | None = None
    notice: str | None = None


def _resolve(slug: str) -> tuple[Services, Campaign, Poster | None]:
    services = services_of()
    found = services.book.resolve(slug)
    if found is None:
        abort(404, description="This QR code is not (or no longer) in use. Check the poster for the number to text.")
    return services, *found


def _page(
    services: Services, campaign: Campaign, poster: Poster | None, form: FormState, status: int = 200
) -> Response:
    book = services.book
    words = wording(book, campaign, poster, printed=False)  # the poster's words, on screen
    slug = poster.slug if poster else campaign.slug
    window = campaign.window(dt.datetime.now(dt.UTC))
    nonce = None
    if services.sms is not None and window == "open" and not form.sent_to:
        try:
            nonce = services.store.issue_form_nonce(slug, FORM_TTL_MS)
        except StoreUnavailable as exc:
            log.error("landing form not offered: %s", exc)  # the tap-to-text link still works
    html = render_template(
        "landing.html",
        program=book.program,
        headline=words.headline,
        keyword=words.keyword,
        body=words.body,
        number=words.shown_number,
        sms_href=sms_link(words.number, words.body, request.headers.get("User-Agent")),
        whatsapp_href=whatsapp_payload(words.whatsapp_number, words.body) if words.whatsapp_number else None,
        footer=words.footer,
        form=form,
        form_enabled=nonce is not None,
        window=window,
        starts_at=campaign.starts_at,
        csrf=nonce,
        action=f"/q/{slug}",
    )
    return Response(html, status=status, mimetype="text/html")


def _refused(services: Services, campaign: Campaign, poster: Poster | None, status: int = 429) -> Response:
    """The one page of every refusal by a limit (or a store that cannot count): it says nothing of which."""
    words = wording(services.book, campaign, poster, printed=False)
    html = render_template(
        "refused.html", program=services.book.program, body=words.body, number=words.shown_number,
        sms_href=sms_link(words.number, words.body, request.headers.get("User-Agent")),
    )
    return Response(html, status=status, mimetype="text/html", headers={"Retry-After": "600"})


def _limit_tripped(services: Services, kind: str, window_s: float) -> None:
    """Count a refusal by limit `kind`; the first of its window is logged as an alert (once across processes)."""
    FORM_LIMITED.labels(kind).inc()
    try:
        first = services.store.first_alert(kind, int(window_s * 1000))
    except StoreUnavailable:
        first = False
    if first:
        log.warning("landing form limit %r tripped: further refusals this window are counted, not logged", kind,
                    extra={"event": "form_limit", "limit": kind})


def _within(services: Services, kind: str, key: str, limit: RateLimit) -> bool:
    if services.store.allow(key, limit):
        return True
    _limit_tripped(services, kind, limit.per_seconds)
    return False


@bp.after_request
def no_store(response: Response) -> Response:
    return private_page(response)


@bp.get("/q/<slug>")
def scan(slug: str) -> Response:
    services, campaign, poster = _resolve(slug)
    try:
        allowed = services.store.allow(services.store.bucket_key("scan", client_key()), SCAN_LIMIT)
    except StoreUnavailable:
        allowed = True  # the page still helps; nothing is counted or offered without the store
    if not allowed:
        SCANS_LIMITED.inc()
        return _refused(services, campaign, poster)
    if request.method == "GET":  # Flask answers HEAD with this view too: HEAD is never counted
        record_scan(
            services.store, form_secret(), campaign, poster.slug if poster else NO_POSTER,
            client_address(), request.headers.get("User-Agent"), slug.lower(),
        )
    return _page(services, campaign, poster, FormState())


@bp.post("/q/<slug>")
def text_me(slug: str) -> Response:
    services, campaign, poster = _resolve(slug)
    form = FormState(phone=request.form.get("phone", "")[:40], consent=request.form.get("consent") == "yes")
    if services.sms is None:
        abort(404, description="Texting codes from this page is not enabled.")
    store, program = services.store, services.book.program
    limits = program.form_limits
    try:
        if not _within(services, "client", store.bucket_key("web", client_key()), limits.client):
            LANDING_FORMS.labels("limited").inc()
            return _refused(services, campaign, poster)
        fresh = store.take_form_nonce(request.form.get("csrf", ""), poster.slug if poster else campaign.slug)
    except StoreUnavailable as exc:
        log.error("landing form limits unavailable: %s", exc)
        LANDING_FORMS.labels("limited").inc()
        return _refused(services, campaign, poster, 503)
    if not fresh:
        form.errors["form"] = "This page has expired. Please try again."
        LANDING_FORMS.labels("expired").inc()
        return _page(services, campaign, poster, form, 400)
    number = campaign_number(services.book, campaign)
    verdict = sendable(form.phone, program.countries, number) if form.phone.strip() else None
    phone = verdict.number if verdict else None
    if not form.phone.strip():
        form.errors["phone"] = "Please enter your mobile number."
    elif phone is None:
        form.errors["phone"] = NUMBER_PROBLEMS[verdict.refusal].format(countries=country_names(program.countries))
    if not form.consent:
        form.errors["consent"] = "Please tick the box to agree to receive the text."
    if form.errors:
        LANDING_FORMS.labels("invalid").inc()
        return _page(services, campaign, poster, form, 400)

    try:
        allowed = _within(services, "number", store.bucket_key("webto", phone), limits.number) \
            and _within(services, "country", store.bucket_key("webcountry", verdict.region), limits.country)
        if allowed and not store.take_form_budget(limits.hourly_budget):
            _limit_tripped(services, "budget", 3600)
            allowed = False
    except StoreUnavailable as exc:
        log.error("landing form limits unavailable: %s", exc)
        allowed = False
    if not allowed:
        LANDING_FORMS.labels("limited").inc()
        return _refused(services, campaign, poster)

    message = InboundMessage(
        sid="WEB" + secrets.token_hex(16), sender=phone, to=number,
        body=wording(services.book, campaign, poster, printed=False).body, channel="web",
    )
    reply = services.conversation.handle(message)
    outcome = "sent" if reply.text else "silent"  # None: opted out or silenced; the page says the same
    if reply.text:
        try:
            services.sms.send(to=phone, from_=number, body=reply.text, campaign=campaign.slug, occasion="web")
        except RecipientOptedOut:
            outcome = "opted_out"  # Twilio's own STOP list: told like any other number, never resent
        except DeliveryRefused:
            LANDING_FORMS.labels("refused").inc()
            form.errors["phone"] = "We could not text that number. Please check it, or text the keyword yourself."
            return _page(services, campaign, poster, form, 400)
        except DeliveryUncertain:
            # It may have gone out: never send twice; the customer can still text the keyword.
            LANDING_FORMS.labels("uncertain").inc()
            form.errors["form"] = (f"Sorry, we could not confirm the text was sent. If it has not arrived in a few "
                                   f"minutes, please text {message.body} yourself.")
            return _page(services, campaign, poster, form, 502)
    LANDING_FORMS.labels(outcome).inc()
    log.info("landing form handled", extra={"event": "landing_form", "campaign": campaign.slug,
                                            "to": mask(phone), "outcome": reply.outcome})
    return _page(services, campaign, poster, FormState(sent_to=mask(phone)))
