"""Printable QR posters: the content and layout are built once, the formats are at the edges.

    poster_content(book, slug, options, public_base_url)  -> PosterContent (payload, texts)
    layout(content, options)                               -> Layout (page, text lines, QR block)
    render(layout, "pdf" | "svg" | "png")                  -> bytes

The PDF (reportlab) is the vector master; the SVG draws the same layout with the
text as glyph outlines (so it looks the same without any font installed); the PNG
is the PDF rasterised by PDFium. The QR code comes from one python-qrcode module
matrix (a full QR symbol: phone cameras do not read Micro QR; the error level
exactly as asked) and is drawn as one filled path with its 4-module quiet zone
reserved. Fonts are Bitstream Vera, shipped inside the
reportlab package, so nothing is assumed from the operating system.

Rendering refuses (`PosterError`) when the compliance footer lacks a field.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal
from xml.sax.saxutils import escape

import phonenumbers
import qrcode
import qrcode.constants

from .campaigns import REF_RE, Campaign, CampaignBook, Poster
from .errors import BotError

PAPERS: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}
MODES = ("direct", "tracked")
ERROR_LEVELS = ("L", "M", "Q", "H")
FORMATS = ("pdf", "svg", "png")
QUIET_ZONE = 4  # modules of white around the symbol, the minimum ISO/IEC 18004 allows
PT_PER_MM = 72 / 25.4
MARGIN_MM = 15.0
#: The smallest module we print: below it, phone cameras struggle at any distance.
MIN_MODULE_MM = 0.5

Mode = Literal["direct", "tracked"]


class PosterError(BotError):
    """A poster cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class PosterOptions:
    paper: str = "A4"
    #: Expected scan distance in metres: the QR symbol is at least distance/10 wide.
    distance_m: float = 1.0
    error: str = "M"
    mode: Mode = "direct"
    #: A per-poster reference for a campaign slug (a `[[posters]]` slug carries its own).
    ref: str | None = None

    def check(self) -> None:
        if self.paper not in PAPERS:
            raise PosterError(f"paper: expected one of {', '.join(PAPERS)}, got {self.paper!r}")
        if self.error not in ERROR_LEVELS:
            raise PosterError(f"error correction: expected one of {', '.join(ERROR_LEVELS)}, got {self.error!r}")
        if self.mode not in MODES:
            raise PosterError(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        if not (0.1 <= self.distance_m <= 20):
            raise PosterError(f"distance: expected 0.1 to 20 metres, got {self.distance_m}")


@dataclass(frozen=True)
class PosterContent:
    """What a poster says, independent of its format."""

    slug: str
    campaign: Campaign
    poster: Poster | None
    ref: str | None
    keyword: str
    #: The prefilled text: the keyword, then the poster's reference ("SAVE P7").
    body: str
    number: str
    headline: str
    cta: str
    footer: str
    payload: str
    mode: Mode


def display_number(number: str) -> str:
    """How a number is printed: short codes as they are, long codes in international format."""
    if not number.startswith("+"):
        return number
    shown = phonenumbers.format_number(phonenumbers.parse(number, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return shown.replace(" ", "\u00a0")


def direct_payload(number: str, body: str) -> str:
    """`SMSTO:<number>:<body>`: opens the SMS composer offline in iOS Camera and Google Lens."""
    return f"SMSTO:{number}:{body}"


def tracked_payload(public_base_url: str, slug: str) -> str:
    """The scan URL: GET /q/<slug> counts the scan and shows the landing page."""
    return f"{public_base_url.rstrip('/')}/q/{slug}"


def campaign_number(book: CampaignBook, campaign: Campaign) -> str:
    """The number a campaign is texted to: its own first number, else the program's."""
    return campaign.numbers[0] if campaign.numbers else book.default_number()


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


def resolve_poster(book: CampaignBook, slug: str, ref: str | None) -> tuple[Campaign, Poster | None, str | None]:
    """A slug (+ optional --ref) -> campaign, declared poster (if any) and the reference to prefill."""
    found = book.resolve(slug)
    if found is None:
        known = ", ".join([c.slug for c in book.campaigns] + [p.slug for p in book.posters])
        raise PosterError(f"no campaign or poster with slug {slug!r} (known: {known})")
    campaign, poster = found
    if ref is not None:
        if poster is not None and ref.upper() != poster.ref:
            raise PosterError(f"poster {poster.slug!r} has its own ref {poster.ref!r}: drop --ref or use the campaign slug")
        if not REF_RE.match(ref):
            raise PosterError(f"ref: expected 1-8 letters and digits with at least one digit, e.g. P7, got {ref!r}")
        ref = ref.upper()
        poster = poster or book.poster_for(campaign, (ref,))
    elif poster is not None:
        ref = poster.ref
    return campaign, poster, ref


def poster_content(
    book: CampaignBook, slug: str, options: PosterOptions = PosterOptions(), *, public_base_url: str | None = None
) -> PosterContent:
    options.check()
    campaign, poster, ref = resolve_poster(book, slug, options.ref)
    keyword = poster_keyword(campaign)
    body = f"{keyword} {ref}" if ref else keyword
    number = campaign_number(book, campaign)
    footer = footer_text(book, number)
    if options.mode == "tracked":
        if not public_base_url:
            raise PosterError("mode tracked: PUBLIC_BASE_URL is unset, so the poster has no URL to encode")
        if ref and poster is None:
            raise PosterError(
                f"mode tracked: ref {ref!r} is not a declared poster; add a [[posters]] entry "
                f"(slug, campaign = {campaign.slug!r}, ref = {ref!r}) so its scans can be counted"
            )
        payload = tracked_payload(public_base_url, poster.slug if poster else campaign.slug)
    else:
        payload = direct_payload(number, body)
    headline = (poster.headline if poster else None) or campaign.headline or default_headline(book, campaign)
    cta = f"Scan or text {body} to {display_number(number)}"
    return PosterContent(
        slug=poster.slug if poster else campaign.slug, campaign=campaign, poster=poster, ref=ref, keyword=keyword,
        body=body, number=number, headline=headline, cta=cta, footer=footer, payload=payload, mode=options.mode,
    )


_QRCODE_LEVELS = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


@dataclass(frozen=True)
class QrSymbol:
    """The modules of one QR symbol, without its quiet zone (the layout reserves that)."""

    matrix: tuple[bytearray, ...]
    version: int
    error: str

    @property
    def designator(self) -> str:
        return f"{self.version}-{self.error}"


def make_qr(payload: str, error: str) -> QrSymbol:
    """The smallest full QR symbol for `payload` at exactly error level `error`."""
    qr = qrcode.QRCode(error_correction=_QRCODE_LEVELS[error], border=0)
    qr.add_data(payload)  # split into numeric/alphanumeric/byte segments for the smallest symbol
    qr.make(fit=True)
    matrix = tuple(bytearray(1 if dark else 0 for dark in row) for row in qr.get_matrix())
    return QrSymbol(matrix, qr.version, error)


# --------------------------------------------------------------------------- fonts


@dataclass(frozen=True)
class Font:
    name: str
    path: Path


def _reportlab_font(filename: str) -> Path:
    import reportlab

    return Path(reportlab.__file__).parent / "fonts" / filename


REGULAR = Font("KcbVera", _reportlab_font("Vera.ttf"))
BOLD = Font("KcbVera-Bold", _reportlab_font("VeraBd.ttf"))


@lru_cache(maxsize=None)
def _glyphs(font: Font):
    from fontTools.ttLib import TTFont

    tt = TTFont(str(font.path))
    return tt, tt.getBestCmap(), tt.getGlyphSet(), tt["hmtx"], tt["head"].unitsPerEm


def text_width(text: str, font: Font, size: float) -> float:
    _, cmap, _, hmtx, upem = _glyphs(font)
    return sum(hmtx[cmap.get(ord(ch), ".notdef")][0] for ch in text) * size / upem


def check_glyphs(text: str, font: Font) -> None:
    _, cmap, _, _, _ = _glyphs(font)
    missing = sorted({ch for ch in text if ord(ch) not in cmap})
    if missing:
        raise PosterError(f"the poster font has no glyph for {''.join(missing)!r} in {text!r}")


def wrap(text: str, font: Font, size: float, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):  # never at a no-break space: a number stays on one line
        if lines and text_width(lines[-1] + " " + word, font, size) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class TextLine:
    text: str
    font: Font
    size: float
    #: Centre x and baseline y, in points from the top-left of the page.
    x: float
    baseline: float


@dataclass(frozen=True)
class QrBlock:
    matrix: tuple[bytearray, ...]
    #: Top-left corner of the quiet zone, in points from the top-left of the page.
    x: float
    y: float
    module: float
    version: str

    @property
    def modules(self) -> int:
        return len(self.matrix)

    @property
    def side(self) -> float:
        """The quiet zone included."""
        return (self.modules + 2 * QUIET_ZONE) * self.module


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    title: str
    payload: str
    texts: tuple[TextLine, ...]
    qr: QrBlock
    meta: dict[str, str] = field(default_factory=dict)


def _fit(text: str, font: Font, width: float, largest: float, smallest: float) -> tuple[float, list[str]]:
    """The largest size (down to `smallest`) at which `text` fits one line, else wrapped at `smallest`."""
    size = largest
    while size > smallest and text_width(text, font, size) > width:
        size -= 1
    if text_width(text, font, size) <= width:
        return size, [text]
    return smallest, wrap(text, font, smallest, width)


def layout(content: PosterContent, options: PosterOptions = PosterOptions()) -> Layout:
    options.check()
    for text, font in ((content.headline, BOLD), (content.cta, BOLD), (content.footer, REGULAR)):
        check_glyphs(text, font)
    page_w, page_h = (v * PT_PER_MM for v in PAPERS[options.paper])
    margin = MARGIN_MM * PT_PER_MM
    width = page_w - 2 * margin
    cx = page_w / 2

    head_size, head_lines = _fit(content.headline, BOLD, width, 44, 26)
    cta_size, cta_lines = _fit(content.cta, BOLD, width, 40, 22)
    foot_size = 9.0
    foot_lines = wrap(content.footer, REGULAR, foot_size, width)

    texts: list[TextLine] = []
    y = margin
    for line in head_lines:
        y += head_size
        texts.append(TextLine(line, BOLD, head_size, cx, y))
        y += head_size * 0.25
    qr_top = y + 6
    foot_height = len(foot_lines) * foot_size * 1.3
    cta_height = len(cta_lines) * cta_size * 1.25
    qr_bottom_limit = page_h - margin - foot_height - 12 - cta_height - 6

    qr = make_qr(content.payload, options.error)
    modules = len(qr.matrix)
    room = min(width, qr_bottom_limit - qr_top)  # for the symbol and its quiet zone
    needed_mm = options.distance_m * 100  # symbol width >= distance / 10
    room_symbol_mm = room * modules / (modules + 2 * QUIET_ZONE) / PT_PER_MM
    if needed_mm > room_symbol_mm:
        raise PosterError(
            f"a QR read from {options.distance_m:g} m must be at least {needed_mm:.0f} mm wide, but "
            f"{options.paper} leaves room for {room_symbol_mm:.0f} mm: use a shorter distance or larger paper"
        )
    symbol_mm = max(needed_mm, 0.8 * room_symbol_mm)
    module = symbol_mm * PT_PER_MM / modules
    if module / PT_PER_MM < MIN_MODULE_MM:
        raise PosterError(f"QR modules would be {module / PT_PER_MM:.2f} mm: use a lower error level or a shorter payload")
    side = (modules + 2 * QUIET_ZONE) * module
    # The QR code and its call to action sit in the middle of the room they leave.
    qr_top += max(0.0, qr_bottom_limit - qr_top - side) / 2
    block = QrBlock(qr.matrix, cx - side / 2, qr_top, module, qr.designator)

    y = qr_top + side + 6
    for line in cta_lines:
        y += cta_size
        texts.append(TextLine(line, BOLD, cta_size, cx, y))
        y += cta_size * 0.25
    y = page_h - margin - foot_height
    for line in foot_lines:
        y += foot_size * 1.3
        texts.append(TextLine(line, REGULAR, foot_size, cx, y - foot_size * 0.3))
    return Layout(
        page_w, page_h, content.headline, content.payload, tuple(texts), block,
        meta={"slug": content.slug, "mode": content.mode, "error": options.error, "paper": options.paper},
    )


def dark_runs(matrix: Iterable[bytearray]) -> Iterable[tuple[int, int, int]]:
    """(row, first column, length) of each horizontal run of dark modules: one path, no seams."""
    for row, values in enumerate(matrix):
        col = 0
        n = len(values)
        while col < n:
            if values[col]:
                start = col
                while col < n and values[col]:
                    col += 1
                yield row, start, col - start
            else:
                col += 1


# --------------------------------------------------------------------------- outputs


def render_pdf(lay: Layout) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    for font in (REGULAR, BOLD):
        if font.name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(font.name, str(font.path)))
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(lay.width, lay.height), invariant=1)
    pdf.setTitle(lay.title)
    pdf.setSubject("QR poster")
    pdf.setCreator("keyword-coupon-bot")
    pdf.setFillColorRGB(0, 0, 0)
    for line in lay.texts:
        pdf.setFont(line.font.name, line.size)
        pdf.drawCentredString(line.x, lay.height - line.baseline, line.text)
    qr = lay.qr
    path = pdf.beginPath()
    origin_x = qr.x + QUIET_ZONE * qr.module
    origin_y = qr.y + QUIET_ZONE * qr.module
    for row, col, length in dark_runs(qr.matrix):
        top = origin_y + row * qr.module
        path.rect(origin_x + col * qr.module, lay.height - top - qr.module, length * qr.module, qr.module)
    pdf.drawPath(path, stroke=0, fill=1)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _glyph_path(text: str, font: Font, size: float, x: float, baseline: float) -> str:
    from fontTools.pens.svgPathPen import SVGPathPen

    _, cmap, glyphset, hmtx, upem = _glyphs(font)
    scale = size / upem
    pen_x = x - text_width(text, font, size) / 2
    parts = []
    for ch in text:
        name = cmap.get(ord(ch), ".notdef")
        pen = SVGPathPen(glyphset)
        glyphset[name].draw(pen)
        d = pen.getCommands()
        if d:
            parts.append(
                f'<path transform="translate({pen_x:.3f} {baseline:.3f}) scale({scale:.6f} {-scale:.6f})" d="{d}"/>'
            )
        pen_x += hmtx[name][0] * scale
    return f'<g aria-hidden="true">{"".join(parts)}</g>'


def render_svg(lay: Layout) -> bytes:
    qr = lay.qr
    origin_x = qr.x + QUIET_ZONE * qr.module
    origin_y = qr.y + QUIET_ZONE * qr.module
    d = "".join(f"M{col} {row}h{length}v1h-{length}z" for row, col, length in dark_runs(qr.matrix))
    w_mm, h_mm = lay.width / PT_PER_MM, lay.height / PT_PER_MM
    body = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w_mm:.1f}mm" height="{h_mm:.1f}mm" '
        f'viewBox="0 0 {lay.width:.3f} {lay.height:.3f}">',
        f"<title>{escape(lay.title)}</title>",
        f'<rect width="{lay.width:.3f}" height="{lay.height:.3f}" fill="#fff"/>',
        '<g fill="#000">',
        *(_glyph_path(t.text, t.font, t.size, t.x, t.baseline) for t in lay.texts),
        f'<path transform="translate({origin_x:.3f} {origin_y:.3f}) scale({qr.module:.5f})" d="{d}"/>',
        "</g>",
        # The words, for search and screen readers; the glyph paths above draw them.
        f'<desc>{escape(" ".join(t.text for t in lay.texts))}</desc>',
        "</svg>",
    ]
    return "\n".join(body).encode("utf-8")


def render_png(lay: Layout, dpi: int = 300) -> bytes:
    """The PDF master rasterised by PDFium: the same layout, pixel for pixel."""
    import pypdfium2

    document = pypdfium2.PdfDocument(render_pdf(lay))
    try:
        bitmap = document[0].render(scale=dpi / 72, fill_color=(255, 255, 255, 255), grayscale=True)
        image = bitmap.to_pil()
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()


def render(lay: Layout, fmt: str, *, dpi: int = 300) -> bytes:
    if fmt == "pdf":
        return render_pdf(lay)
    if fmt == "svg":
        return render_svg(lay)
    if fmt == "png":
        return render_png(lay, dpi=dpi)
    raise PosterError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise PosterError(f"{path}: the output must end in .png, .svg or .pdf")
    return suffix


MEDIA_TYPES = {"pdf": "application/pdf", "svg": "image/svg+xml", "png": "image/png"}
