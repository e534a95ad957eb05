"""Printable QR posters: the content and layout are built once, the formats are at the edges.

    poster_content(book, slug, options, public_base_url)  -> PosterContent (payload, texts)   content.py
    layout(content, options)                               -> Layout (page, text lines, QR)    layout.py
    render(layout, "pdf" | "svg" | "png")                  -> bytes                            formats.py

The PDF (reportlab) is the vector master; the SVG draws the same layout with the
text as glyph outlines; the PNG is the PDF rasterised by PDFium. The wording
(`content.wording`) is shared with the landing page. Every step refuses with
`PosterError`, e.g. when the compliance footer lacks a field.
"""

from .content import PosterContent, campaign_number, poster_content, whatsapp_payload, wording
from .formats import MEDIA_TYPES, format_of, render
from .layout import PT_PER_MM, QUIET_ZONE, layout, make_qr
from .options import ERROR_LEVELS, MODES, PAPERS, PosterError, PosterOptions

__all__ = [
    "ERROR_LEVELS", "MEDIA_TYPES", "MODES", "PAPERS", "PT_PER_MM", "QUIET_ZONE", "PosterContent", "PosterError",
    "PosterOptions", "campaign_number", "format_of", "layout", "make_qr", "poster_content", "render",
    "whatsapp_payload", "wording",
]
