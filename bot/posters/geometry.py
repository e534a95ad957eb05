"""Where everything goes on the page: one geometry every format draws.

The QR code comes from one python-qrcode module matrix (a full QR symbol: phone
cameras do not read Micro QR; the error level exactly as asked), sized to be read
from the scan distance asked, with its 4-module quiet zone reserved. All lengths
are points from the page's top-left corner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import qrcode
import qrcode.constants

from .content import PosterContent
from .fonts import BOLD, REGULAR, Font, check_glyphs, text_width
from .options import DEFAULT_OPTIONS, PAPERS, PosterError, PosterOptions

QUIET_ZONE = 4  # modules of white around the symbol, the minimum ISO/IEC 18004 allows
PT_PER_MM = 72 / 25.4
MARGIN_MM = 15.0
#: The smallest module we print: below it, phone cameras struggle at any distance.
MIN_MODULE_MM = 0.5


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
    error: str


def make_qr(payload: str, error: str) -> QrSymbol:
    """The smallest full QR symbol for `payload` at exactly error level `error`."""
    qr = qrcode.QRCode(error_correction=_QRCODE_LEVELS[error], border=0)
    qr.add_data(payload)  # split into numeric/alphanumeric/byte segments for the smallest symbol
    qr.make(fit=True)
    matrix = tuple(bytearray(1 if dark else 0 for dark in row) for row in qr.get_matrix())
    return QrSymbol(matrix, error)


def wrap(text: str, font: Font, size: float, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):  # never at a no-break space: a number stays on one line
        if lines and text_width(lines[-1] + " " + word, font, size) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


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

    @property
    def modules(self) -> int:
        return len(self.matrix)

    @property
    def origin(self) -> tuple[float, float]:
        """The symbol's own top-left corner, inside the quiet zone."""
        return self.x + QUIET_ZONE * self.module, self.y + QUIET_ZONE * self.module

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


def _fit(text: str, font: Font, width: float, largest: float, smallest: float) -> tuple[float, list[str]]:
    """The largest size (down to `smallest`) at which `text` fits one line, else wrapped at `smallest`."""
    size = largest
    while size > smallest and text_width(text, font, size) > width:
        size -= 1
    if text_width(text, font, size) <= width:
        return size, [text]
    return smallest, wrap(text, font, smallest, width)


def layout(content: PosterContent, options: PosterOptions = DEFAULT_OPTIONS) -> Layout:
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
        raise PosterError(
            f"QR modules would be {module / PT_PER_MM:.2f} mm: use a lower error level or a shorter payload"
        )
    side = (modules + 2 * QUIET_ZONE) * module
    # The QR code and its call to action sit in the middle of the room they leave.
    qr_top += max(0.0, qr_bottom_limit - qr_top - side) / 2
    block = QrBlock(qr.matrix, cx - side / 2, qr_top, module)

    y = qr_top + side + 6
    for line in cta_lines:
        y += cta_size
        texts.append(TextLine(line, BOLD, cta_size, cx, y))
        y += cta_size * 0.25
    y = page_h - margin - foot_height
    for line in foot_lines:
        y += foot_size * 1.3
        texts.append(TextLine(line, REGULAR, foot_size, cx, y - foot_size * 0.3))
    return Layout(page_w, page_h, content.headline, content.payload, tuple(texts), block)


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

