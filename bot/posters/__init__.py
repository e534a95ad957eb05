"""Printable QR posters: the content and layout are built once, the formats are at the edges.

    poster_content(book, slug, options, public_base_url)  -> PosterContent (payload, texts)   content.py
    layout(content, options)                               -> Layout (page, text lines, QR)    geometry.py
    render(layout, "pdf" | "svg" | "png")                  -> bytes                            formats.py

The PDF (reportlab) is the vector master; the SVG draws the same layout with the
text as glyph outlines; the PNG is the PDF rasterised by PDFium. The wording
(`content.wording`) is shared with the landing page. Every step refuses with
`PosterError`, e.g. when the compliance footer lacks a field.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each public name and the module that holds it, loaded on first use: the landing page needs only
#: the wording (content.py); the layout's fonts and QR drawers (reportlab, PIL) load with a poster.
_HOMES = {
    "PosterContent": "content", "campaign_number": "content", "poster_content": "content",
    "whatsapp_payload": "content", "wording": "content",
    "MEDIA_TYPES": "formats", "format_of": "formats", "render": "formats",
    "PT_PER_MM": "geometry", "QUIET_ZONE": "geometry", "layout": "geometry", "make_qr": "geometry",
    "ERROR_LEVELS": "options", "MODES": "options", "PAPERS": "options", "PosterError": "options",
    "PosterOptions": "options",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)


__all__ = [
    "ERROR_LEVELS", "MEDIA_TYPES", "MODES", "PAPERS", "PT_PER_MM", "QUIET_ZONE", "PosterContent", "PosterError",
    "PosterOptions", "campaign_number", "format_of", "layout", "make_qr", "poster_content", "render",
    "whatsapp_payload", "wording",
]
