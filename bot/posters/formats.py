"""The output formats: one table of renderers, each a module at the edge (as python-qrcode keeps
its image back ends), so a new format is one module and one row here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import render_pdf, render_png, render_svg
from .layout import Layout
from .options import PosterError

#: Format -> (renderer, media type). Heavy libraries load inside each renderer, on first use.
RENDERERS: dict[str, tuple[Callable[..., bytes], str]] = {
    "pdf": (render_pdf.render, "application/pdf"),
    "svg": (render_svg.render, "image/svg+xml"),
    "png": (render_png.render, "image/png"),
}
FORMATS = tuple(RENDERERS)
MEDIA_TYPES = {fmt: media_type for fmt, (_, media_type) in RENDERERS.items()}


def render(lay: Layout, fmt: str, *, dpi: int = 300) -> bytes:
    if fmt not in RENDERERS:
        raise PosterError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    renderer, _ = RENDERERS[fmt]
    return renderer(lay, dpi=dpi)


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise PosterError(f"{path}: the output must end in .png, .svg or .pdf")
    return suffix
