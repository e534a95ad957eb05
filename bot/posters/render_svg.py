"""The SVG: the same layout with the text as glyph outlines, so it looks the same without any
font installed; the words themselves are in <title> and <desc> for search and screen readers."""

from __future__ import annotations

from xml.sax.saxutils import escape

from .fonts import Font, glyphs, text_width
from .geometry import PT_PER_MM, Layout, dark_runs


def _glyph_path(text: str, font: Font, size: float, x: float, baseline: float) -> str:
    from fontTools.pens.svgPathPen import SVGPathPen

    _, cmap, glyphset, hmtx, upem = glyphs(font)
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


def render(lay: Layout, *, dpi: int = 300) -> bytes:
    """A vector page: `dpi` is not used."""
    qr = lay.qr
    origin_x, origin_y = qr.origin
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
