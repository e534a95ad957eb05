"""WhatsApp's rules: how an outbound text may go to a number, and the Twilio address it goes to.

Twilio delivers WhatsApp texts to the same webhook as SMS, with
``From=whatsapp:+E164`` and ``To=whatsapp:<program number>``; the adapter
(bot/sms.py) reads both with `phone.address_of`, so the bot knows a customer
by the bare E.164 number whatever the channel (DESIGN.md, "Contract:
channels"). Outbound, WhatsApp allows free-form text only inside the 24-hour
customer-service window that the person's last WhatsApp message opened;
outside it only an approved template (ContentSid + ContentVariables) may go,
and lacking one the bot texts by SMS when the number gave SMS consent, or
sends nothing. `outbound_route` is that decision for the late replies (the
send engine's birthdays, broadcasts and winners go by SMS only);
`record_refusal` keeps what Twilio's WhatsApp errors say, whether the create
call returned them or a text's status callback brought them later
(bot/receipts.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Literal

from .campaigns import CampaignBook, Program, WhatsAppTemplate, reply_context
from .errors import DeliveryError, NoChannelAllowed
from .jobs import LateJob
from .outbound import WHATSAPP_REFUSALS, WHATSAPP_WINDOW_CLOSED, SmsSender
from .phone import mask
from .store import Store
from .store.channels import WINDOW_MS

log = logging.getLogger(__name__)

Channel = Literal["sms", "whatsapp"]

#: 63014: the person blocked the sender; nothing on WhatsApp reaches them until they write again.
BLOCKED = 63014
#: Meta's 131050: the person stopped marketing messages; only they resume them, in WhatsApp.
STOPPED_PROMOTIONS = 131050
WINDOW = dt.timedelta(milliseconds=WINDOW_MS)

#: The occasion a late reply's receipts are counted under (results.html: "late replies").
LATE = "late"

How = Literal["whatsapp", "template", "sms", "none"]


def address(number: str, channel: Channel) -> str:
    """The Twilio address of bare `number` on `channel` (for To and From of an outbound message)."""
    return f"whatsapp:{number}" if channel == "whatsapp" else number


@dataclass(frozen=True)
class Route:
    """How one outbound text goes: `to`/`from_` are Twilio addresses; `template` only when how = "template"."""

    how: How
    reason: str
    to: str = ""
    from_: str = ""
    template: WhatsAppTemplate | None = None


def senders(program: Program, number: str | None) -> tuple[str, str]:
    """(SMS From, WhatsApp From) for a text to someone who wrote to `number` (None: the channel's first)."""
    sms_from = number if number in program.numbers else program.numbers[0]
    return sms_from, address(number or (program.whatsapp_numbers or program.numbers)[0], "whatsapp")


def outbound_route(
    store: Store, book: CampaignBook, recipient_e164: str, last_inbound_channel: str, now: dt.datetime,
    *, number: str | None = None, template: WhatsAppTemplate | None = None,
) -> Route:
    """How a text to `recipient_e164` may go now. `number`: the program number they wrote to (None: the
    first one of the channel); `template`: the approved template a WhatsApp text may go as outside the window.

    Not WhatsApp: SMS, as before (the opt-out is the sender's own re-check). WhatsApp: free text inside
    the window; outside it the template when there is one and the number has not refused WhatsApp
    marketing (63014/131050); else SMS when the number gave SMS consent; else nothing. Every choice
    other than free WhatsApp text is logged.
    """
    sms_from, wa_from = senders(book.program, number)
    if last_inbound_channel != "whatsapp":
        return Route("sms", "the number wrote by SMS", recipient_e164, sms_from)
    wa_to = address(recipient_e164, "whatsapp")
    state = store.whatsapp_state(recipient_e164)
    if state.refused != BLOCKED and state.last_inbound is not None and now - state.last_inbound < WINDOW:
        return Route("whatsapp", "inside WhatsApp's 24-hour window", wa_to, wa_from)
    if template is not None and state.refused is None:
        route = Route("template", "outside WhatsApp's 24-hour window: the approved template", wa_to, wa_from,
                      template)
    elif store.has_sms_consent(recipient_e164):
        route = Route("sms", "outside WhatsApp's 24-hour window, no template to send: by SMS, consent on record",
                      recipient_e164, sms_from)
    else:
        refused = f" (WhatsApp {state.refused})" if state.refused else ""
        route = Route("none", f"outside WhatsApp's 24-hour window{refused}, no template, no SMS consent: not sent")
    log.info("text to %s: %s", mask(recipient_e164), route.reason)
    return route


def record_refusal(store: Store, recipient_e164: str, code: int | None, *, sent_at: dt.datetime | None = None) -> None:
    """Keep what a WhatsApp refusal (Twilio's `code`) says: 63016 the window is closed (Twilio's word over our
    record); 63014/131050 no more templates. Any other code records nothing.

    From the create call `sent_at` is None. From a text's status callback it is when that text was sent (to
    the second, as its record keeps it): a WhatsApp message the person sent after that second is newer than
    the refusal, so the window it opened stays open and the block (63014) it lifted stays lifted; a 131050
    is recorded all the same (writing to us does not resume promotions).
    """
    if code is None or code not in WHATSAPP_REFUSALS:
        return
    if sent_at is not None and code != STOPPED_PROMOTIONS:
        last_inbound = store.whatsapp_state(recipient_e164).last_inbound
        if last_inbound is not None and last_inbound >= sent_at + dt.timedelta(seconds=1):
            log.info("WhatsApp %s for %s: not recorded, they wrote since that text was sent", code,
                     mask(recipient_e164))
            return
    if code == WHATSAPP_WINDOW_CLOSED:
        store.close_whatsapp_window(recipient_e164)
        log.info("WhatsApp %s for %s: its 24-hour window is closed", code, mask(recipient_e164))
    else:
        store.record_whatsapp_refusal(recipient_e164, code)
        log.info("WhatsApp %s for %s: no more templates to it", code, mask(recipient_e164))


def send_late_reply(sms: SmsSender, store: Store, book: CampaignBook, job: LateJob, text: str) -> None:
    """Send a late reply (`text`: the code's reply, or the apology) on the channel `outbound_route` picks.

    Raises `NoChannelAllowed` when no channel may carry it (logged by the route), and the sender's
    errors, after recording WhatsApp's refusals.
    """
    campaign = book.by_slug(job.slug)
    template = campaign.whatsapp_template if campaign else None
    code = store.cached_code(job.sender, job.slug) if template else None
    route = outbound_route(store, book, job.sender, job.channel, dt.datetime.now(dt.UTC), number=job.to,
                           template=template if code else None)
    if route.how == "none":
        raise NoChannelAllowed(route.reason)
    variables = None
    if route.template is not None and campaign is not None:
        variables = route.template.content_variables(**reply_context(campaign, book.program, code=code))
    try:
        sms.send(to=route.to, from_=route.from_, body=text, campaign=job.slug, occasion=LATE,
                 content_sid=route.template.content_sid if route.template else None, content_variables=variables)
    except DeliveryError as exc:
        record_refusal(store, job.sender, exc.code)
        raise


def late_reply_sent(sms: SmsSender, book: CampaignBook, job: LateJob, text: str, after: dt.datetime) -> bool:
    """Whether a late reply already went out since `after` (a try that died between sending and marking
    it sent), by any way `send_late_reply` may have sent it: the window may have closed since, so on
    WhatsApp as free text or as the template, and by SMS.
    """
    sms_from, wa_from = senders(book.program, job.to)
    ways: list[tuple[str, str, str | None]] = [(job.sender, sms_from, None)]
    if job.channel == "whatsapp":
        campaign = book.by_slug(job.slug)
        template = campaign.whatsapp_template if campaign else None
        ways.insert(0, (address(job.sender, "whatsapp"), wa_from, template.content_sid if template else None))
    return any(
        sms.was_sent(to=to, from_=from_, body=text, after=after, campaign=job.slug, occasion=LATE,
                     content_sid=content_sid)
        for to, from_, content_sid in ways
    )
