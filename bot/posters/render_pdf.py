"""The PDF, drawn by reportlab: the vector master the PNG is rasterised from."""

from __future__ import annotations

import io

from .fonts import BOLD, REGULAR
from .geometry import Layout, dark_runs


def render(lay: Layout, *, dpi: int = 300) -> bytes:
    """A vector page: `dpi` is not used."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    for font in (REGULAR, BOLD):
        if font.name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(font.name, str(font.path)))
    out = io.BytesIO()
    # The canvas opens every page with its initial font: left at reportlab's default, that is a
    # Helvetica the PDF references but cannot embed (a base-14 font), so a printer substitutes it.
    pdf = canvas.Canvas(
        out, pagesize=(lay.width, lay.height), invariant=1, initialFontName=REGULAR.name, initialFontSize=9
    )
    pdf.setTitle(lay.title)
    pdf.setSubject("QR poster")
    pdf.setCreator("keyword-coupon-bot")
    pdf.setFillColorRGB(0, 0, 0)
    for line in lay.texts:
        pdf.setFont(line.font.name, line.size)
        pdf.drawCentredString(line.x, lay.height - line.baseline, line.text)
    qr = lay.qr
    path = pdf.beginPath()
    origin_x, origin_y = qr.origin
    for row, col, length in dark_runs(qr.matrix):
        top = origin_y + row * qr.module
        path.rect(origin_x + col * qr.module, lay.height - top - qr.module, length * qr.module, qr.module)
    pdf.drawPath(path, stroke=0, fill=1)
    pdf.showPage()
    pdf.save()
    return out.getvalue()
