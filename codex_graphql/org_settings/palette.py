"""A brand palette generated from one primary color, with an accessible text color per shade.

Algorithm (all computed with coloraide):

1. Convert the primary color to OKLCH (perceptual lightness L, chroma C, hue h).
2. For each shade 50, 100, 200, ..., 900, 950 take a fixed target lightness from ``LIGHTNESS``
   (the lightness ramp of a well-balanced UI palette: 0.971 for 50 down to 0.282 for 950; shade 500
   sits at 0.623, so a typical mid-tone primary such as ``#3b82f6`` maps back onto itself).
   Hue and chroma are kept; chroma is scaled down at the extremes (``CHROMA_SCALE``) because very
   light and very dark colors cannot hold much chroma.
3. Gamut-map the result into sRGB with coloraide's CSS Color 4 algorithm (``oklch-chroma``: reduce
   chroma at constant lightness and hue until the color fits), and serialize as ``#rrggbb``.
4. Text color: WCAG 2.x contrast ratio (coloraide ``contrast(method="wcag21")``, i.e.
   (L1 + 0.05) / (L2 + 0.05) on relative luminance). White is used when it reaches
   ``AA_NORMAL`` (4.5, AA for normal text); otherwise black, which then always passes: white fails
   only when the shade's luminance Y > 0.1833, and then black's ratio (Y + 0.05) / 0.05 > 4.67.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from coloraide import Color

SHADES = (50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950)
LIGHTNESS = {50: 0.971, 100: 0.932, 200: 0.882, 300: 0.809, 400: 0.707, 500: 0.623,
             600: 0.546, 700: 0.488, 800: 0.424, 900: 0.379, 950: 0.282}
CHROMA_SCALE = {50: 0.08, 100: 0.18, 200: 0.35, 300: 0.6, 400: 0.88, 500: 1.0,
                600: 1.0, 700: 0.93, 800: 0.8, 900: 0.66, 950: 0.5}
WHITE = "#ffffff"
BLACK = "#000000"
AA_NORMAL = 4.5


@dataclass(frozen=True, slots=True)
class Swatch:
    shade: int
    color: str
    text_color: str
    contrast: float


def contrast(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio between two colors (1 to 21)."""
    return float(Color(foreground).contrast(background, method="wcag21"))


def text_color_for(background: str) -> str:
    """White when it passes AA for normal text on ``background``, else black (which then passes)."""
    return WHITE if contrast(WHITE, background) >= AA_NORMAL else BLACK


def shade_color(primary: str, shade: int) -> str:
    base = Color(primary).convert("oklch")
    chroma = base["chroma"] if base["chroma"] == base["chroma"] else 0.0  # NaN for achromatic colors
    hue = base["hue"] if base["hue"] == base["hue"] else 0.0
    target = Color("oklch", [LIGHTNESS[shade], chroma * CHROMA_SCALE[shade], hue])
    fitted = target.fit("srgb", method="oklch-chroma").convert("srgb")
    return str(fitted.to_string(hex=True))


# A pure function of the color costing about 7 ms (coloraide): remembered for the colors in use.
@lru_cache(maxsize=1024)
def generate(primary: str) -> tuple[Swatch, ...]:
    """Shades 50 to 950 of ``primary`` (a ``#rrggbb`` color), each with its text color and ratio."""
    swatches = []
    for shade in SHADES:
        color = shade_color(primary, shade)
        text = text_color_for(color)
        swatches.append(Swatch(shade=shade, color=color, text_color=text, contrast=round(contrast(text, color), 2)))
    return tuple(swatches)
