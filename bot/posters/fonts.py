"""The poster's fonts: Bitstream Vera, shipped inside the reportlab package, so nothing is
assumed from the operating system. Widths (for the layout) and glyph outlines (for the SVG)
come from the same TrueType files the PDF embeds."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .options import PosterError


@dataclass(frozen=True)
class Font:
    name: str
    path: Path


def _reportlab_font(filename: str) -> Path:
    import reportlab

    return Path(reportlab.__file__).parent / "fonts" / filename


REGULAR = Font("KcbVera", _reportlab_font("Vera.ttf"))
BOLD = Font("KcbVera-Bold", _reportlab_font("VeraBd.ttf"))


@cache
def glyphs(font: Font):
    """The font's (TTFont, cmap, glyph set, hmtx, units per em), read once."""
    from fontTools.ttLib import TTFont

    tt = TTFont(str(font.path))
    return tt, tt.getBestCmap(), tt.getGlyphSet(), tt["hmtx"], tt["head"].unitsPerEm


def text_width(text: str, font: Font, size: float) -> float:
    _, cmap, _, hmtx, upem = glyphs(font)
    return sum(hmtx[cmap.get(ord(ch), ".notdef")][0] for ch in text) * size / upem


def check_glyphs(text: str, font: Font) -> None:
    _, cmap, _, _, _ = glyphs(font)
    missing = sorted({ch for ch in text if ord(ch) not in cmap})
    if missing:
        raise PosterError(f"the poster font has no glyph for {''.join(missing)!r} in {text!r}")
