"""The PNG: the PDF master rasterised by PDFium, the same layout pixel for pixel."""

from __future__ import annotations

import io

from . import render_pdf
from .geometry import Layout


def render(lay: Layout, *, dpi: int = 300) -> bytes:
    import pypdfium2

    document = pypdfium2.PdfDocument(render_pdf.render(lay))
    try:
        bitmap = document[0].render(scale=dpi / 72, fill_color=(255, 255, 255, 255), grayscale=True)
        image = bitmap.to_pil()
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()
