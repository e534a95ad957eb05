"""The output formats: one table of renderers, each a module at the edge (as python-qrcode keeps
its image back ends), so a new format is one module and one row here."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from .options import PosterError

if TYPE_CHECKING:
    from .geometry import Layout

#: Format -> (renderer module, media type). A renderer module (and the heavy library it draws with)
#: loads on first use, so a process that never renders a poster never loads one.
RENDERERS: dict[str, tuple[str, str]] = {
    "pdf": ("render_pdf", "application/pdf"),
    "svg": ("render_svg", "image/svg+xml"),
    "png": ("render_png", "image/png"),
}
FORMATS = tuple(RENDERERS)
MEDIA_TYPES = {fmt: media_type for fmt, (_, media_type) in RENDERERS.items()}


def render(lay: Layout, fmt: str, *, dpi: int = 300) -> bytes:
    if fmt not in RENDERERS:
        raise PosterError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    module, _ = RENDERERS[fmt]
    return importlib.import_module(f".{module}", __package__).render(lay, dpi=dpi)


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise PosterError(f"{path}: the output must end in .png, .svg or .pdf")
    return suffix
