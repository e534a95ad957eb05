"""Posters: every format decodes with independent decoders to the payload it promises."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from bot.campaign_file import load_campaigns
from bot.errors import CampaignFileError
from bot.posters import (
    PT_PER_MM,
    QUIET_ZONE,
    PosterError,
    PosterOptions,
    layout,
    make_qr,
    poster_content,
    render,
)
from tests.support.campaign_files import CAMPAIGNS, WITH_POSTERS
from tests.support.cli import run_bot as bot
from tests.support.decoders import raster, zbar, zxing
from tests.support.webhooks import PUBLIC_BASE_URL

DIRECT = "SMSTO:+15005550006:SAVE"


@pytest.fixture
def book(tmp_path: Path):
    path = tmp_path / "campaigns.toml"
    path.write_text(WITH_POSTERS)
    return load_campaigns(path)


def make(book, slug: str, fmt: str, **options) -> tuple[bytes, object]:
    opts = PosterOptions(**options)
    content = poster_content(book, slug, opts, public_base_url=PUBLIC_BASE_URL)
    lay = layout(content, opts)
    return render(lay, fmt, dpi=150), lay


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
@pytest.mark.parametrize(
    "slug, options, payload",
    [
        ("spring", {}, DIRECT),
        ("spring", {"ref": "Q9"}, DIRECT + " Q9"),
        ("spring-main-street", {}, DIRECT + " P7"),
        ("spring", {"mode": "tracked"}, PUBLIC_BASE_URL + "/q/spring"),
        ("spring-harbour", {"mode": "tracked", "error": "Q"}, PUBLIC_BASE_URL + "/q/spring-harbour"),
        ("spring", {"ref": "p7", "mode": "tracked"}, PUBLIC_BASE_URL + "/q/spring-main-street"),
    ],
)
def test_every_format_decodes_to_its_payload(book, fmt, slug, options, payload):
    data, lay = make(book, slug, fmt, **options)
    decoded = zxing(raster(data, fmt))
    assert decoded.text == payload
    assert lay.payload == payload
    assert decoded.ec_level == options.get("error", "M")


def test_png_decodes_with_zbar_also_downscaled_to_two_and_a_half_pixels_per_module(book):
    data, lay = make(book, "spring-main-street", "png", mode="direct")
    image = raster(data, "png")
    assert zbar(image) == [DIRECT + " P7"]
    px_per_module = lay.qr.module * 150 / 72
    scale = 2.5 / px_per_module
    small = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BOX)
    assert zbar(small) == [DIRECT + " P7"]
    assert zxing(small).text == DIRECT + " P7"


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_the_quiet_zone_is_four_white_modules_wide(book, fmt):
    dpi = 150
    data, lay = make(book, "spring-main-street", fmt)
    image = raster(data, fmt, dpi=dpi)
    left, top, right, bottom = zxing(image).box
    modules = lay.qr.modules
    module_px = (right - left + 1) / modules
    assert module_px == pytest.approx(lay.qr.module * dpi / 72, rel=0.02)
    quiet = round(QUIET_ZONE * module_px) - 1  # inside the ring, away from anti-aliased edges
    pixels = image.load()
    ring = [
        (x, y)
        for x in range(left - quiet, right + quiet + 1)
        for y in range(top - quiet, bottom + quiet + 1)
        if not (left - 1 <= x <= right + 1 and top - 1 <= y <= bottom + 1)
    ]
    assert min(pixels[x, y] for x, y in ring) >= 250, "something is drawn inside the quiet zone"
    # The symbol itself starts right at its bounds (the finder pattern's dark corner).
    assert pixels[left + 2, top + 2] < 50


def test_the_error_level_is_exactly_as_asked_and_a_denser_level_never_shrinks_the_symbol():
    symbols = [make_qr(DIRECT, level) for level in "LMQH"]
    assert [s.error for s in symbols] == list("LMQH")
    sizes = [len(s.matrix) for s in symbols]
    assert sizes == sorted(sizes) and all(size >= 21 for size in sizes)  # 21 = version 1, a full QR symbol


@pytest.mark.parametrize("distance", [0.5, 1.0, 1.3])
def test_the_symbol_is_at_least_a_tenth_of_the_scan_distance(book, distance):
    dpi = 150
    data, _ = make(book, "spring", "pdf", distance_m=distance)
    left, _, right, _ = zxing(raster(data, "pdf", dpi=dpi)).box
    width_mm = (right - left) / dpi * 25.4
    assert width_mm >= distance * 100 * 0.99


def test_a_distance_the_paper_cannot_hold_is_refused(book):
    with pytest.raises(PosterError, match=r"from 3 m must be at least 300 mm wide.*A4"):
        make(book, "spring", "pdf", distance_m=3)


def test_letter_paper_has_letter_size(book):
    _, lay = make(book, "spring", "pdf", paper="Letter")
    assert (round(lay.width / PT_PER_MM, 1), round(lay.height / PT_PER_MM, 1)) == (215.9, 279.4)


def test_poster_texts_cta_and_footer(book):
    content = poster_content(book, "spring-main-street", PosterOptions())
    assert content.cta == "Scan or text SAVE P7 to +1\u00a0500-555-0006"
    assert content.headline == "Main Street: 10% off"
    for part in ("Acme Rewards", "Up to 2 msgs/mo", "Msg & data rates may apply", "HELP", "STOP",
                 "https://example.com/sms-terms"):
        assert part in content.footer
    _, lay = make(book, "spring-main-street", "pdf")
    assert any(t.text == "Main Street: 10% off" for t in lay.texts)


@pytest.mark.parametrize(
    "remove, named",
    [
        ('frequency = "Up to 2 msgs/mo"\n', "[program] frequency"),
        ('terms_url = "https://example.com/sms-terms"\n', "[program] terms_url"),
    ],
)
def test_rendering_refuses_when_a_footer_field_is_missing(tmp_path, remove, named):
    path = tmp_path / "campaigns.toml"
    path.write_text(WITH_POSTERS.replace(remove, ""))
    with pytest.raises(PosterError, match=r"compliance footer needs " + named.replace("[", r"\[").replace("]", r"\]")):
        poster_content(load_campaigns(path), "spring", PosterOptions())


def test_tracked_needs_public_base_url_and_a_declared_poster_for_a_ref(book):
    with pytest.raises(PosterError, match="PUBLIC_BASE_URL"):
        poster_content(book, "spring", PosterOptions(mode="tracked"), public_base_url=None)
    with pytest.raises(PosterError, match=r"ref 'Q9' is not a declared poster"):
        poster_content(book, "spring", PosterOptions(mode="tracked", ref="Q9"), public_base_url=PUBLIC_BASE_URL)


def test_unknown_slug_and_bad_ref_are_refused(book):
    with pytest.raises(PosterError, match=r"no campaign or poster with slug 'nope' \(known: spring, club"):
        poster_content(book, "nope", PosterOptions())
    with pytest.raises(PosterError, match="ref: expected"):
        poster_content(book, "spring", PosterOptions(ref="now"))


def test_poster_tables_are_validated_with_their_place(tmp_path):
    path = tmp_path / "campaigns.toml"
    text = CAMPAIGNS + """
[[posters]]
slug = "spring-x"
campaign = "nope"
ref = "P1"

[[posters]]
slug = "spring"
campaign = "spring"
ref = "hello"
colour = "red"
"""
    path.write_text(text)
    with pytest.raises(CampaignFileError) as failure:
        load_campaigns(path)
    lines = text.splitlines()
    campaign_line = lines.index('campaign = "nope"') + 1
    slug_line = lines.index('slug = "spring"', campaign_line) + 1
    problems = [str(p) for p in failure.value.problems]
    assert f"{path}:{campaign_line}: [[posters]] #1 (spring-x).campaign: no campaign with slug 'nope'" in problems
    assert f"{path}:{slug_line}: [[posters]] #2 (spring).slug: slug 'spring' is already a campaign's slug" in problems
    assert any(".ref: expected a short reference" in p for p in problems)
    assert any(".colour: unknown field 'colour'" in p for p in problems)


def test_cli_writes_each_format_by_suffix(tmp_path):
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(WITH_POSTERS)
    env = {"CAMPAIGNS_FILE": str(campaigns), "PUBLIC_BASE_URL": PUBLIC_BASE_URL}
    for fmt in ("pdf", "svg", "png"):
        out = tmp_path / f"poster.{fmt}"
        result = bot(
            "poster", "spring-harbour", "--output", str(out), "--mode", "tracked", "--paper", "Letter", env=env
        )
        assert result.returncode == 0, result.stderr
        assert zxing(raster(out.read_bytes(), fmt)).text == PUBLIC_BASE_URL + "/q/spring-harbour"
    assert out.read_bytes().startswith(b"\x89PNG")


def test_cli_names_the_missing_footer_field_and_writes_nothing(tmp_path):
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(CAMPAIGNS)  # no frequency
    out = tmp_path / "poster.pdf"
    result = bot("poster", "spring", "--output", str(out), env={"CAMPAIGNS_FILE": str(campaigns)})
    assert result.returncode == 1
    assert "compliance footer needs [program] frequency" in result.stderr
    assert not out.exists()
    bad = bot("poster", "spring", "--output", str(tmp_path / "poster.gif"), env={"CAMPAIGNS_FILE": str(campaigns)})
    assert bad.returncode == 1 and "must end in .png, .svg or .pdf" in bad.stderr


def test_the_shipped_example_file_makes_a_poster(tmp_path):
    out = tmp_path / "poster.png"
    result = bot("poster", "spring", "-o", str(out), env={})
    assert result.returncode == 0, result.stderr
    assert zxing(raster(out.read_bytes(), "png")).text == DIRECT


def pdffonts(pdf: Path) -> list[dict[str, str]]:
    """Poppler's `pdffonts` table (installed by `make test`): one row per font the PDF references."""
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    header, rule, *rows = out.splitlines()
    widths = [len(column) for column in rule.split(" ")]

    def cells(line: str) -> list[str]:  # the columns are as wide as the rule's dashes
        starts = [sum(widths[:n]) + n for n in range(len(widths))]
        return [line[start:start + width].strip() for start, width in zip(starts, widths, strict=True)]

    names = cells(header)
    return [dict(zip(names, cells(row), strict=True)) for row in rows]


def test_the_pdf_embeds_every_font_it_uses(book, tmp_path):
    data, _ = make(book, "spring-main-street", "pdf")
    pdf = tmp_path / "poster.pdf"
    pdf.write_bytes(data)
    fonts = pdffonts(pdf)
    assert sorted(f["name"].split("+")[-1] for f in fonts) == ["BitstreamVeraSans-Bold", "BitstreamVeraSans-Roman"]
    assert all(f["emb"] == "yes" for f in fonts), fonts


def test_cli_reports_a_campaign_with_a_declared_ref_as_the_campaign_it_is(tmp_path):
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(WITH_POSTERS)
    env = {"CAMPAIGNS_FILE": str(campaigns)}
    by_ref = bot("poster", "spring", "--ref", "P7", "-o", str(tmp_path / "p7.svg"), env=env)
    assert by_ref.returncode == 0, by_ref.stderr
    assert by_ref.stdout.startswith(f"{tmp_path / 'p7.svg'}: SVG poster, campaign spring with ref P7, A4, direct;")
    assert "spring-main-street" not in by_ref.stdout
    assert by_ref.stderr == (
        "note: ref P7 is poster spring-main-street's: this poster carries its headline, "
        "and texts carrying the ref are counted for spring-main-street\n"
    )
    by_name = bot("poster", "spring-main-street", "-o", str(tmp_path / "p7.svg"), env=env)
    assert "SVG poster, declared poster spring-main-street (campaign spring, ref P7), A4, direct;" in by_name.stdout
    assert by_name.stderr == ""
    unlisted = bot("poster", "spring", "--ref", "Q9", "-o", str(tmp_path / "q9.svg"), env=env)
    assert "SVG poster, campaign spring with ref Q9, A4, direct;" in unlisted.stdout
    assert "ref Q9 is not declared in [[posters]]" in unlisted.stderr
