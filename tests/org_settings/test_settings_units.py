"""Settings building blocks without a database: palette and contrast on known colors, HTML sanitizing,
logo sniffing and SVG checks, document validation."""

from __future__ import annotations

import pytest
from coloraide import Color

from codex_graphql.errors import DomainError
from codex_graphql.org_settings import logo, models, palette
from codex_graphql.org_settings.sanitize import sanitize_html

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
CLEAN_SVG = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10">
  <defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient>
  <style>.a { fill: url(#g); }</style></defs>
  <rect id="r" class="a" width="10" height="10" fill="url('#g')"/>
  <use xlink:href="#r"/><use href="#r"/>
</svg>"""
# Unsafe parts of these are removed by the allow-list sanitizer (tests/org_settings/test_svg_sanitizer.py); the last three
# are not SVG documents at all and are refused.
BAD_SVGS = {
    "script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "onload": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>',
    "onclick nested": b'<svg xmlns="http://www.w3.org/2000/svg"><g><rect onClick="x()"/></g></svg>',
    "external href": b'<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/x.png"/></svg>',
    "external xlink": b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
                      b'<use xlink:href="other.svg#x"/></svg>',
    "javascript href": b'<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>',
    "foreignObject": b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
    "style url": b'<svg xmlns="http://www.w3.org/2000/svg"><style>rect{fill:url(https://evil.example/a)}</style></svg>',
    "attribute url": b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: url( http://e.example/#a )"/></svg>',
    "import": b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import "https://e.example/x.css";</style></svg>',
    "entity": b'<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
    "stylesheet pi": b'<?xml-stylesheet href="https://e.example/a.css"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    "not svg": b"<html><body>hi</body></html>",
    "not xml": b"just text",
}
REFUSED_SVGS = ("entity", "not svg", "not xml")


# --- palette -------------------------------------------------------------------------------------

def test_contrast_on_known_colors():
    assert palette.contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert palette.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert palette.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # famously just fails AA
    assert palette.contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the lightest grey that passes
    assert palette.contrast("#3b82f6", "#ffffff") == pytest.approx(3.68, abs=0.01)
    assert palette.text_color_for("#777777") == "#000000"
    assert palette.text_color_for("#767676") == "#ffffff"
    assert palette.text_color_for("#3b82f6") == "#000000"  # white is only 3.68:1 on it
    assert palette.text_color_for("#1d4ed8") == "#ffffff"


def test_palette_of_tailwind_blue():
    swatches = palette.generate("#3b82f6")
    assert [s.shade for s in swatches] == [50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950]
    by_shade = {s.shade: s for s in swatches}
    # Shade 500 sits at the primary's own OKLCH lightness: the color maps back onto itself.
    assert by_shade[500].color == "#3b82f6"
    assert by_shade[500].text_color == "#000000"
    assert by_shade[50].text_color == "#000000" and by_shade[950].text_color == "#ffffff"
    hue = Color("#3b82f6").convert("oklch")["hue"]
    lightness = [Color(s.color).convert("oklch")["lightness"] for s in swatches]
    assert lightness == sorted(lightness, reverse=True)  # lightest to darkest
    for swatch in swatches:
        assert swatch.color.startswith("#") and len(swatch.color) == 7
        assert Color(swatch.color).in_gamut("srgb")
        assert abs(Color(swatch.color).convert("oklch")["hue"] - hue) < 6  # hue kept
        assert palette.contrast(swatch.text_color, swatch.color) >= 4.5
        assert swatch.contrast == pytest.approx(palette.contrast(swatch.text_color, swatch.color), abs=0.01)


@pytest.mark.parametrize("primary", ["#000000", "#ffffff", "#ff0000", "#00ff00", "#ffff00", "#808080", "#7c3aed"])
def test_every_palette_passes_aa(primary):
    for swatch in palette.generate(primary):
        assert Color(swatch.color).in_gamut("srgb"), swatch
        assert palette.contrast(swatch.text_color, swatch.color) >= 4.5, swatch


# --- HTML ----------------------------------------------------------------------------------------

def test_html_sanitizer_strips_scripts_and_handlers_keeps_markup():
    dirty = ('<h2 onclick="steal()">Refunds</h2><p>Within <strong>30</strong> <em>days</em>.<script>alert(1)</script></p>'
             '<ul><li>one</li></ul><ol><li>two</li></ol><blockquote>q</blockquote><h3>a</h3><h4>b</h4>'
             '<p>Mail <a href="mailto:help@example.com">us</a> or <a href="https://example.com" onmouseover="x()" '
             'target="_blank">visit</a>.<br><a href="javascript:alert(1)">bad</a><img src=x onerror=alert(1)>'
             '<iframe src="https://evil.example"></iframe><span style="color:red">kept text</span></p>')
    clean = sanitize_html(dirty)
    for gone in ("script", "alert", "onclick", "onmouseover", "onerror", "javascript:", "<img", "<iframe", "style=",
                 "target=", "<span"):
        assert gone not in clean, (gone, clean)
    for kept in ("<h2>Refunds</h2>", "<strong>30</strong>", "<em>days</em>", "<ul><li>one</li></ul>", "<ol><li>two</li></ol>",
                 "<blockquote>q</blockquote>", "<h3>a</h3>", "<h4>b</h4>", "<br>", "kept text",
                 '<a href="https://example.com" rel="noopener noreferrer">visit</a>',
                 '<a href="mailto:help@example.com" rel="noopener noreferrer">us</a>'):
        assert kept in clean, (kept, clean)


# --- logos ---------------------------------------------------------------------------------------

def test_magic_numbers():
    logo.sniff(PNG, "image/png")
    logo.sniff(JPEG, "image/jpeg")
    logo.sniff(WEBP, "image/webp")
    logo.sniff(CLEAN_SVG, "image/svg+xml")
    for data, declared in ((PNG, "image/jpeg"), (JPEG, "image/png"), (b"hello, I am text", "image/png"),
                           (PNG, "image/webp"), (b"RIFF\x00\x00\x00\x00WAVEfmt ", "image/webp"), (PNG, "image/svg+xml")):
        with pytest.raises(DomainError) as refused:
            logo.sniff(data, declared)
        assert refused.value.errors[0].field == ["input", "logoKey"]


@pytest.mark.parametrize("case", REFUSED_SVGS)
def test_unsafe_svgs_refused(case):
    with pytest.raises(DomainError) as refused:
        logo.check_svg(BAD_SVGS[case])
    assert refused.value.errors[0].code.value == "INVALID_INPUT"


def test_logo_upload_plan():
    import uuid

    org = uuid.uuid4()
    key, mime = logo.plan_upload(org, "Logo.JPEG", "image/jpeg", 1000)
    assert mime == "image/jpeg" and logo.key_pattern(org).match(key) and key.endswith(".jpg")
    assert logo.key_pattern(uuid.uuid4()).match(key) is None
    for filename, mime, size, field in (("a.gif", "image/gif", 10, "mimeType"), ("a.png", "image/jpeg", 10, "filename"),
                                        ("a.svg", "image/svg+xml", logo.MAX_LOGO_BYTES + 1, "sizeBytes"),
                                        ("noext", "image/png", 10, "filename")):
        with pytest.raises(DomainError) as refused:
            logo.plan_upload(org, filename, mime, size)
        assert refused.value.errors[0].field == ["input", field]


# --- document ------------------------------------------------------------------------------------

def test_document_validation():
    current = models.read("Acme", "UTC", {})
    updated, errors = models.apply(current, {"primary_color": "#ABC", "contact_email": " Help@Example.COM ",
                                             "currency": "usd", "timezone": "Europe/Paris"})
    assert errors == [] and updated is not None
    assert updated.primary_color == "#aabbcc" and updated.currency == "USD" and updated.timezone == "Europe/Paris"
    assert updated.contact_email == "Help@example.com"
    for changes, field in (({"primary_color": "blue"}, "primaryColor"), ({"primary_color": "#12345"}, "primaryColor"),
                           ({"primary_color": "#gggggg"}, "primaryColor"), ({"timezone": "Mars/Olympus"}, "timezone"),
                           ({"timezone": "localtime"}, "timezone"), ({"timezone": "../etc/passwd"}, "timezone"),
                           ({"contact_email": "nope"}, "contactEmail"), ({"currency": "EUR"}, "currency"),
                           ({"name": "  "}, "name"), ({"name": None}, "name"), ({"refund_policy": "x" * 60_000}, "refundPolicy"),
                           ({"legal_name": "x" * 201}, "legalName")):
        updated, errors = models.apply(current, changes)
        assert updated is None and [e.field for e in errors] == [["input", field]], (changes, errors)
    # A stored document with an unknown value does not break reading.
    assert models.read("Acme", "UTC", {"moderation_level": "WEIRD", "extra": 1}).moderation_level.value == "NONE"
