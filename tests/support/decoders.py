"""Independent QR decoders for the tests: zxing-cpp (PyPI) and zbar's `zbarimg` (Debian).

Neither shares code with python-qrcode, which makes the posters. PDFs are rasterised
with PDFium (pypdfium2) and SVGs with cairosvg, so every format is decoded
from pixels, the way a phone sees it.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import cairosvg
import pypdfium2
import pytest
import zxingcpp
from PIL import Image


@dataclass(frozen=True)
class Decoded:
    text: str
    ec_level: str
    version: str
    #: The symbol's bounds in pixels (left, top, right, bottom), quiet zone excluded.
    box: tuple[int, int, int, int]


def raster(data: bytes, fmt: str, *, dpi: int = 150) -> Image.Image:
    """Pixels of a poster in any format, greyscale."""
    if fmt == "png":
        return Image.open(io.BytesIO(data)).convert("L")
    if fmt == "pdf":
        document = pypdfium2.PdfDocument(data)
        try:
            return document[0].render(scale=dpi / 72, fill_color=(255, 255, 255, 255)).to_pil().convert("L")
        finally:
            document.close()
    if fmt == "svg":
        png = cairosvg.svg2png(bytestring=data, dpi=dpi, background_color="white")
        return Image.open(io.BytesIO(png)).convert("L")
    raise ValueError(fmt)


def zxing(image: Image.Image) -> Decoded:
    """Exactly one full QR code (never Micro QR) in `image`, read by zxing-cpp."""
    results = zxingcpp.read_barcodes(image, formats=(zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.MicroQRCode))
    assert len(results) == 1, f"expected one QR code, zxing-cpp found {len(results)}"
    [found] = results
    assert found.format == zxingcpp.BarcodeFormat.QRCode, f"not a full QR code: {found.format}"
    p = found.position
    xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
    ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
    return Decoded(found.text, found.ec_level, found.extra.get("Version", ""), (min(xs), min(ys), max(xs), max(ys)))


def zbarimg_binary() -> str:
    binary = shutil.which("zbarimg")
    if binary is None:
        pytest.fail("zbarimg is not installed: run `make test` (installs Debian's zbar-tools when root)")
    return binary


def zbar(image: Image.Image) -> list[str]:
    """Every QR payload zbarimg reads from `image` (a PNG on its stdin)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    result = subprocess.run(
        [zbarimg_binary(), "--raw", "-q", "--nodbus", "-Sdisable", "-Sqrcode.enable", "-"],
        input=buffer.getvalue(), capture_output=True, timeout=30,
    )
    assert result.returncode in (0, 4), result.stderr.decode()
    return result.stdout.decode().splitlines()
