"""SVG from tracedoc's own drawings (ladder, plots), checked before it goes
into a page unescaped.

The producers escape every text they take from a trace; this is the second
line: the SVG must parse as XML and hold only drawing elements, no
``<script>``, no ``<foreignObject>``, no event-handler attributes, no links
other than to fragments of itself.  Anything else is refused, and the page
says so instead of showing it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from markupsafe import Markup

_ALLOWED = {
    "svg", "g", "defs", "title", "desc", "text", "tspan", "line", "polyline", "polygon", "path", "rect",
    "circle", "ellipse", "marker", "clipPath", "linearGradient", "radialGradient", "stop", "pattern", "symbol",
    "use", "metadata", "style", "mask",
}
_URL = re.compile(r"url\(\s*(['\"]?)([^)'\"]*)\1\s*\)", re.I)
_DECL = re.compile(r"^\s*<\?xml[^>]*\?>\s*")
_DOCTYPE = re.compile(r"<!DOCTYPE", re.I)


ET.register_namespace("", "http://www.w3.org/2000/svg")
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")


class UnsafeSvg(ValueError):
    """SVG that is not only a drawing."""


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _check_urls(value: str) -> None:
    for m in _URL.finditer(value):
        if not m.group(2).strip().startswith("#"):
            raise UnsafeSvg(f"external reference {m.group(2)!r}")
    if re.search(r"(?i)(javascript|vbscript|data)\s*:", value) or "@import" in value or "expression(" in value:
        raise UnsafeSvg("script or external resource in an attribute or style")


def checked(svg: str) -> Markup:
    """``svg`` (without its XML declaration) ready to be put in a page as is;
    :class:`UnsafeSvg` when it holds anything but a drawing."""
    body = _DECL.sub("", svg, count=1)
    if _DOCTYPE.search(body):
        raise UnsafeSvg("a DOCTYPE (entities) in SVG")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise UnsafeSvg(f"not well-formed XML: {e}") from None
    if _local(root.tag) != "svg":
        raise UnsafeSvg(f"the root element is <{_local(root.tag)}>, not <svg>")
    for el in root.iter():
        tag = _local(str(el.tag))
        if tag not in _ALLOWED:
            raise UnsafeSvg(f"element <{tag}> is not allowed")
        if tag == "style":
            _check_urls(el.text or "")
        for k, v in el.attrib.items():
            name = _local(k).lower()
            if name.startswith("on"):
                raise UnsafeSvg(f"event handler attribute {name}")
            if name == "href" and not v.strip().startswith("#"):
                raise UnsafeSvg(f"link to {v!r}")
            _check_urls(v)
    # Written out again from the parsed tree, not passed through: comments
    # and processing instructions (which an HTML parser ends at the first
    # ">") are gone, and every text and attribute is escaped anew.
    return Markup(ET.tostring(root, encoding="unicode"))  # noqa: S704 - checked above
