"""SVG logos, sanitized by an allow-list: what is not named here is removed, whatever new trick it uses.

No maintained Python library sanitizes SVG (nh3/ammonia is HTML-only and drops SVG's case-sensitive names),
so this is a small allow-list over the parse from defusedxml (no DTDs, entities or external references):

- elements: static drawing only (shapes, text, gradients, patterns, clip paths, masks, markers, filters,
  ``use``, ``image`` of an embedded raster). Everything else is dropped with its children: ``script``,
  ``foreignObject``, ``a``, ``iframe``, every animation element (``set``, ``animate``... can rewrite any
  attribute, ``href`` included, after the check), unknown and non-SVG elements;
- attributes: geometry and presentation names only (no ``on*`` handler is on the list); ``href`` and
  ``xlink:href`` only to a fragment of this document (``#id``), or on ``image`` to a ``data:`` PNG, JPEG,
  GIF or WebP; any value with ``url(...)`` not pointing at ``#id``, or with ``javascript:``, ``expression(``
  or an escape, is dropped;
- ``<style>``: kept only when its CSS has no ``@import``, no escapes, no external ``url(...)``;
- comments and processing instructions (``<?xml-stylesheet?>``) are not carried over.

``sanitize`` returns the serialization of what is left (so the stored bytes are exactly what was checked);
it refuses (``UnsafeSvg``) only what is not an SVG document at all.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError, SubElement, register_namespace, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
register_namespace("", SVG_NS)
register_namespace("xlink", XLINK_NS)

ELEMENTS = frozenset({
    "svg", "g", "defs", "title", "desc", "symbol", "use", "switch", "style",
    "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
    "text", "tspan", "textPath",
    "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask", "marker", "image",
    "filter", "feBlend", "feColorMatrix", "feComponentTransfer", "feComposite", "feDropShadow", "feFlood",
    "feFuncA", "feFuncB", "feFuncG", "feFuncR", "feGaussianBlur", "feMerge", "feMergeNode", "feMorphology",
    "feOffset",
})
ATTRIBUTES = frozenset({
    "id", "class", "style", "lang", "transform", "viewBox", "preserveAspectRatio", "version", "baseProfile",
    "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "fr", "width", "height",
    "d", "points", "pathLength", "dx", "dy", "rotate", "textLength", "lengthAdjust", "startOffset",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin",
    "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "stroke-opacity", "opacity", "color",
    "display", "visibility", "overflow", "clip", "clip-path", "clip-rule", "mask", "filter", "vector-effect",
    "shape-rendering", "text-rendering", "color-interpolation", "color-interpolation-filters", "paint-order",
    "mix-blend-mode", "isolation",
    "font-family", "font-size", "font-weight", "font-style", "font-variant", "font-stretch", "text-anchor",
    "dominant-baseline", "alignment-baseline", "baseline-shift", "letter-spacing", "word-spacing",
    "text-decoration", "writing-mode", "direction", "unicode-bidi",
    "gradientUnits", "gradientTransform", "spreadMethod", "offset", "stop-color", "stop-opacity",
    "patternUnits", "patternContentUnits", "patternTransform", "clipPathUnits", "maskUnits", "maskContentUnits",
    "marker-start", "marker-mid", "marker-end", "markerWidth", "markerHeight", "markerUnits", "refX", "refY",
    "orient", "filterUnits", "primitiveUnits", "in", "in2", "result", "stdDeviation", "mode", "values", "type",
    "operator", "k1", "k2", "k3", "k4", "flood-color", "flood-opacity", "radius", "tableValues", "slope",
    "intercept", "amplitude", "exponent", "media",
    "href", f"{{{XLINK_NS}}}href", f"{{{XML_NS}}}space", f"{{{XML_NS}}}lang", f"{{{XLINK_NS}}}title",
})
HREFS = frozenset({"href", f"{{{XLINK_NS}}}href"})
_LOCAL_FRAGMENT = re.compile(r"^#[A-Za-z_][\w.\-]*$")
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")
_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_BAD_CSS = re.compile(r"@import|\\|javascript:|expression\s*\(|behavior\s*:|-moz-binding|image-set\(|src\(",
                      re.IGNORECASE)


class UnsafeSvg(ValueError):
    """The bytes are not an SVG document this sanitizer can parse."""


def _name(tag: str) -> str | None:
    """The SVG element's local name, or None for an element outside the SVG namespace."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return local if namespace == SVG_NS else None
    return tag


def safe_css(text: str) -> bool:
    """No imports, escapes or scripting, and every ``url(...)`` points at ``#id`` in this document."""
    if _BAD_CSS.search(text):
        return False
    return all(_LOCAL_FRAGMENT.match(match.group(2).strip()) for match in _URL.finditer(text)) and \
        text.lower().count("url(") == len(_URL.findall(text))


def _safe_attribute(element: str, name: str, value: str) -> bool:
    if name not in ATTRIBUTES:
        return False
    if name in HREFS:
        value = value.strip()
        return bool(_LOCAL_FRAGMENT.match(value) or (element == "image" and _DATA_IMAGE.match(value)))
    return safe_css(value)


def _copy(source: Element, target: Element) -> None:
    for child in source:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        name = _name(child.tag)
        if name is None or name not in ELEMENTS:
            continue  # dropped with everything inside it
        text = child.text or ""
        if name == "style" and not safe_css(text):
            continue
        kept = SubElement(target, f"{{{SVG_NS}}}{name}",
                          {key: value for key, value in child.attrib.items() if _safe_attribute(name, key, value)})
        kept.text = child.text
        kept.tail = child.tail
        _copy(child, kept)


def sanitize(data: bytes) -> bytes:
    """The allow-listed part of an SVG document, serialized; UnsafeSvg when it is not an SVG document."""
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise UnsafeSvg("The file is not a well-formed SVG image (DTDs and entities are not allowed).") from None
    if not isinstance(root.tag, str) or _name(root.tag) != "svg":
        raise UnsafeSvg("The file is not an SVG image.")
    clean = Element(f"{{{SVG_NS}}}svg", {key: value for key, value in root.attrib.items()
                                          if _safe_attribute("svg", key, value)})
    clean.text = root.text
    _copy(root, clean)
    return tostring(clean, encoding="utf-8", xml_declaration=True)
