"""The SVG logo sanitizer (codex_graphql.org_settings.svg): an allow-list of elements and attributes.

Each escape below is a way a deny-list lets script or an external fetch through; after sanitizing, the
document must contain none of its markers, and a benign logo keeps every element and attribute it had."""

from __future__ import annotations

from xml.etree.ElementTree import fromstring

import pytest

from codex_graphql.errors import DomainError
from codex_graphql.org_settings import logo, svg
from tests.org_settings.test_settings_units import BAD_SVGS, CLEAN_SVG, REFUSED_SVGS

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
ESCAPES = {
    "set href javascript": f'<svg {NS}><a id="x"><text>hi</text><set attributeName="href" to="javascript:alert(1)"/></a></svg>',
    "set xlink:href": f'<svg {NS}><use id="u" xlink:href="#r"><set attributeName="xlink:href" to="data:x"/></use></svg>',
    "animate href values": f'<svg {NS}><a><animate attributeName="href" values="javascript:alert(1)"/></a></svg>',
    "animate onbegin": f'<svg {NS}><rect><animate onbegin="alert(1)" attributeName="x" dur="1s"/></rect></svg>',
    "animateTransform": f'<svg {NS}><rect><animateTransform attributeName="transform" type="rotate"/></rect></svg>',
    "entity-encoded javascript": f'<svg {NS}><a href="java&#x73;cript:alert(1)"><rect/></a></svg>',
    "use data svg": f'<svg {NS}><use href="data:image/svg+xml;base64,PHN2Zz48c2NyaXB0Lz48L3N2Zz4="/></svg>',
    "image data svg": f'<svg {NS}><image href="data:image/svg+xml,&lt;svg onload=alert(1)&gt;"/></svg>',
    "feImage external": f'<svg {NS}><filter id="f"><feImage href="https://evil.example/x.png"/></filter></svg>',
    "handler element": f'<svg {NS}><handler type="application/ecmascript">alert(1)</handler></svg>',
    "iframe": f'<svg {NS}><iframe src="https://evil.example"/></svg>',
    "html namespace script": f'<svg {NS} xmlns:h="http://www.w3.org/1999/xhtml"><h:script>alert(1)</h:script></svg>',
    "cdata script": f'<svg {NS}><script><![CDATA[alert(1)]]></script></svg>',
    "style escape": f'<svg {NS}><style>rect {{ fill: \\75rl(https://evil.example/a) }}</style><rect/></svg>',
    "style expression": f'<svg {NS}><rect style="width: expression(alert(1))"/></svg>',
    "unknown attribute": f'<svg {NS}><rect formaction="javascript:alert(1)" ev:event="click" '
                         'xmlns:ev="http://www.w3.org/2001/xml-events"/></svg>',
    "mixed case handler": f'<svg {NS}><rect OnMouseOver="alert(1)"/></svg>',
    "unnamespaced svg script": '<svg><script>alert(1)</script><rect onload="alert(1)"/></svg>',
    **{name: data.decode() for name, data in BAD_SVGS.items() if name not in REFUSED_SVGS},
}
MARKERS = (b"javascript", b"alert", b"evil.example", b"e.example", b"other.svg", b"<set", b"animate", b"script",
           b"onload", b"onclick", b"onbegin", b"handler", b"iframe", b"foreignObject", b"@import", b"expression",
           b"data:image/svg", b"\\75", b"formaction", b"ev:event", b"xml-stylesheet")


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_escapes_are_removed(case):
    clean = svg.sanitize(ESCAPES[case].encode())
    assert not [m for m in MARKERS if m.lower() in clean.lower()], clean
    assert fromstring(clean).tag == "{http://www.w3.org/2000/svg}svg"
    assert logo.sniff(ESCAPES[case].encode(), "image/svg+xml") == clean  # what the logo flow stores


def _shape(data: bytes) -> list[tuple[str, dict[str, str]]]:
    return [(element.tag, dict(element.attrib)) for element in fromstring(data).iter()]


def test_a_benign_logo_keeps_every_element_and_attribute():
    clean = svg.sanitize(CLEAN_SVG)
    assert _shape(clean) == _shape(CLEAN_SVG)
    assert b".a { fill: url(#g); }" in clean
    assert svg.sanitize(clean) == clean  # stable: sanitizing the stored file changes nothing

    embedded = (f'<svg {NS} viewBox="0 0 4 4"><image width="4" height="4" href="data:image/png;base64,iVBORw0KGgo="/>'
                '<text x="1" y="2" font-family="Inter" font-size="2">Acme</text></svg>').encode()
    assert _shape(svg.sanitize(embedded)) == _shape(embedded)


@pytest.mark.parametrize("case", REFUSED_SVGS)
def test_what_is_not_an_svg_document_is_refused(case):
    with pytest.raises(DomainError) as refused:
        logo.sniff(BAD_SVGS[case], "image/svg+xml")
    assert refused.value.errors[0].field == ["input", "logoKey"]
