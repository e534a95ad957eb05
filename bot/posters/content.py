"""What a poster says, independent of its format; its landing page says the same words.

`wording` is the one place the headline, keyword, text to send, number and
compliance footer are worded. On paper every word must print (a plain-ASCII
keyword, a complete footer) or `PosterError` says what to add; on screen the
landing page falls back to the campaign's first keyword and the program's HELP text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

import phonenumbers

from ..campaigns import REF_RE, Campaign, CampaignBook, Poster
from .options import DEFAULT_OPTIONS, PosterError, PosterOptions


@dataclass(frozen=True)
class Wording:
    headline: str
    keyword: str
    #: The text to send: the keyword, then the poster's reference ("SAVE P7").
    body: str
    #: The number texted: E.164 or a short code.
    number: str
    #: The number as printed.
    shown_number: str
    footer: str
    #: The WhatsApp sender the campaign is reached on, if the program has one (`whatsapp_number`).
    whatsapp_number: str | None = None


@dataclass(frozen=True)
class PosterContent:
    """What a poster says, and the QR payload it encodes."""

    slug: str
    poster: Poster | None
    ref: str | None
    headline: str
    cta: str
    footer: str
    payload: str
    #: What this poster is, said from the slug it was asked for, and a note for the operator (`describe`).
    summary: str = ""
    note: str | None = None


def display_number(number: str) -> str:
    """How a number is printed: short codes as they are, long codes in international format."""
    if not number.startswith("+"):
        return number
    shown = phonenumbers.format_number(phonenumbers.parse(number, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return shown.replace(" ", "\u00a0")


def direct_payload(number: str, body: str) -> str:
    """`SMSTO:<number>:<body>`: opens the SMS composer offline in iOS Camera and Google Lens."""
    return f"SMSTO:{number}:{body}"


def whatsapp_payload(number: str, body: str) -> str:
    """`https://wa.me/<digits>?text=<body>`: WhatsApp's click-to-chat link, the body typed in."""
    digits = "".join(c for c in number if c.isdigit())
    return f"https://wa.me/{digits}?text={quote(body, safe='')}"


def tracked_payload(public_base_url: str, slug: str) -> str:
    """The scan URL: GET /q/<slug> counts the scan and shows the landing page."""
    return f"{public_base_url.rstrip('/')}/q/{slug}"


def campaign_number(book: CampaignBook, campaign: Campaign) -> str:
    """The number a campaign is texted to: its own first number, else the program's."""
    return campaign.numbers[0] if campaign.numbers else book.default_number()


def whatsapp_number(book: CampaignBook, campaign: Campaign) -> str | None:
    """The WhatsApp sender a campaign is reached on: its own first one, else the program's first, else None."""
    senders = book.program.whatsapp_numbers
    return next((n for n in campaign.numbers if n in senders), None) or (senders[0] if senders else None)


def poster_keyword(campaign: Campaign) -> str:
    """The keyword printed and prefilled: the campaign's first plain-ASCII one (GSM-7 safe)."""
    for keyword in campaign.keywords:
        if keyword.isascii() and keyword.strip().replace(" ", "").isalnum():
            return keyword.strip().upper()
    raise PosterError(f"campaign {campaign.slug!r}: no plain ASCII keyword (A-Z, 0-9) to print on a poster")


def default_headline(book: CampaignBook, campaign: Campaign) -> str:
    name = book.program.name
    return {
        "loyalty": f"Check your {name} points",
        "referral": f"Get your {name} referral code",
    }.get(campaign.kind, f"Get your {name} coupon")


def footer_text(book: CampaignBook, number: str) -> str:
    """The compliance footer; refuses with every missing field named."""
    program = book.program
    missing = []
    if not program.name:
        missing.append('[program] name (the program or brand name)')
    if not program.frequency:
        missing.append('[program] frequency (the message frequency, e.g. "Up to 2 msgs/mo")')
    if not program.terms_url:
        missing.append("[program] terms_url (the full URL of the terms and privacy policy)")
    if missing:
        raise PosterError(
            f"cannot render the poster: the compliance footer needs {' and '.join(missing)} in {book.path}"
        )
    shown = display_number(number)
    return (
        f"{program.name}: {program.frequency.rstrip('.')}. Msg & data rates may apply. "
        f"Text HELP to {shown} for help, STOP to cancel. Consent is not a condition of purchase. "
        f"Terms & privacy: {program.terms_url}"
    )


def wording(
    book: CampaignBook, campaign: Campaign, poster: Poster | None, *, ref: str | None = None, printed: bool = True
) -> Wording:
    """The words for a campaign (and poster); `ref` defaults to the poster's. See the module's note on `printed`."""
    ref = ref or (poster.ref if poster else None)
    try:
        keyword = poster_keyword(campaign)
    except PosterError:
        if printed:
            raise
        keyword = campaign.keywords[0]
    body = f"{keyword} {ref}" if ref else keyword
    number = campaign_number(book, campaign)
    try:
        footer = footer_text(book, number)
    except PosterError:
        if printed:
            raise
        footer = book.program.help
    headline = (poster.headline if poster else None) or campaign.headline or default_headline(book, campaign)
    return Wording(headline, keyword, body, number, display_number(number), footer,
                   whatsapp_number(book, campaign))


def resolve_poster(book: CampaignBook, slug: str, ref: str | None) -> tuple[Campaign, Poster | None, str | None]:
    """A slug (+ optional --ref) -> campaign, declared poster (if any) and the reference to prefill."""
    found = book.resolve(slug)
    if found is None:
        known = ", ".join([c.slug for c in book.campaigns] + [p.slug for p in book.posters])
        raise PosterError(f"no campaign or poster with slug {slug!r} (known: {known})")
    campaign, poster = found
    if ref is not None:
        if poster is not None and ref.upper() != poster.ref:
            raise PosterError(
                f"poster {poster.slug!r} has its own ref {poster.ref!r}: drop --ref or use the campaign slug"
            )
        if not REF_RE.match(ref):
            raise PosterError(f"ref: expected 1-8 letters and digits with at least one digit, e.g. P7, got {ref!r}")
        ref = ref.upper()
        poster = poster or book.poster_for(campaign, (ref,))
    elif poster is not None:
        ref = poster.ref
    return campaign, poster, ref


def describe(asked: str, campaign: Campaign, poster: Poster | None, ref: str | None) -> tuple[str, str | None]:
    """What a poster is, in the terms it was asked for, and what an operator should know about it:
    `bot poster spring --ref P7` is campaign spring with ref P7, which is poster spring-main-street's
    ref (so it counts there), not that poster by name."""
    if poster is None:
        if ref is None:
            return f"campaign {campaign.slug}", None
        return f"campaign {campaign.slug} with ref {ref}", (
            f"ref {ref} is not declared in [[posters]]; texts carrying it are counted as 'unlisted'"
        )
    if asked.lower() == poster.slug:
        return f"declared poster {poster.slug} (campaign {campaign.slug}, ref {ref})", None
    return f"campaign {campaign.slug} with ref {ref}", (
        f"ref {ref} is poster {poster.slug}'s: this poster carries its headline, and texts carrying "
        f"the ref are counted for {poster.slug}"
    )


def poster_content(
    book: CampaignBook, slug: str, options: PosterOptions = DEFAULT_OPTIONS, *, public_base_url: str | None = None
) -> PosterContent:
    options.check()
    campaign, poster, ref = resolve_poster(book, slug, options.ref)
    words = wording(book, campaign, poster, ref=ref)
    summary, note = describe(slug, campaign, poster, ref)
    if options.mode == "tracked":
        if not public_base_url:
            raise PosterError("mode tracked: PUBLIC_BASE_URL is unset, so the poster has no URL to encode")
        if ref and poster is None:
            raise PosterError(
                f"mode tracked: ref {ref!r} is not a declared poster; add a [[posters]] entry "
                f"(slug, campaign = {campaign.slug!r}, ref = {ref!r}) so its scans can be counted"
            )
        payload = tracked_payload(public_base_url, poster.slug if poster else campaign.slug)
        cta = f"Scan or text {words.body} to {words.shown_number}"
    elif options.channel == "whatsapp":
        if words.whatsapp_number is None:
            raise PosterError(f"channel whatsapp: add [program] whatsapp_numbers to {book.path}")
        payload = whatsapp_payload(words.whatsapp_number, words.body)
        shown = display_number(words.whatsapp_number)
        cta = f"Scan or send {words.body} on WhatsApp to {shown}"
        words = replace(words, footer=footer_text(book, words.whatsapp_number))
    else:
        payload = direct_payload(words.number, words.body)
        cta = f"Scan or text {words.body} to {words.shown_number}"
    return PosterContent(
        slug=poster.slug if poster else campaign.slug, poster=poster, ref=ref, headline=words.headline,
        cta=cta, footer=words.footer, payload=payload, summary=summary, note=note,
    )
