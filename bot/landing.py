"""The QR channel: GET /q/<slug> counts a scan and shows the landing page; POST texts the code.

It translates like every channel adapter: the form becomes an `InboundMessage`
(channel "web") for the one conversation, and the reply goes out by SMS through
Twilio's REST API to the number typed. The page never shows the reply, so a
code reaches only the phone it belongs to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import phonenumbers
from flask import Blueprint, Response, abort, render_template, request

from .campaigns import Campaign, Poster
from .conversation import InboundMessage
from .errors import DeliveryRefused, DeliveryUncertain, RecipientOptedOut, StoreUnavailable
from .limits import RateLimit
from .phone import mask
from .posters import campaign_number, whatsapp_payload, wording
from .scans import LANDING_FORMS, NO_POSTER, record_scan
from .services import Services, services_of
from .web import client_address, client_hash, form_secret, private_page

log = logging.getLogger(__name__)

bp = Blueprint("landing", __name__)

#: How long a landing form stays valid after the page was served.
FORM_TTL_S = 2 * 3600
#: Texts the form may send to one number, and requests one client may make.
PER_NUMBER = RateLimit(rate=3, per_seconds=3600, burst=2)
PER_CLIENT = RateLimit(rate=10, per_seconds=3600, burst=5)

_IOS = re.compile(r"iPhone|iPad|iPod", re.IGNORECASE)


def sms_link(number: str, body: str, user_agent: str | None) -> str:
    """The tap-to-text link: iOS 8+ reads `&body=`, Android and the RFC 5724 form `?body=`."""
    separator = "&" if user_agent and _IOS.search(user_agent) else "?"
    return f"sms:{number}{separator}body={quote(body, safe='')}"


def _sign(secret: str, slug: str, issued: int) -> str:
    return hmac.new(secret.encode(), f"landing-form:{slug}:{issued}".encode(), hashlib.sha256).hexdigest()[:32]


def csrf_token(secret: str, slug: str, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return f"{issued}.{_sign(secret, slug, issued)}"


def csrf_valid(secret: str, slug: str, token: str, now: float | None = None) -> bool:
    issued_text, _, signature = token.partition(".")
    if not issued_text.isdigit() or not signature:
        return False
    issued = int(issued_text)
    age = (now if now is not None else time.time()) - issued
    return 0 <= age <= FORM_TTL_S and hmac.compare_digest(signature, _sign(secret, slug, issued))


def parse_phone(raw: str, near: str) -> str | None:
    """A typed mobile number in E.164, read in the region of our number `near` when it has no +."""
    region = "US"
    if near.startswith("+"):
        region = phonenumbers.region_code_for_number(phonenumbers.parse(near, None)) or "US"
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE:
        return None  # cannot receive a text
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


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
        form_enabled=services.sms is not None and window == "open",
        window=window,
        starts_at=campaign.starts_at,
        csrf=csrf_token(form_secret(), slug),
        action=f"/q/{slug}",
    )
    return Response(html, status=status, mimetype="text/html")


@bp.after_request
def no_store(response: Response) -> Response:
    return private_page(response)


@bp.get("/q/<slug>")
def scan(slug: str) -> Response:
    services, campaign, poster = _resolve(slug)
    if request.method == "GET":  # Flask answers HEAD with this view too: HEAD is never counted
        record_scan(
            services.store, form_secret(), campaign, poster.slug if poster else NO_POSTER,
            client_address(), request.headers.get("User-Agent"), slug.lower(),
        )
    return _page(services, campaign, poster, FormState())


@bp.post("/q/<slug>")
def text_me(slug: str) -> Response:
    services, campaign, poster = _resolve(slug)
    secret = form_secret()
    form = FormState(phone=request.form.get("phone", "")[:40], consent=request.form.get("consent") == "yes")
    if services.sms is None:
        abort(404, description="Texting codes from this page is not enabled.")
    if not csrf_valid(secret, poster.slug if poster else campaign.slug, request.form.get("csrf", "")):
        form.errors["form"] = "This page has expired. Please try again."
        LANDING_FORMS.labels("expired").inc()
        return _page(services, campaign, poster, form, 400)
    number = campaign_number(services.book, campaign)
    phone = parse_phone(form.phone, number) if form.phone.strip() else None
    if not form.phone.strip():
        form.errors["phone"] = "Please enter your mobile number."
    elif phone is None:
        form.errors["phone"] = "That is not a mobile number we can text. Please check it, e.g. +1 415 555 0100."
    if not form.consent:
        form.errors["consent"] = "Please tick the box to agree to receive the text."
    if form.errors:
        LANDING_FORMS.labels("invalid").inc()
        return _page(services, campaign, poster, form, 400)

    try:
        client_key = services.store.bucket_key("web", client_hash(secret, client_address()))
        allowed = services.store.allow(client_key, PER_CLIENT) \
            and services.store.allow(services.store.bucket_key("webto", phone), PER_NUMBER)
    except StoreUnavailable as exc:
        log.error("landing form limits unavailable: %s", exc)
        allowed = False
    if not allowed:
        LANDING_FORMS.labels("limited").inc()
        form.errors["form"] = "Too many requests. Please wait a while, or text the keyword yourself."
        return _page(services, campaign, poster, form, 429)

    message = InboundMessage(
        sid="WEB" + secrets.token_hex(16), sender=phone, to=number,
        body=wording(services.book, campaign, poster, printed=False).body, channel="web",
    )
    reply = services.conversation.handle(message)
    outcome = "sent" if reply.text else "silent"  # None: opted out or silenced; the page says the same
    if reply.text:
        try:
            services.sms.send(to=phone, from_=number, body=reply.text)
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
